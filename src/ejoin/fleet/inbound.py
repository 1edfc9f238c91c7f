"""Received SMS pushed both ways (spec 7.2): members push theirs to the fleet, the fleet to the platform.

Each member is given ``sms_url`` (a URL of its own on the fleet, the ledger's secret in the path,
``sms_cnt`` 1) whenever the fleet subscribes it to its status.  What it pushes goes into the merged
inbox (fleet ids, fleet ports) unless the inbox pull took that SMS already, and the reverse: the
ledger matches the two by the row.  Every SMS new to the fleet, by either way, is pushed once to
the platform's ``sms_url`` (kept in the ledger, set as on a device: ``goip_send_cmd op=set`` or a
send request's ``sms_url``) as a ``recv-sms``, through the durable outbox; it is marked forwarded
only once the outbox holds it, and what was never handed over is pushed at the next start.
"""

from __future__ import annotations

import logging
from typing import Any

from ..gateway.outbox import Outbox
from ..gateway.receiving import RecvSms
from ..protocol.messages import encode
from .members import MemberLink
from .numbering import PortMap
from .store import Ledger

log = logging.getLogger(__name__)


class InboundPushes:
    def __init__(self, ledger: Ledger, outbox: Outbox, ports: PortMap) -> None:
        self._ledger = ledger
        self._outbox = outbox
        self._ports = ports
        self.url = ""
        self._waiting: set[int] = set()  # SMS seen taken in and not handed over at the last sweep

    async def start(self, replicas: bool = False) -> None:
        """One process: what it took in and never handed over (a crash between) is pushed now.  With
        replicas another one may be handing those over at this moment: the sweeps decide (``sweep``)."""
        self.url = await self._ledger.setting("sms_url") or ""
        if not replicas:
            await self.forward(await self._ledger.inbox_unforwarded())

    async def sweep(self) -> None:
        """Replicas (by one of them, every third of a lease): an SMS taken in and not handed over to the
        outbox at two sweeps in a row was left so by a replica that died between the two (handing over
        takes milliseconds): it is pushed now."""
        unforwarded = await self._ledger.inbox_unforwarded()
        left = [(i, row) for i, row in unforwarded if i in self._waiting]
        self._waiting = {i for i, _ in unforwarded} - {i for i, _ in left}
        await self.forward(left)

    async def set_url(self, url: str) -> None:
        if url != self.url:
            self.url = url
            await self._ledger.set_setting("sms_url", url)

    async def member_push(self, link: MemberLink, body: Any) -> None:
        rows = body.get("sms") if isinstance(body, dict) and body.get("type") == "recv-sms" else None
        if not isinstance(rows, list):
            return
        renamed = [
            [r[0], self._ports.rename(link.config, str(r[1])), *r[2:]]
            for r in rows
            if isinstance(r, list) and len(r) >= 2
        ]
        await self.forward(await self._ledger.inbox_pushed(link.name, renamed))

    async def forward(self, new: list[tuple[int, list[Any]]]) -> None:
        """SMS new to the fleet, to the platform (at once: one push per batch taken in)."""
        if not new:
            return
        # the ledger's URL, not this process's: with replicas the platform may have set it on another
        self.url = await self._ledger.setting("sms_url") or ""
        if self.url:
            rows = [row for _, row in new]
            await self._outbox.push(self.url, "recv-sms", encode(RecvSms(type="recv-sms", sms_num=len(rows), sms=rows)))
        await self._ledger.inbox_forwarded([i for i, _ in new])
