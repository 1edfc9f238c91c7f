"""What the SMPP server needs of what it stands in front of (a gateway, or a fleet), and the two.

Only public objects of each are used: a gateway's send engine and inbox, a fleet's dispatcher,
task control and merged inbox.  Outcomes do not come through here: SMPP tasks carry an
``sr_url`` the process's push transport hands to the server (``local.py``), so they travel the
device's own durable report path.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..protocol.codes import TaskStatus
from ..protocol.sms import SendSmsRequest

if TYPE_CHECKING:
    from ..fleet.engine.runtime import Fleet
    from ..gateway.runtime import Gateway

SMS = 0  # the flag of a received SMS in an inbox row (1: a delivery report)


@dataclass(frozen=True, slots=True)
class Received:
    """An inbox row: ``flag`` 0 for an SMS (``text`` decoded), 1 for a delivery report."""

    flag: int
    port: str
    ts: float
    sender: str
    recipient: str
    text: str


class SmppDevice(Protocol):
    async def accept(self, request: SendSmsRequest) -> list[tuple[Any, TaskStatus]]:
        """Tasks committed (acknowledged) or refused, a status each, in order."""
        ...

    async def holds(self, tids: list[int]) -> set[int]:
        """Which of these tasks it has (open, or finished and kept)."""
        ...

    async def cancel(self, tid: int) -> bool:
        """Remove a task; True if none of it was in a module yet."""
        ...

    async def inbox(self, first: int, limit: int) -> tuple[list[Received], int]:
        """Inbox rows from id ``first`` (at most ``limit``), and the next id to ask for."""
        ...

    def on_received(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` when something may have come into the inbox."""
        ...


def _text(content: str) -> str:
    try:
        return base64.b64decode(content, validate=True).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return content


class GatewayDevice:
    def __init__(self, gateway: Gateway) -> None:
        self._gw = gateway

    async def accept(self, request: SendSmsRequest) -> list[tuple[Any, TaskStatus]]:
        return [(r[0], r[1]) for r in await self._gw.sending.accept(request)]

    async def holds(self, tids: list[int]) -> set[int]:
        held = {tid for tid in tids if self._gw.sending.task(tid) is not None}
        rest = [tid for tid in tids if tid not in held]
        if rest:
            held |= {rec.tid for rec in await self._gw.store.tasks_closed(rest)}
        return held

    async def cancel(self, tid: int) -> bool:
        view = self._gw.sending.task(tid)
        if view is None or view.sending or view.sent or view.failed:
            return False
        await self._gw.sending.remove([tid])
        return True

    async def inbox(self, first: int, limit: int) -> tuple[list[Received], int]:
        records, next_id = await self._gw.inbox.page(first, limit, False)
        rows = [Received(r.flag, r.port, r.ts, r.sender, r.recipient, _text(r.content)) for r in records]
        return rows, next_id

    def on_received(self, wake: Callable[[], None]) -> None:
        self._gw.inbox.observers.append(lambda record: wake())


class FleetDevice:
    """A fleet: it cannot tell whether a member's module took a task already, so a cancel of an
    open task is answered OK and its receipt says what happened."""

    PULL_EVERY = 2.0  # seconds: members' inboxes are read no more often (as goip_get_sms reads them)

    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet
        self._pulled = float("-inf")

    async def accept(self, request: SendSmsRequest) -> list[tuple[Any, TaskStatus]]:
        return [(r[0], r[1]) for r in await self._fleet.dispatcher.accept(request)]

    async def holds(self, tids: list[int]) -> set[int]:
        return {tid for tid, task_id in await self._fleet.ledger.find(list(tids)) if task_id is not None}

    async def cancel(self, tid: int) -> bool:
        results = await self._fleet.control.change("remove", [tid])
        return bool(results) and results[0][1] == TaskStatus.OK

    async def inbox(self, first: int, limit: int) -> tuple[list[Received], int]:
        fleet = self._fleet
        if fleet.clock.time() - self._pulled >= self.PULL_EVERY:
            # what members hold and did not push (not subscribed yet, or a push lost): as goip_get_sms
            from ..fleet.api.inbox import take_new

            self._pulled = fleet.clock.time()
            await asyncio.gather(*(take_new(fleet, link, fleet.ports) for link in fleet.links.values() if link.up))
        rows, next_id = await fleet.ledger.inbox_page(first, limit, False)
        out = []
        for r in rows:
            if len(r) >= 6:
                out.append(Received(int(r[0]), str(r[1]), float(r[2]), str(r[3]), str(r[4]), _text(str(r[5]))))
            else:
                out.append(Received(-1, "", 0.0, "", "", ""))  # not an SMS row: skipped, its id counted
        return out, next_id

    def on_received(self, wake: Callable[[], None]) -> None:
        pass  # the server polls (an SMS may come in through any replica)
