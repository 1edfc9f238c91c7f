"""The send engine: the queue of open tasks, the port senders, pause/resume/remove.

Durability: a task is acknowledged after it is committed; before an SMS is
handed to a module its job row is committed ("in a module"), and its outcome
is written afterwards (outcomes.py).  See recovery.py for what a restart does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ...clock import Clock, Timer
from ...logs import ThrottledLog
from ...protocol.codes import SendFailure, TaskStatus
from ...protocol.ports import PortAddress
from ...protocol.sms import SendSmsRequest
from ...protocol.task_states import JobState, TaskState
from ...store.base import JobRecord, Store
from ..device import Device, Slot
from ..outcomes import OutcomeWriter, StoreFault
from ..reports import TaskReports
from ..settings import DeviceSettings
from . import recovery
from .backoff import Pause
from .intake import Intake, Results
from .routing import LaneQueue, serves_port
from .sender import Deadlines, PortSender, StartBatcher
from .tasks import Claim, Lane, Task, TaskView
from .turns import TurnBatch
from .unconfirmed import Unconfirmed, UnconfirmedSms

log = logging.getLogger(__name__)
# A line per task for the person watching, throttled at high rates (one task per request).
_accepted = ThrottledLog(log, "task accepted")

YIELD_EVERY = 500  # tids handled between two turns of the event loop


class SendEngine:
    SETTLE_AT_STOP = 2.0  # seconds (real time: the store's thread) for outcomes and reports to reach disk

    def __init__(
        self,
        device: Device,
        store: Store,
        clock: Clock,
        reports: TaskReports,
        *,
        max_tasks: int,
        max_recipients: int,
        max_per_request: int = 10_000,
        retention: float = 3600.0,
        settings: DeviceSettings | None = None,
    ) -> None:
        self._device = device
        self._store = store
        self._clock = clock
        self._reports = reports
        self._intake = Intake(
            device.size,
            store,
            max_tasks=max_tasks,
            max_recipients=max_recipients,
            max_per_request=max_per_request,
            settings=settings,
        )
        self._tasks: dict[int, Task] = {}  # open tasks by tid
        self._queue = LaneQueue()
        self._senders: dict[int, PortSender] = {}
        # senders with nothing to do, longest first (new work wakes them, in that order)
        self._waiting: dict[PortSender, None] = {}
        self._workers: list[asyncio.Task] = []
        self._stopping = False
        self._retention = retention
        self._prune_timer: Timer | None = None
        self.con_failed: dict[tuple[int, int], int] = {}
        self.in_module: dict[tuple[int, int], int] = {}
        # Told of each SMS sent with a delivery report asked for, to pair the network's reports with it.
        self.expect_reports: Callable[[int, str, str, tuple[int, ...]], None] | None = None
        self._unconfirmed = UnconfirmedSms()
        self._confirming = asyncio.Lock()  # one at a time: a closed task is read, changed and reported whole
        self._confirmations: set[asyncio.Task[None]] = set()
        self.store_fault = StoreFault(clock)
        self._outcomes = OutcomeWriter(store, clock, self.store_fault, lambda slot: self.con_failed.get(slot, 0))
        self._starts = StartBatcher(store, most=(device.size.ports + 1) // 2, outcomes=self._outcomes)
        self._deadlines = Deadlines(clock)
        # Not awaited (as before): a task's state on disk matters after a crash, and recovery reads
        # what a crash left (a finished task still "queued" is closed then, its last report sent).
        self._states: TurnBatch[tuple[int, int]] = TurnBatch(lambda rows: store.tasks_state(rows), "task states")
        # A report never says "sent" before the store does.
        reports.barrier = self._outcomes.durable
        device.add_listener(self._slot_changed)

    # --- life cycle ----------------------------------------------------------

    async def recover(self) -> None:
        """Bring the queue back after a stop or crash (before the modules start)."""
        await recovery.interrupted(self._store, int(self._clock.time()))
        for sms in await recovery.unconfirmed(self._store):
            self._unconfirmed.add(sms)
        for rec in await self._store.tasks_open():
            task = await recovery.restore(self._store, rec)
            owed = rec.reported_seq < rec.done_seq
            if not task.state.is_open or task.is_complete:
                # Only its last report was still owed.
                task.closed = True
                if task.state == TaskState.QUEUED:
                    task.move(TaskState.FINISHED)
                    self._states.put([(task.id, TaskState.FINISHED)])
                self._reports.emit(task)
                continue
            self._open(task)
            if owed:
                self._reports.emit(task)
        counts = await self._store.sms_counts(None)
        self.con_failed = {k: v["con_failed"] for k, v in counts.items() if v.get("con_failed")}

    def _open(self, task: Task) -> None:
        self._tasks[task.spec.tid] = task
        if task.state == TaskState.QUEUED:
            self._queue.add(task)
        self._reports.track(task)

    def start(self) -> None:
        for port in self._device.ports:
            sender = PortSender(
                port,
                self._device,
                self._clock,
                self,
                self._starts,
                self._deadlines,
                self.store_fault,
                self.in_module,
                self._waiting,
            )
            self._senders[port.number] = sender
            self._workers.append(sender.start(lambda: self._stopping))
        self._schedule_prune()

    def _schedule_prune(self) -> None:
        self._prune_timer = self._clock.call_later(min(600.0, self._retention), self._prune)

    def _prune(self) -> None:
        async def run() -> None:
            try:
                pruned = await self._store.tasks_prune(self._clock.time() - self._retention)
                if pruned:
                    log.info("pruned %d finished tasks", pruned)
            except Exception:
                log.exception("pruning finished tasks failed")

        if not self._stopping:
            asyncio.get_running_loop().create_task(run())
            self._schedule_prune()

    async def stop(self, grace: float = 0.0) -> None:
        """Stop taking work; SMS already in a module get ``grace`` seconds to finish."""
        self._stopping = True
        if self._prune_timer is not None:
            self._prune_timer.cancel()
        self._wake_all()
        if grace > 0 and self._workers:
            await asyncio.wait(self._workers, timeout=grace)
        for t in self._workers:
            t.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers.clear()
        self._deadlines.cancel()
        if self._confirmations:  # corrections under way reach the outcome writer first (bounded)
            await asyncio.wait(self._confirmations, timeout=self.SETTLE_AT_STOP)
        self._outcomes.flush()
        self._reports.flush_all()
        if not self.store_fault.failing:
            # Outcomes and reports on disk before the store closes (else: failed "interrupted" after
            # the restart although they were sent).  Bounded: a stop never hangs on a slow disk.
            settled = asyncio.gather(self._outcomes.durable(), self._reports.drained())
            try:
                await asyncio.wait_for(settled, self.SETTLE_AT_STOP)
            except Exception:  # timed out, or the store failed meanwhile
                log.warning("some SMS outcomes or reports were not stored at the stop; a restart reports them")
        self._outcomes.cancel()

    # --- intake ----------------------------------------------------------------

    async def accept(self, request: SendSmsRequest) -> Results:
        """Validate every task alone, commit the good ones, answer a status (and a refusal's reason) per task."""
        results, tasks = await self._intake.accept(request, self._tasks, self._clock.time())
        for task in tasks:
            _accepted.info("task %s accepted: %d SMS to send", task.spec.tid_echo, task.total)
            self._open(task)
        if tasks:
            self._wake_waiting()
        return results

    # --- pause / resume / remove / query ---------------------------------------

    def _select(self, tids: list[Any] | None) -> list[tuple[Any, Task | None]]:
        if tids is None:
            return [(t.spec.tid_echo, t) for t in sorted(self._tasks.values(), key=lambda t: t.id)]
        out = []
        for raw in tids:
            try:
                tid = int(raw) if not isinstance(raw, bool) else None
            except (TypeError, ValueError):
                tid = None
            out.append((raw, self._tasks.get(tid) if tid is not None else None))
        return out

    async def _change(self, tids: list[Any] | None, op: str) -> list[tuple[Any, TaskStatus]]:
        results = []
        for n, (echo, task) in enumerate(self._select(tids)):
            if n and n % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # a long list must not hold the device: other requests go between
            if task is None:
                results.append((echo, TaskStatus.TID_EXPECTED))
                continue
            if op == "pause" and task.state == TaskState.QUEUED:
                task.move(TaskState.PAUSED)
                self._states.put([(task.id, TaskState.PAUSED)])
                self._queue.drop(task)
            elif op == "resume" and task.state == TaskState.PAUSED:
                task.move(TaskState.QUEUED)
                self._states.put([(task.id, TaskState.QUEUED)])
                self._queue.add(task, reorder=True)
                self._wake_waiting()
            elif op == "remove" and task.state != TaskState.REMOVED:
                await self._remove(task)
            results.append((echo, TaskStatus.OK))
        return results

    async def pause(self, tids: list[Any] | None) -> list[tuple[Any, TaskStatus]]:
        return await self._change(tids, "pause")

    async def resume(self, tids: list[Any] | None) -> list[tuple[Any, TaskStatus]]:
        return await self._change(tids, "resume")

    async def remove(self, tids: list[Any] | None) -> list[tuple[Any, TaskStatus]]:
        return await self._change(tids, "remove")

    async def _remove(self, task: Task) -> None:
        # What was never handed to a module never will be: the final report counts it failed and,
        # when the task has fdr, lists it ("8 Removed").  Numbers are read first: from here on,
        # nothing waits, so no SMS finishes in between.
        listed = task.spec.fdr and any(lane.remaining for lane in task.lanes)
        numbers = await task.all_numbers() if listed else []
        if task.state == TaskState.REMOVED:  # removed by another request meanwhile
            return
        task.move(TaskState.REMOVED)
        self._states.put([(task.id, TaskState.REMOVED)])
        self._queue.drop(task)
        never = [idx for lane in task.lanes for idx in (*lane.requeue, *range(lane.cursor, task.n))]
        for lane in task.lanes:
            lane.requeue, lane.cursor = [], task.n
        task.claimed += len(never)
        task.failed += len(never)
        if listed:
            ts = int(self._clock.time())
            task.rows.extend([idx, numbers[idx], "", ts, SendFailure.REMOVED, ""] for idx in never)
        if task.sending == 0:
            self._close(task)

    # --- read-only views -------------------------------------------------------

    def pauses(self) -> dict[int, Pause]:
        """Per port whose sends failed in a row: how many, the last reason, and how long it takes no SMS."""
        now = self._clock.time()
        return {n: s.backoff.view(now) for n, s in self._senders.items() if s.backoff.failures}

    def task(self, tid: int) -> TaskView | None:
        task = self._tasks.get(tid)
        return None if task is None else task.view()

    def open_tasks(self) -> list[TaskView]:
        """Every open task, in submission order."""
        return [t.view() for t in sorted(self._tasks.values(), key=lambda t: t.id)]

    def task_count(self) -> int:
        return len(self._tasks)

    async def waiting_on_port(
        self, port: int, pos: int, num: int, tids: list[Any] | None = None
    ) -> tuple[int, list[tuple[TaskView, str]]]:
        """A port's waiting tasks in submission order: (total, [(task, recipients)]) from ``pos``;
        with ``tids``, only those tasks."""
        wanted = None if tids is None else {task.id for _, task in self._select(tids) if task is not None}
        waiting = [
            t
            for t in sorted(self._tasks.values(), key=lambda t: t.id)
            if t.state.is_open
            and (wanted is None or t.id in wanted)
            and any(serves_port(lane.spec, port) and lane.remaining for lane in t.lanes)
        ]
        page = waiting[pos : pos + num] if num > 0 else waiting[pos:]
        return len(waiting), [(t.view(), ",".join(await t.all_numbers())) for t in page]

    async def closed_on_port(self, port: int, tids: list[Any]) -> list[tuple[TaskView, str]]:
        """Tasks named by ``tids`` that this device finished or removed and still keeps (see
        ``task_retention``) and that ``port`` could send for: [(task, recipients)], oldest first.
        Whoever posted a task and lost the answer learns here that the device had it."""
        wanted = []
        for raw in tids:
            try:
                wanted.append(int(raw) if not isinstance(raw, bool) else None)
            except (TypeError, ValueError):
                continue
        out = []
        for rec in await self._store.tasks_closed([t for t in wanted if t is not None]):
            task = await recovery.restore(self._store, rec)  # its spec and recipients; progress not needed
            if any(serves_port(lane.spec, port) for lane in task.lanes):
                out.append((task.view(), ",".join(await task.all_numbers())))
        return out

    def unsent_by_slot(self) -> dict[tuple[int, int], int]:
        """SMS waiting in open tasks, each counted once, on the slot expected to send it.

        A slot named in ``from``: that slot.  A whole port: its active slot.  Several ports
        sharing a lane (``to_all=0``), or a task without ``from``: split evenly over them (without
        ``from``: over the ports that can send now, or every port if none can).
        """
        totals: dict[tuple[int, int], int] = {}
        device = self._device
        sending_now: list[tuple[int, int]] | None = None
        for task in self._tasks.values():
            if not task.state.is_open:
                continue
            for lane in task.lanes:
                waiting = lane.remaining
                if not waiting:
                    continue
                if lane.spec.ports:
                    targets = []
                    for name in lane.spec.ports:
                        addr = PortAddress.parse(name)
                        slot = addr.slot or device.port(addr.port).record.active_slot
                        targets.append((addr.port, slot))
                else:
                    if sending_now is None:
                        sending_now = [
                            (p.number, p.record.active_slot)
                            for p in device.ports
                            if p.active.state.can_send and not p.active.record.locked
                        ] or [(p.number, p.record.active_slot) for p in device.ports]
                    targets = sending_now
                share, extra = divmod(waiting, len(targets))
                for i, key in enumerate(targets):
                    totals[key] = totals.get(key, 0) + share + (1 if i < extra else 0)
        return totals

    # --- what the senders call (sender.Work) -------------------------------------

    def claim(self, addr: PortAddress) -> tuple[Claim | None, float | None]:
        return self._queue.claim(addr, self._clock.time())

    def unclaim(self, task: Task, lane: Lane, idx: int) -> None:
        lane.requeue.append(idx)
        task.claimed -= 1
        if task.state == TaskState.QUEUED:
            self._queue.add(task, reorder=True)

    def finish(self, task: Task, job: JobRecord, slot: tuple[int, int]) -> None:
        task.done_seq += 1
        job.done_seq = task.done_seq
        job.ts = int(self._clock.time())
        if job.state == JobState.SENT:
            task.sent += 1
            self.con_failed[slot] = 0
        else:
            task.failed += 1
            self.con_failed[slot] = self.con_failed.get(slot, 0) + 1
            if task.spec.dr and job.reason in SendFailure.UNCONFIRMED:  # a report may yet prove it sent
                self._unconfirmed.add(
                    Unconfirmed(task.id, job.lane, job.idx, job.number, job.port, job.ts, task.text.count)
                )
        self._outcomes.add(job, slot)
        self._reports.job_done(task, job)
        if task.is_complete or (task.state == TaskState.REMOVED and task.sending == 0):
            self._close(task)

    # --- outcomes proven by delivery reports ---------------------------------------

    def confirm_sent(self, port: int, recipient: str) -> tuple[str, str, int] | None:
        """A delivery report from ``port`` for ``recipient`` that pairs with no SMS the device saw sent:
        if that port had an SMS of unknown outcome for that recipient, it was sent after all (its
        outcome and the statistics are corrected, and its task reports it).  The slot that had it,
        the recipient as its task gave it, and how many reports (parts) that SMS has; else None."""
        sms = self._unconfirmed.take(port, recipient)
        if sms is None:
            return None
        work = asyncio.get_running_loop().create_task(self._confirm(sms), name="confirm an SMS sent")
        self._confirmations.add(work)
        work.add_done_callback(self._confirmations.discard)
        return sms.slot, sms.number, sms.parts

    async def _confirm(self, sms: Unconfirmed) -> None:
        try:
            async with self._confirming:
                task = next((t for t in self._tasks.values() if t.id == sms.task_id), None)
                if task is None:
                    # Closed: its last outcomes on disk first, then it is read back as stored. The report
                    # rows it still owes are in a report on its way already.
                    await self._outcomes.durable()
                    found = await self._store.tasks_by_id([sms.task_id])
                    if not found:
                        log.info("an SMS of a task no longer kept was sent after all (a delivery report came)")
                        return
                    task = await recovery.restore(self._store, found[0])
                    task.closed, task.rows = True, []
                job = JobRecord(
                    sms.task_id, sms.lane, sms.idx, sms.number, sms.slot, JobState.SENT, sms.ts, confirmed=True
                )
                task.done_seq += 1
                job.done_seq = task.done_seq
                task.sent += 1
                task.failed -= 1
                addr = PortAddress.parse(sms.slot)
                self._outcomes.add(job, (addr.port, addr.slot or 1))
                self._reports.job_confirmed(task, job)
                if task.closed:
                    self._reports.emit(task)  # a closed task has no later report to carry it
                log.info(
                    "%s: SMS %d of task %s to %s was sent after all: a delivery report came",
                    sms.slot,
                    sms.idx + 1,
                    task.spec.tid_echo,
                    sms.number,
                )
        except Exception:
            log.exception("could not correct the outcome of an SMS a delivery report proved sent")

    # --- internals ---------------------------------------------------------------

    def _wake_all(self) -> None:
        for sender in self._senders.values():
            sender.wake.set()

    def _wake_waiting(self) -> None:
        """New work: the senders waiting for some look (the others look before they wait)."""
        for sender in self._waiting:
            sender.wake.set()
        self._waiting.clear()

    def _slot_changed(self, slot: Slot) -> None:
        sender = self._senders.get(slot.record.port)
        if sender is not None:
            sender.slot_changed(slot)

    def _close(self, task: Task) -> None:
        if task.closed:
            return
        task.closed = True
        if task.state != TaskState.REMOVED:
            task.move(TaskState.FINISHED)
            self._states.put([(task.id, TaskState.FINISHED)])
        if self._tasks.get(task.spec.tid) is task:
            del self._tasks[task.spec.tid]
        task.forget_numbers()
        self._reports.finished(task)
