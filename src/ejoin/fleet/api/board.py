"""The fleet as the dashboard shows it (``web/dashboard/board.py``'s ``Board``): its members' ports in
fleet numbers as one matrix, its tasks with their share per member, its merged inbox, its pushes.

Where each figure comes from:
- ports: each member's entries (its last status, as pushed or polled: the active slots), and every
  slot as each member answers ``all_slots=1``, asked at most every ``SLOTS_EVERY`` seconds;
- today's counts per port and the day's totals: the members' own statistics (``goip_get_sms_stat``,
  type 2, from their midnight), asked at most every ``TODAY_EVERY`` seconds;
- the chart and failure reasons: what went through this process since it started (engine/activity);
- tasks, their units and shares, the inbox, the queue: the ledger, the whole fleet's.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from ...credentials import open_door
from ...gateway import commands
from ...gateway.activity import TaskSummary
from ...protocol.codes import ResultCode, port_state_label
from ...protocol.messages import CommandRequest, PortStatusEntry
from ...protocol.operations import GET_SMS_STAT
from ...protocol.ports import DeviceSize
from ...store.base import InboxRecord
from ...web.dashboard.board import (
    STATE_CLASSES,
    Minute,
    Overview,
    PortView,
    PushLine,
    RecipientRow,
    Refused,
    Share,
    SlotView,
    state_class,
)
from ...web.dashboard.queue import push_lines
from ..engine.commands import route
from ..engine.members import MemberDown, MemberLink
from ..engine.runtime import Fleet
from ..engine.status import every_slot, member_entries
from ..ledger import Counts, Hold, TaskRow, UnitState
from .inbox import take_new

SLOTS_EVERY = 5.0  # seconds members' answers with every slot are kept for the ports page
TODAY_EVERY = 10.0  # seconds members' statistics of the day are kept
RECENT_TASKS = 200  # tasks listed: open ones and the newest finished the ledger still keeps
INBOX_NEWEST = 20_000  # SMS of the merged inbox the inbox page searches, newest first
_UNIT_STATES = {
    UnitState.PENDING: "waiting",
    UnitState.DISPATCHED: "with a member",
    UnitState.SENT: "sent",
    UnitState.FAILED: "failed",
}


def _slot_number(name: str) -> int:
    _, _, slot = name.partition(".")
    return int(slot) if slot.isdigit() else 1


@functools.cache
def _state_text(st: int) -> str:
    """The text of a state code ("Registered" for 3; the code itself outside the table), once per code."""
    return port_state_label(st).partition(" ")[2] or str(st)


def slot_view(entry: PortStatusEntry) -> SlotView:
    return SlotView(
        name=entry.port,
        number=_slot_number(entry.port),
        state=entry.st,
        state_text=_state_text(entry.st),
        active=bool(entry.active),
        present=bool(entry.inserted),
        locked=not entry.slot_active,
        iccid=entry.iccid,
        imsi=entry.imsi,
        sim_number=entry.sn,
        operator=entry.opr,
        balance=entry.bal,
    )


class _Kept:
    """A value read at most every ``every`` seconds (monotonic: the members' time, not the fleet's clock)."""

    def __init__(self, every: float, read: Callable[[], Awaitable[Any]]) -> None:
        self._every = every
        self._read = read
        self._at: float | None = None
        self._value: Any = None
        self._lock = asyncio.Lock()

    async def get(self, fresh: bool = False) -> Any:
        async with self._lock:  # pages opened together share one read
            now = time.monotonic()
            if self._at is None or now - self._at >= (0.0 if fresh else self._every):
                self._value, self._at = await self._read(), now
            return self._value

    def stale(self) -> None:
        """Read again at the next ``get``: what it holds changed."""
        self._at = None


class FleetBoard:
    kind = "fleet"
    pages = (
        ("overview", "Overview"),
        ("members", "Members"),
        ("ports", "Ports"),
        ("tasks", "Tasks"),
        ("inbox", "Inbox"),
        ("pushes", "Pushes"),
    )

    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet
        self._slots = _Kept(SLOTS_EVERY, self._read_slots)
        self._today = _Kept(TODAY_EVERY, self._read_today)
        # an SMS done or taken in: the members' counts of the day are asked again when next shown
        fleet.traffic.listeners.append(lambda port: self._today.stale())
        fleet.status_push.watchers.append(lambda port: self._slots.stale())  # a slot changed

    @property
    def size(self) -> DeviceSize:
        links = self._fleet.links.values()
        slots = max((int((link.status or {}).get("max-slot", 1) or 1) for link in links), default=1)
        return DeviceSize(self._fleet.size.ports, min(slots, self._fleet.config.slots))

    @property
    def open_door(self) -> str | None:
        c = self._fleet.config
        return open_door(c.host, c.username, c.password)

    def _links(self) -> list[MemberLink]:
        return sorted(self._fleet.links.values(), key=lambda link: link.config.first)

    # --- ports ---------------------------------------------------------------------

    async def _read_slots(self) -> dict[str, list[PortStatusEntry]]:
        """Each member's every slot in fleet numbers, read once per answer (not once per page)."""
        links = {link.name: link for link in self._links() if link.up}
        answers = await every_slot(list(links.values()), "all_slots")
        return {
            name: member_entries(links[name], self._fleet.ports, answer)
            for name, answer in answers.items()
            if name in links
        }

    async def _read_today(self) -> dict[int, tuple[int, int, int]]:
        """Per fleet port: SMS sent, failed and received since the member's midnight (every slot)."""

        async def ask(link: MemberLink) -> list[tuple[int, int, int, int]]:
            m = link.config
            params = {"ports": f"1-{m.count}", "slots": "all", "type": "2"}
            try:
                answer = await link.call(GET_SMS_STAT.path, params=params)
            except MemberDown:
                return []
            rows = answer.get("stats") if isinstance(answer, dict) else None
            out = []
            for row in rows if isinstance(rows, list) else []:
                if isinstance(row, dict) and isinstance(row.get("port"), int) and 1 <= row["port"] <= m.count:
                    counts = (
                        int(row.get("sent_ok") or 0),
                        int(row.get("sent_failed") or 0),
                        int(row.get("received") or 0),
                    )
                    out.append((m.first + row["port"] - 1, *counts))
            return out

        today: dict[int, tuple[int, int, int]] = {}
        for rows in await asyncio.gather(*(ask(link) for link in self._links() if link.up)):
            for port, sent, failed, received in rows:
                s, f, r = today.get(port, (0, 0, 0))
                today[port] = (s + sent, f + failed, r + received)
        return today

    def _entries(self, link: MemberLink, every: dict[str, list[PortStatusEntry]]) -> dict[int, list[PortStatusEntry]]:
        """The member's slots per fleet port: every slot it answered, its active slots as last heard
        (pushed or polled: newer than the answer with every slot)."""
        fleet = self._fleet
        by_port: dict[int, dict[str, PortStatusEntry]] = {}
        answered = every.get(link.name, []) if link.up else []
        for entry in answered + member_entries(link, fleet.ports):
            number = int(entry.port.partition(".")[0])
            slots = by_port.setdefault(number, {})
            if entry.active:  # the active slot as last heard; the one it replaces is not active any more
                for name, old in list(slots.items()):
                    if old.active and name != entry.port:
                        slots[name] = msgspec.structs.replace(old, active=0)
            slots[entry.port] = entry
        return {n: sorted(s.values(), key=lambda e: _slot_number(e.port)) for n, s in by_port.items()}

    def _view(self, link: MemberLink, number: int, slots: list[PortStatusEntry], today: dict[int, Any]) -> PortView:
        active = next((e for e in slots if e.active), slots[0])
        sent, failed, _ = today.get(number, (0, 0, 0))
        served = f"member {link.name}"
        if not link.up:
            served += f", down: {link.problem.words if link.problem else 'not reached yet'}"
        return PortView(
            number=number,
            active_slot=_slot_number(active.port),
            state=active.st,
            state_text=_state_text(active.st),
            ok=active.st in (3, 4),
            signal=active.sig,
            led=bool(active.led),
            served_by=served,
            sent_today=sent,
            failed_today=failed,
            slots=tuple(slot_view(e) for e in slots),
        )

    async def ports(self, numbers: list[int] | None = None) -> list[PortView]:
        every = await self._slots.get()
        today = await self._today.get()
        wanted = None if numbers is None else set(numbers)
        views = []
        for link in self._links():
            for number, slots in sorted(self._entries(link, every).items()):
                if slots and (wanted is None or number in wanted):
                    views.append(self._view(link, number, slots, today))
        return views

    async def port(self, number: int) -> PortView | None:
        found = await self.ports([number])
        return found[0] if found else None

    def watch(self, changed: Callable[[int], None]) -> None:
        self._fleet.status_push.watchers.append(changed)
        self._fleet.traffic.listeners.append(changed)

    async def command(self, op: str, ports: str) -> int:
        try:
            steps = commands.plan(CommandRequest(op=op, ports=ports), self._fleet.size)
        except commands.CommandError as exc:
            raise Refused(exc.reason) from None
        reply = await route(self._fleet, steps)
        if reply.code != ResultCode.OK:
            raise Refused(reply.reason)
        self._slots.stale()  # its slots asked again at the next page
        return steps[0].ports[0].port if steps and steps[0].ports else 1

    # --- overview and pushes --------------------------------------------------------

    async def overview(self) -> Overview:
        fleet = self._fleet
        now = fleet.clock.time()
        local = dt.datetime.fromtimestamp(now).astimezone()
        day = int(local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() // 60)
        today = await self._today.get()
        sent = sum(t[0] for t in today.values())
        failed = sum(t[1] for t in today.values())
        received = sum(t[2] for t in today.values())
        last = int(now // 60)
        per_minute = fleet.traffic.per_minute
        minutes = tuple(Minute(m * 60, *per_minute.get(m, (0, 0, 0))) for m in range(last - 59, last + 1))
        failures = fleet.traffic.failures_since(day)
        classes: dict[str, int] = {}
        ports = 0
        for link in self._links():
            for entry in member_entries(link, fleet.ports):
                key = state_class(entry.st).key
                classes[key] = classes.get(key, 0) + 1
                ports += 1
        figures = await fleet.figures()
        open_ids = [t for t in fleet.first_seen if t in fleet.owned]
        oldest = min((fleet.first_seen[t] for t in open_ids), default=None)
        note = ""
        if fleet.replicas > 1:
            note = (
                f"Per minute: what this replica recorded (one of {fleet.replicas}; "
                "members' reports reach any of them), since it started."
            )
        return Overview(
            now=now,
            day_start=day * 60,
            started=fleet.traffic.started,
            sent=sent,
            failed=failed,
            received=received,
            failures=tuple(failures.items()),
            failures_unexplained=max(0, failed - sum(failures.values())),
            minutes=minutes,
            port_states=tuple((c, classes.get(c.key, 0)) for c in STATE_CLASSES),
            ports=ports,
            queue_unsent=figures.units.get("pending", 0) + figures.units.get("dispatched", 0),
            queue_tasks=figures.tasks_open,
            queue_oldest=0.0 if oldest is None else max(0.0, now - oldest),
            pushes=tuple(await self.pushes()),
            chart_note=note,
        )

    async def pushes(self) -> list[PushLine]:
        return await push_lines(self._fleet)

    # --- tasks ---------------------------------------------------------------------

    @staticmethod
    def _summary(row: TaskRow, counts: Counts) -> TaskSummary:
        lanes = row.task.get("fleet_lanes") or [[]]
        ports = sorted({str(p) for lane in lanes for p in lane})
        if row.hold == Hold.REMOVED:
            state = "removed"
        elif row.finished:
            state = "finished"
        else:
            state = "paused" if row.hold == Hold.PAUSED else "queued"
        return TaskSummary(
            id=row.id,
            tid=row.tid_echo,
            ports=",".join(ports) or "any",
            total=counts.total,
            sent=counts.sent,
            failed=counts.failed,
            sending=counts.sending,
            unsent=counts.unsent,
            state=state,
            text=str(row.task.get("sms") or ""),
            n=counts.total // max(1, len(lanes)),
            lanes=max(1, len(lanes)),
        )

    async def tasks(self) -> list[TaskSummary]:
        return [self._summary(row, counts) for row, counts in await self._fleet.ledger.task_list(RECENT_TASKS)]

    async def task(self, task_id: int, tid: str = "") -> TaskSummary | None:
        row = await self._fleet.ledger.task(task_id)
        if row is None:
            return None
        return self._summary(row, await self._fleet.ledger.counts(task_id))

    async def find(self, tid: str) -> list[TaskSummary]:
        try:
            given: Any = int(tid)
        except ValueError:
            given = tid
        found = await self._fleet.ledger.task_list(RECENT_TASKS, given)
        return [self._summary(row, counts) for row, counts in found]

    async def recipients(self, task: TaskSummary, limit: int) -> list[RecipientRow]:
        rows = []
        for idx, number, port, state, via, row, member in await self._fleet.ledger.task_units(
            task.id, limit * task.lanes
        ):
            shown = str(row[2]) if row and len(row) > 2 else (via or port or "")
            if state == UnitState.DISPATCHED and member:
                shown = f"{via} ({member})" if via else member
            reason = ""
            if state == UnitState.FAILED and row:
                reason = str(row[5] if len(row) > 5 and row[5] else row[4] if len(row) > 4 else "")
            ts = int(row[3]) if row and len(row) > 3 and isinstance(row[3], int) else 0
            rows.append(RecipientRow(idx, number, shown, _UNIT_STATES[UnitState(state)], reason, ts))
        return rows

    async def change(self, op: str, tid: str) -> None:
        try:
            given: Any = int(tid)
        except ValueError:
            given = tid
        await self._fleet.control.change(op, [given])

    async def split(self, task: TaskSummary) -> list[Share]:
        shares = await self._fleet.ledger.task_split(task.id)
        out = [
            Share(member, s["pending"], s["dispatched"], s["sent"], s["failed"], s["twice"])
            for member, s in sorted(shares.items())
            if member
        ]
        nobody = shares.get("")
        if nobody and nobody["pending"]:
            out.append(Share("", nobody["pending"], 0, 0, 0, 0))
        return out

    # --- received ------------------------------------------------------------------

    async def received(self) -> list[InboxRecord]:
        fleet = self._fleet
        # what members that are up received since the fleet last asked, first (as goip_get_sms does)
        await asyncio.gather(*(take_new(fleet, link, fleet.ports) for link in self._links() if link.up))
        records = []
        for fleet_id, row in await fleet.ledger.inbox_recent(INBOX_NEWEST):
            if len(row) >= 6:
                flag, port, ts, sender, recipient, content = row[:6]
                records.append(
                    InboxRecord(int(flag), str(port), int(ts), str(sender), str(recipient), str(content), id=fleet_id)
                )
        return records
