"""Status pushes, both ways (spec 4): members push theirs to the fleet, the fleet pushes its own.

Each member is subscribed (``goip_get_status?url=…&period=…``) to a URL of its own on the fleet
(the store's secret in the path, as for its reports) whenever the fleet finds it answering after
it was down or never reached; polls go on as the fallback.  What a member pushes (or a poll finds)
updates the fleet's view of it; every fleet port whose entry changed by that (a member's slot, or
all of a member's ports turning 16 when it stops answering) is pushed to the platform's status
URL as a device pushes port-status, renumbered; the platform's URL and period are kept in the
ledger and give it a dev-status at once and every period, as a device's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import msgspec

from ...clock import Clock, Timer
from ...gateway.outbox import Outbox
from ...gateway.settings import DEFAULTS
from ...gateway.status import MIN_PERIOD
from ...protocol.messages import DevStatus, PortStatusEntry, PortStatusPush, encode
from ..ledger import Ledger
from .members import MemberLink, refresh_all
from .numbering import PortMap
from .status import member_entries

log = logging.getLogger(__name__)

MEMBER_PERIOD = MIN_PERIOD  # the dev-status period asked of members (their pushes prove them alive)
_NOT_A_CHANGE = ("seq", "sig")  # a device pushes port-status for changes of a slot, not of its signal


def _view(link: MemberLink, ports: PortMap) -> dict[str, PortStatusEntry]:
    return {e.port: e for e in member_entries(link, ports)}


def _differs(a: PortStatusEntry, b: PortStatusEntry) -> bool:
    x, y = msgspec.structs.asdict(a), msgspec.structs.asdict(b)
    return any(x[k] != y[k] for k in x if k not in _NOT_A_CHANGE)


def merge_port_status(status: dict[str, Any], push: dict[str, Any]) -> None:
    """A member's port-status push folded into its last dev-status: the entry of that slot, or of the
    port when the push names its newly active slot."""
    entries = status.setdefault("status", [])
    fields = {k: v for k, v in push.items() if k not in ("type", "status", "tot_dur", "mon_dur", "day_dur")}
    name = str(push.get("port", ""))
    for i, e in enumerate(entries):
        if isinstance(e, dict) and e.get("port") == name:
            entries[i] = {**e, **fields}
            return
    if push.get("active") == 1:
        number = name.split(".")[0]
        for i, e in enumerate(entries):
            if isinstance(e, dict) and str(e.get("port", "")).split(".")[0] == number:
                entries[i] = {**e, **fields}
                return
        entries.append(fields)


class StatusPusher:
    """With replicas (PostgreSQL), a port's change may be seen by each of them (each polls; a member's
    push lands on one): each records what it sees in the ledger (``ports_changed``), and only the one
    whose record changed the port's pushes it.  The periodic dev-status is pushed by the replica that
    holds the ``status`` role (``leading``, a lease in the database, taken over when its holder dies)."""

    def __init__(
        self, ledger: Ledger, outbox: Outbox, clock: Clock, ports: PortMap, dev_status: Callable[[int], DevStatus]
    ) -> None:
        self._ledger = ledger
        self._outbox = outbox
        self._clock = clock
        self._ports = ports
        self._dev_status = dev_status  # the fleet's dev-status, given its period (expires)
        self.url = ""
        self.period = 0
        self.leading = True  # one process pushes; replicas: the holder of the status role
        self._timer: Timer | None = None
        # told each fleet port whose entry this process sees change (the dashboard's live rows)
        self.watchers: list[Callable[[int], None]] = []

    async def start(self) -> None:
        await self.load()
        self._schedule()

    async def load(self) -> None:
        """The platform's URL and period as the ledger has them (another replica may have set them)."""
        url = await self._ledger.setting("status_url") or ""
        # as a device's default status_period: a URL given alone gets a dev-status every minute
        period = int(await self._ledger.setting("status_period") or DEFAULTS["status_period"])
        if (url, period) != (self.url, self.period):
            self.url, self.period = url, period
            self._schedule()

    @property
    def periodic(self) -> bool:
        """Whether a dev-status push is due every ``period`` seconds."""
        return self._timer is not None

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def dev_status(self) -> DevStatus:
        return self._dev_status(self.period)

    async def configure(self, url: str | None, period: int | None) -> None:
        """goip_get_status's ``url`` (kept; a dev-status at once) and ``period`` (0: no periodic push)."""
        if url is not None:
            self.url = url
            await self._ledger.set_setting("status_url", url)
        if period is not None:
            self.period = 0 if period <= 0 else max(MIN_PERIOD, period)
            await self._ledger.set_setting("status_period", str(self.period))
        self._schedule()
        if url:
            self._push_dev_status()  # the answer to this request: by the replica that took it

    def _schedule(self) -> None:
        self.stop()
        if self.period > 0 and self.url:
            self._timer = self._clock.call_later(self.period, self._tick)

    def _tick(self) -> None:
        self._timer = None
        if self.leading:
            self._push_dev_status()
        self._schedule()

    def _push_dev_status(self) -> None:
        if self.url:
            self._outbox.push(self.url, "dev-status", encode(self.dev_status()))

    async def refresh(self, links: list[MemberLink]) -> None:
        """Poll members; what changed is pushed."""
        before = {link.name: _view(link, self._ports) for link in links}
        await refresh_all(links)
        await self._changed([(link, before[link.name]) for link in links])

    async def member_push(self, link: MemberLink, body: Any) -> None:
        """A dev-status or port-status the member pushed to the fleet."""
        if not isinstance(body, dict):
            return
        before = _view(link, self._ports)
        if body.get("type") == "dev-status" and isinstance(body.get("status"), list):
            link.heard(body)
        elif body.get("type") == "port-status" and link.status is not None:
            merge_port_status(link.status, body)
            link.heard(link.status)
        else:
            return
        await self._changed([(link, before)])

    async def _changed(self, seen: list[tuple[MemberLink, dict[str, PortStatusEntry]]]) -> None:
        changed: dict[str, PortStatusEntry] = {}
        record: dict[str, str] = {}
        for link, before in seen:
            for port, entry in _view(link, self._ports).items():
                old = before.get(port)
                # first seen (a member's ports are news, not changes) or changed: recorded, so the
                # ledger's record is what is true now when the next change comes
                if old is None or _differs(old, entry):
                    record[port] = _key(entry)
                    if old is not None:
                        changed[port] = entry
        if not record:
            return
        for number in sorted({int(name.split(".", 1)[0]) for name in record}):
            for watcher in self.watchers:
                watcher(number)
        mine = await self._ledger.ports_changed(record)
        if not changed:
            return
        await self.load()
        for port, entry in changed.items():
            if port in mine and self.url:
                self._outbox.push(self.url, "port-status", encode(PortStatusPush.of(entry)))


def _key(entry: PortStatusEntry) -> str:
    """What a port-status push tells of an entry (not its signal): the same for every replica seeing it."""
    fields = msgspec.structs.asdict(entry)
    return msgspec.json.encode({k: v for k, v in sorted(fields.items()) if k not in _NOT_A_CHANGE}).decode()
