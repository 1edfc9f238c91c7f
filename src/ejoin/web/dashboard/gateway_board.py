"""A gateway as the dashboard shows it: the one place that reads a ``Gateway`` for the pages.

Every read is of memory but three store queries: the day's counts per slot (ports and overview),
the last hour per minute (overview) and the push queue (overview, Pushes).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from ...gateway import commands
from ...gateway.activity import TaskSummary, failure_reason, summarize
from ...gateway.device import Port, Slot
from ...gateway.runtime import Gateway
from ...gateway.sending import recovery
from ...gateway.sending.backoff import Pause
from ...gateway.sending.tasks import CHUNK
from ...gateway.status import balance_text
from ...protocol.codes import PortState
from ...protocol.messages import CommandRequest
from ...protocol.ports import DeviceSize
from ...protocol.task_states import JobState, TaskState
from ..pushes import push_destinations
from .board import STATE_CLASSES, Minute, Overview, PortView, PushLine, RecipientRow, Refused, SlotView, state_class

Counts = dict[tuple[int, int], dict[str, int]]
JOB_STATES: dict[int, str] = {JobState.IN_MODULE: "in a module", JobState.SENT: "sent", JobState.FAILED: "failed"}


def slot_view(slot: Slot, active: bool) -> SlotView:
    rec = slot.record
    registered = slot.state in (PortState.REGISTERED, PortState.CALL_CONNECTED)
    return SlotView(
        name=slot.name,
        number=rec.slot,
        state=int(slot.state),
        state_text=slot.state.text,
        active=active,
        present=rec.present,
        locked=rec.locked,
        iccid=rec.iccid,
        imsi=rec.imsi,
        sim_number=rec.number,
        operator=rec.operator if registered else "",
        balance=balance_text(rec.balance),
    )


class GatewayBoard:
    def __init__(self, gw: Gateway) -> None:
        self._gw = gw

    @property
    def size(self) -> DeviceSize:
        return self._gw.size

    @property
    def open_door(self) -> str | None:
        return self._gw.open_door

    # --- ports ---------------------------------------------------------------------

    async def _counts(self) -> Counts:
        """SMS per slot since local midnight (the statistics API's type 2 window)."""
        return await self._gw.store.sms_counts(self._gw.statistics.since_minute(2))

    def _view(self, port: Port, today: Counts, pauses: dict[int, Pause]) -> PortView:
        active = port.active
        pause = pauses.get(port.number)
        paused = ""
        if pause is not None and pause.left:
            left = round(pause.left, 1)
            paused = f"sending paused: {pause.failures} failed in a row ({pause.reason}); next try in {left:g} s"
        sent = failed = 0
        for s in port.slots:
            counts = today.get((port.number, s.record.slot), {})
            sent += counts.get("sent_ok", 0)
            failed += counts.get("sent_failed", 0)
        return PortView(
            number=port.number,
            active_slot=port.record.active_slot,
            state=int(active.state),
            state_text=active.state.text,
            ok=active.state.can_send,
            signal=self._gw.device.signal(port.number),
            led=port.record.led,
            served_by=self._gw.config.modems,  # the registry name of the driver
            sent_today=sent,
            failed_today=failed,
            slots=tuple(slot_view(s, s is active) for s in port.slots),
            paused=paused,
        )

    async def ports(self, numbers: list[int] | None = None) -> list[PortView]:
        device = self._gw.device
        chosen = device.ports if numbers is None else [device.port(n) for n in numbers if 1 <= n <= self.size.ports]
        today = await self._counts()
        pauses = self._gw.sending.pauses()
        return [self._view(p, today, pauses) for p in chosen]

    async def port(self, number: int) -> PortView | None:
        found = await self.ports([number])
        return found[0] if found else None

    def watch(self, changed: Callable[[int], None]) -> None:
        self._gw.device.add_listener(lambda slot: changed(slot.record.port))
        self._gw.activity.listeners.append(changed)

    async def command(self, op: str, ports: str) -> int:
        gw = self._gw
        try:
            steps = commands.plan(CommandRequest(op=op, ports=ports), gw.size, can_switch=gw.driver.can_switch_slots)
        except commands.CommandError as exc:
            raise Refused(exc.reason) from None
        commands.run(steps, gw.device, save=gw.save, reboot=gw.reboot)
        return steps[0].ports[0].port if steps and steps[0].ports else 1

    # --- overview and pushes ----------------------------------------------------------

    async def overview(self) -> Overview:
        gw = self._gw
        now = gw.clock.time()
        day = gw.statistics.since_minute(2) or 0
        today = await self._counts()
        sent = sum(c.get("sent_ok", 0) for c in today.values())
        failed = sum(c.get("sent_failed", 0) for c in today.values())
        received = sum(c.get("received", 0) for c in today.values())
        last = int(now // 60)
        per_minute = await gw.store.sms_per_minute(last - 59, gw.size)
        minutes = tuple(Minute(m * 60, *per_minute.get(m, (0, 0, 0))) for m in range(last - 59, last + 1))
        failures = gw.activity.failures_since(day)
        classes: dict[str, int] = {}
        for port in gw.device.ports:
            key = state_class(int(port.active.state)).key
            classes[key] = classes.get(key, 0) + 1
        unsent, oldest = gw.activity.queue()
        return Overview(
            now=now,
            day_start=day * 60,
            started=gw.activity.started,
            sent=sent,
            failed=failed,
            received=received,
            failures=tuple(failures.items()),
            failures_unexplained=max(0, failed - sum(failures.values())),
            minutes=minutes,
            port_states=tuple((c, classes.get(c.key, 0)) for c in STATE_CLASSES),
            ports=len(gw.device.ports),
            queue_unsent=unsent,
            queue_tasks=sum(1 for t in gw.activity.open.values() if t.unsent),
            queue_oldest=oldest,
            pushes=tuple(await self.pushes()),
        )

    async def pushes(self) -> list[PushLine]:
        gw = self._gw
        lines = []
        for d in await push_destinations(gw):
            stats = gw.activity.destinations.get(gw.activity.label(d.url))
            lines.append(
                PushLine(
                    dest=gw.activity.label(d.url),
                    queued=d.queued,
                    dead=d.dead,
                    oldest_age=d.oldest_age,
                    attempts=d.attempts,
                    next_retry_in=d.next_retry_in,
                    last_error=d.last_error,
                    last_error_at=stats.last_error_at if stats is not None else 0.0,
                )
            )
        shown = {line.dest for line in lines}
        for dest, stats in gw.activity.destinations.items():  # tried since the start, nothing waiting
            if dest not in shown:
                lines.append(PushLine(dest, 0, 0, None, 0, None, stats.last_error, stats.last_error_at))
        return lines

    # --- tasks ---------------------------------------------------------------------

    def tasks(self) -> list[TaskSummary]:
        return self._gw.activity.tasks()

    async def task(self, task_id: int, tid: str = "") -> TaskSummary | None:
        known = self._gw.activity.task(task_id)
        if known is not None or not tid:
            return known
        return next((t for t in await self._kept(tid) if t.id == task_id), None)

    async def find(self, tid: str) -> list[TaskSummary]:
        activity = self._gw.activity
        known = [t for t in activity.tasks(len(activity.open) + len(activity.recent)) if str(t.tid) == tid]
        ids = {t.id for t in known}
        return known + [t for t in reversed(await self._kept(tid)) if t.id not in ids]

    async def _kept(self, tid: str) -> list[TaskSummary]:
        """Closed tasks with this tid that only the store still has (task_retention), oldest first."""
        try:
            number = int(tid)
        except ValueError:
            return []
        if not -(2**63) <= number < 2**63:  # the store's integers: no stored task has it
            return []
        store = self._gw.store
        out = []
        for rec in await store.tasks_closed([number]):
            task = await recovery.restore(store, rec)
            jobs = await store.jobs_done_since(rec.id, 0)
            sent = sum(1 for j in jobs if j.state == JobState.SENT)
            failed = sum(1 for j in jobs if j.state == JobState.FAILED)
            unsent = 0 if task.state == TaskState.REMOVED else task.total - sent - failed
            out.append(dataclasses.replace(summarize(task), sent=sent, failed=failed, sending=0, unsent=unsent))
        return out

    async def recipients(self, task: TaskSummary, limit: int) -> list[RecipientRow]:
        store = self._gw.store
        outcomes = {(j.lane, j.idx): j for j in await store.jobs_done_since(task.id, 0)}
        shown = min(task.n, limit)
        numbers: list[str] = []
        for chunk in range((shown + CHUNK - 1) // CHUNK):
            numbers.extend(await store.task_chunk(task.id, chunk))  # empty once the task is pruned
        rows = []
        for lane in range(task.lanes):
            for idx, number in enumerate(numbers[:shown]):
                job = outcomes.get((lane, idx))
                if job is None:
                    rows.append(RecipientRow(idx, number, "", "waiting", "", 0))
                    continue
                state = JOB_STATES.get(job.state, "?")
                reason = failure_reason(job) if job.state == JobState.FAILED else ""
                rows.append(RecipientRow(idx, number, job.port, state, reason, job.ts))
        return rows

    async def change(self, op: str, tid: str) -> None:
        sending = self._gw.sending
        await {"pause": sending.pause, "resume": sending.resume, "remove": sending.remove}[op]([tid])
