"""The send engine: task intake, the queue, port senders, pause/resume/remove.

A task is split into *lanes*: who may send which recipients.  No ``from``: one
lane any port may take from; ``from`` with ``to_all=1``: one lane per listed
port, each sending to every recipient; ``from`` with ``to_all=0``: one lane
the listed ports share.  Every port runs one sender that takes the next job
(lane, recipient index) from the oldest task it may serve, so a port sends one
SMS at a time and free ports take the next work (least busy first).

Durability: a task is acknowledged after it is committed; before an SMS is
handed to a module its job row is committed (state 1), and it is completed
afterwards.  After a crash, jobs still in state 1 become failed ("interrupted
by restart") and every recipient without a job row is queued again, so no
acknowledged recipient is lost and none is sent twice.  Recipients live on disk
in chunks; only a few chunks per task are held in memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable
from typing import Any, TypeVar

import msgspec

from ..clock import Clock, Timer
from ..modems.base import SendResult
from ..protocol.codes import PortState, SendFailure, TaskStatus
from ..protocol.messages import WireError, decode_lenient
from ..protocol.ports import PortAddress
from ..protocol.sms import (
    LaneSpec,
    SendSmsRequest,
    SendTaskIn,
    TaskRejected,
    TaskSpec,
    lane_allows,
    tid_of_raw,
    validate_task,
)
from ..protocol.text import Segmented, segment
from ..store.base import JobRecord, Store, TaskRecord
from .device import Device, Port, Slot
from .outcomes import OutcomeWriter, StoreFault
from .reports import TaskReports, detail_row
from .settings import DeviceSettings

log = logging.getLogger(__name__)

T = TypeVar("T")
CHUNK = 1000
YIELD_EVERY = 500  # tids handled between two turns of the event loop
QUEUED, PAUSED, FINISHED, REMOVED = 0, 1, 2, 3
IN_MODULE, SENT, FAILED = 1, 2, 3


class RequestOptions(msgspec.Struct):
    """Request-level settings of goip_post_sms, kept with each of its tasks."""

    sr_url: str = ""
    sr_cnt: int = 100
    sr_prd: int = 30
    sms_url: str = ""
    sms_cnt: int = 1
    sms_prd: int = 30


def _opt_int(value: Any, default: int) -> int:
    try:
        return int(value) if value not in (None, "") and not isinstance(value, bool) else default
    except (TypeError, ValueError):
        return default


def request_options(req: SendSmsRequest) -> RequestOptions:
    def url(v: Any) -> str:
        return v.strip() if isinstance(v, str) and v.strip().startswith(("http://", "https://")) else ""

    return RequestOptions(
        sr_url=url(req.sr_url),
        sr_cnt=_opt_int(req.sr_cnt, 100),
        sr_prd=_opt_int(req.sr_prd, 30),
        sms_url=url(req.sms_url),
        sms_cnt=_opt_int(req.sms_cnt, 1),
        sms_prd=_opt_int(req.sms_prd, 30),
    )


class Lane:
    __slots__ = ("task", "index", "spec", "cursor", "requeue")

    def __init__(self, task: Task, index: int, spec: LaneSpec, cursor: int = 0) -> None:
        self.task = task
        self.index = index
        self.spec = spec
        self.cursor = cursor  # next recipient index never handed out
        self.requeue: list[int] = []  # handed out but never started (store failure, crash gap)

    def allows(self, addr: PortAddress) -> bool:
        return lane_allows(self.spec, addr)

    def serves_port(self, port: int) -> bool:
        p = str(port)
        return not self.spec.ports or any(n == p or n.startswith(p + ".") for n in self.spec.ports)

    def take(self) -> int | None:
        if self.requeue:
            return self.requeue.pop(0)
        if self.cursor < self.task.n:
            self.cursor += 1
            return self.cursor - 1
        return None

    @property
    def remaining(self) -> int:
        return self.task.n - self.cursor + len(self.requeue)


class Task:
    def __init__(self, task_id: int, spec: TaskSpec, n: int, options: RequestOptions, store: Store) -> None:
        self.id = task_id
        self.spec = spec
        self.n = n
        self.options = options
        self.state = QUEUED
        self.lanes = [Lane(self, i, lane) for i, lane in enumerate(spec.lanes)]
        self.claimed = 0  # jobs handed out (in a module or done)
        self.sent = 0
        self.failed = 0
        self.done_seq = 0
        self.since_report = 0
        self.rows: list[list[Any]] = []
        self.timer: Timer | None = None
        self.closed = False
        self._store = store
        self._chunks: OrderedDict[int, list[str]] = OrderedDict()
        self._loading: dict[int, asyncio.Future[list[str]]] = {}
        self._segmented: Segmented | None = None

    @property
    def total(self) -> int:
        return self.n * len(self.lanes)

    @property
    def done(self) -> int:
        return self.sent + self.failed

    @property
    def sending(self) -> int:
        return self.claimed - self.done

    @property
    def unsent(self) -> int:
        return 0 if self.state == REMOVED else self.total - self.claimed

    @property
    def is_complete(self) -> bool:
        return self.done == self.total

    @property
    def text(self) -> Segmented:
        if self._segmented is None:
            self._segmented = segment(self.spec.text, self.spec.coding)
        return self._segmented

    def keep_chunk(self, number: int, numbers: list[str]) -> None:
        self._chunks[number] = numbers
        self._chunks.move_to_end(number)
        while len(self._chunks) > len(self.lanes) + 1:  # about one chunk per lane in memory
            self._chunks.popitem(last=False)

    async def _chunk(self, number: int) -> list[str]:
        chunk = self._chunks.get(number)
        if chunk is not None:
            return chunk
        pending = self._loading.get(number)
        if pending is None:
            pending = self._loading[number] = asyncio.ensure_future(self._store.task_chunk(self.id, number))
            try:
                chunk = await pending
            finally:
                del self._loading[number]
            self.keep_chunk(number, chunk)
            return chunk
        return await asyncio.shield(pending)

    async def number(self, idx: int) -> str:
        return (await self._chunk(idx // CHUNK))[idx % CHUNK]

    async def all_numbers(self) -> list[str]:
        out: list[str] = []
        for c in range((self.n + CHUNK - 1) // CHUNK):
            out.extend(await self._chunk(c))
        return out


def chunks_of(numbers: list[str]) -> list[str]:
    return [",".join(numbers[i : i + CHUNK]) for i in range(0, len(numbers), CHUNK)]


class SendEngine:
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
        self._max_tasks = max_tasks
        self._max_recipients = max_recipients
        self._tasks: dict[int, Task] = {}  # open tasks by tid
        # Lanes with work, oldest first, indexed by the port that may serve them
        # (None: any port), so a port looks only at lanes it can take.
        self._lanes: dict[int | None, OrderedDict[tuple[int, int], Lane]] = {}
        self._wakes: dict[int, asyncio.Event] = {}
        self._workers: list[asyncio.Task] = []
        self._stopping = False
        self._retention = retention
        self._max_per_request = max_per_request
        self._settings = settings
        self._prune_timer: Timer | None = None
        self.con_failed: dict[tuple[int, int], int] = {}
        self.in_module: dict[tuple[int, int], int] = {}
        self.store_fault = StoreFault(clock)
        self._outcomes = OutcomeWriter(store, clock, self.store_fault, lambda slot: self.con_failed.get(slot, 0))
        # A report never says "sent" before the store does.
        reports.barrier = self._outcomes.durable
        device.add_listener(self._slot_changed)

    # --- life cycle ----------------------------------------------------------

    async def recover(self) -> None:
        """Bring the queue back after a stop or crash (before the modules start)."""
        now = int(self._clock.time())
        interrupted = await self._store.jobs_interrupted(now, SendFailure.INTERRUPTED)
        if interrupted:
            log.warning("%d SMS were in a module when the device stopped; reported as failed", len(interrupted))
        for rec in await self._store.tasks_open():
            await self._restore(rec)
        counts = await self._store.sms_counts(None)
        self.con_failed = {k: v["con_failed"] for k, v in counts.items() if v.get("con_failed")}

    async def _restore(self, rec: TaskRecord) -> None:
        spec = msgspec.msgpack.decode(rec.spec, type=TaskSpec)
        options = msgspec.msgpack.decode(rec.request, type=RequestOptions)
        task = Task(rec.id, spec, rec.n, options, self._store)
        task.state = rec.state
        task.sent, task.failed, task.done_seq = rec.sent, rec.failed, rec.done_seq
        for lane in task.lanes:
            count, max_idx = rec.lane_jobs.get(lane.index, [0, -1])
            lane.cursor = max_idx + 1
            if count < lane.cursor:  # handed out but never started before the crash
                started = set(await self._store.jobs_of_lane(task.id, lane.index))
                lane.requeue = [i for i in range(lane.cursor) if i not in started]
            task.claimed += lane.cursor - len(lane.requeue)
        task.since_report = 0
        if rec.reported_seq < rec.done_seq:
            for job in await self._store.jobs_done_since(task.id, rec.reported_seq):
                if (job.state == SENT and spec.sdr) or (job.state == FAILED and spec.fdr):
                    task.rows.append(detail_row(job))
        if task.state in (FINISHED, REMOVED) or task.is_complete:
            # Only its last report was still owed.
            task.closed = True
            if task.state == QUEUED:
                task.state = FINISHED
                self._store.task_state(task.id, FINISHED)
            self._reports.emit(task)
            return
        self._open(task)
        if rec.reported_seq < rec.done_seq:
            self._reports.emit(task)

    def _open(self, task: Task) -> None:
        self._tasks[task.spec.tid] = task
        if task.state == QUEUED:
            self._index(task)
        self._reports.track(task)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        for port in self._device.ports:
            self._wakes[port.number] = asyncio.Event()
            self._workers.append(loop.create_task(self._port_loop(port), name=f"sender {port.number}"))
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
        for ev in self._wakes.values():
            ev.set()
        if grace > 0 and self._workers:
            await asyncio.wait(self._workers, timeout=grace)
        for t in self._workers:
            t.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers.clear()
        self._outcomes.flush()
        self._reports.flush_all()
        self._outcomes.cancel()

    # --- intake ----------------------------------------------------------------

    async def accept(self, request: SendSmsRequest) -> list[tuple[int | str | None, TaskStatus]]:
        """Validate every task alone, commit the good ones, answer a status per task."""
        results: list[tuple[int | str | None, TaskStatus]] = []
        good: list[tuple[int, TaskSpec]] = []
        tids_here: set[int] = set()
        if request.type not in (None, "", "send-sms"):
            return [(tid_of_raw(raw), TaskStatus.INVALID_CMD) for raw in request.tasks or []]
        for n, raw in enumerate(request.tasks or []):
            if n >= self._max_per_request:
                results.append((tid_of_raw(raw), TaskStatus.TOO_MANY_TASK))
                continue
            try:
                task_in = decode_lenient(bytes(raw), SendTaskIn)
            except WireError:
                results.append((tid_of_raw(raw), TaskStatus.INVALID_CMD))
                continue
            try:
                spec = validate_task(task_in, self._device.size, max_recipients=self._max_recipients)
                if spec.tid in self._tasks or spec.tid in tids_here:
                    raise TaskRejected(TaskStatus.DUPLICATED_TASK_ID, f"task {spec.tid} is still open")
                if len(self._tasks) + len(good) >= self._max_tasks:
                    raise TaskRejected(TaskStatus.TOO_MANY_TASK, f"{self._max_tasks} tasks are open")
            except TaskRejected as exc:
                results.append((task_in.tid if isinstance(task_in.tid, (int, str)) else None, exc.status))
                continue
            tids_here.add(spec.tid)
            good.append((len(results), spec))
            results.append((spec.tid_echo, TaskStatus.OK))
        self._revise_inbound_target(request)
        if good:
            options = request_options(request)
            try:
                await self._submit([spec for _, spec in good], options)
            except Exception:
                log.exception("could not store send tasks")
                for i, _ in good:
                    results[i] = (results[i][0], TaskStatus.SERVER_ERROR)
        return results

    def _revise_inbound_target(self, request: SendSmsRequest) -> None:
        """A send request may revise where received SMS are pushed (spec 7.2.1)."""
        if self._settings is None:
            return
        opts = request_options(request)
        changes: dict[str, Any] = {}
        if opts.sms_url:
            changes["sms_url"] = opts.sms_url
        if request.sms_cnt not in (None, ""):
            changes["sms_cnt"] = opts.sms_cnt
        if request.sms_prd not in (None, ""):
            changes["sms_prd"] = opts.sms_prd
        changed = {k: v for k, v in changes.items() if self._settings[k] != v}
        if changed:
            self._settings.update(**changed)

    async def _submit(self, specs: list[TaskSpec], options: RequestOptions) -> None:
        now = self._clock.time()
        packed_options = msgspec.msgpack.encode(options)
        rows = []
        for spec in specs:
            recipients = spec.recipients
            stored = msgspec.structs.replace(spec, recipients=[])
            rows.append(
                (spec.tid, msgspec.msgpack.encode(stored), len(recipients), packed_options, now, chunks_of(recipients))
            )
        ids = await self._store.tasks_add(rows)
        for task_id, spec in zip(ids, specs, strict=False):
            task = Task(
                task_id, msgspec.structs.replace(spec, recipients=[]), len(spec.recipients), options, self._store
            )
            task.keep_chunk(0, spec.recipients[:CHUNK])
            self._open(task)
        self._wake_all()

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
            if op == "pause" and task.state == QUEUED:
                task.state = PAUSED
                self._store.task_state(task.id, PAUSED)
                self._unindex(task)
            elif op == "resume" and task.state == PAUSED:
                task.state = QUEUED
                self._store.task_state(task.id, QUEUED)
                self._index(task, reorder=True)
                self._wake_all()
            elif op == "remove":
                self._remove(task)
            results.append((echo, TaskStatus.OK))
        return results

    async def pause(self, tids: list[Any] | None) -> list[tuple[Any, TaskStatus]]:
        return await self._change(tids, "pause")

    async def resume(self, tids: list[Any] | None) -> list[tuple[Any, TaskStatus]]:
        return await self._change(tids, "resume")

    async def remove(self, tids: list[Any] | None) -> list[tuple[Any, TaskStatus]]:
        return await self._change(tids, "remove")

    def _remove(self, task: Task) -> None:
        task.state = REMOVED
        self._store.task_state(task.id, REMOVED)
        self._unindex(task)
        if task.sending == 0:
            self._close(task)

    async def waiting_on_port(self, port: int, pos: int, num: int) -> tuple[int, list[tuple[Task, str]]]:
        """A port's waiting tasks in submission order: (total, [(task, recipients)]) from ``pos``."""
        waiting = [
            t
            for t in sorted(self._tasks.values(), key=lambda t: t.id)
            if t.state in (QUEUED, PAUSED) and any(lane.serves_port(port) and lane.remaining for lane in t.lanes)
        ]
        page = waiting[pos : pos + num] if num > 0 else waiting[pos:]
        return len(waiting), [(t, ",".join(await t.all_numbers())) for t in page]

    def task_count(self) -> int:
        return len(self._tasks)

    # --- the senders -----------------------------------------------------------

    def _wake_all(self) -> None:
        for ev in self._wakes.values():
            ev.set()

    def _slot_changed(self, slot: Slot) -> None:
        ev = self._wakes.get(slot.record.port)
        if ev is not None:
            ev.set()

    @staticmethod
    def _buckets(lane: Lane) -> set[int | None]:
        if not lane.spec.ports:
            return {None}
        return {int(name.split(".", 1)[0]) for name in lane.spec.ports}

    def _index(self, task: Task, reorder: bool = False) -> None:
        touched = set()
        for lane in task.lanes:
            if lane.remaining:
                for bucket in self._buckets(lane):
                    self._lanes.setdefault(bucket, OrderedDict())[(task.id, lane.index)] = lane
                    touched.add(bucket)
        if reorder:  # a resumed (older) task goes back to its place in line
            for bucket in touched:
                self._lanes[bucket] = OrderedDict(sorted(self._lanes[bucket].items()))

    def _unindex(self, task: Task) -> None:
        for lane in task.lanes:
            for bucket in self._buckets(lane):
                self._lanes.get(bucket, {}).pop((task.id, lane.index), None)

    def _first_eligible(self, bucket: int | None, addr: PortAddress) -> tuple[tuple[int, int], Lane] | None:
        lanes = self._lanes.get(bucket)
        if not lanes:
            return None
        exhausted = []
        found = None
        for key, lane in lanes.items():
            if not lane.remaining:
                exhausted.append(key)
            elif lane.task.state == QUEUED and lane.allows(addr):
                found = (key, lane)
                break
        for key in exhausted:
            del lanes[key]
        return found

    def _claim(self, port: Port) -> tuple[Lane, int] | None:
        """The next SMS for this port: the oldest lane it may serve, its own or any port's."""
        addr = PortAddress(port.number, port.record.active_slot)
        own = self._first_eligible(port.number, addr)
        shared = self._first_eligible(None, addr)
        choice = min((c for c in (own, shared) if c is not None), default=None, key=lambda c: c[0])
        if choice is None:
            return None
        lane = choice[1]
        idx = lane.take()
        if idx is None:
            return None
        lane.task.claimed += 1
        return lane, idx

    async def _port_loop(self, port: Port) -> None:
        wake = self._wakes[port.number]
        while not self._stopping:
            wake.clear()
            fault = self.store_fault
            if fault.failing and self._clock.time() < fault.retry_at:
                # The store takes no writes: wait on the clock instead of failing at once again.
                await self._clock.sleep(fault.retry_at - self._clock.time())
                continue
            slot = port.active
            claim = self._claim(port) if slot.state.can_send and not slot.record.locked else None
            if claim is None:
                await wake.wait()
                continue
            lane, idx = claim
            try:
                await self._send(port, slot, lane, idx)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("port %d: sending failed unexpectedly", port.number)
            intvl = lane.task.spec.intvl_ms
            if intvl:
                await self._clock.sleep(intvl / 1000)

    async def _send(self, port: Port, slot: Slot, lane: Lane, idx: int) -> None:
        task = lane.task
        try:
            number = await task.number(idx)
            job = JobRecord(task.id, lane.index, idx, number, slot.name, IN_MODULE, int(self._clock.time()))
            await self._store.jobs_start([job])
        except Exception as exc:
            # Logged by the fault once per change of state, not here once per SMS.
            log.debug("could not record an SMS of task %s; it stays queued: %s", task.spec.tid_echo, exc)
            self.store_fault.failed(exc)
            self._unclaim(lane, idx)
            return
        if self.store_fault.failing:
            self.store_fault.succeeded()
        key = (port.number, slot.record.slot)
        self.in_module[key] = self.in_module.get(key, 0) + 1
        try:
            result = await self._with_timeout(
                self._device.driver.send_sms(
                    port.number, slot.record.slot, number, task.text, task.spec.smsc, report=task.spec.dr
                ),
                task.spec.tmo_s,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the module failed: this SMS failed, the port goes on
            log.exception("port %d: the module failed on an SMS of task %s", port.number, task.spec.tid_echo)
            result = SendResult(False, f"module error: {type(exc).__name__}")
        finally:
            self.in_module[key] -= 1
        if result is None:
            job.state, job.reason = FAILED, SendFailure.TIMEOUT
        elif result.ok:
            job.state = SENT
            if task.spec.dr and self.expect_reports is not None:
                self.expect_reports(port.number, slot.name, number, result.refs)
        else:
            job.state = FAILED
            job.reason = SendFailure.NO_BALANCE if result.no_balance else SendFailure.SEND_FAILED
            job.carrier = result.carrier
        if result is not None:
            if result.cost:
                self._device.set_slot_field(slot.address, "balance", round(slot.record.balance - result.cost, 2))
            if result.no_balance:
                self._device.set_state(slot, PortState.NO_BALANCE)
        self._finish(task, job, key)

    def _unclaim(self, lane: Lane, idx: int) -> None:
        lane.requeue.append(idx)
        lane.task.claimed -= 1
        if lane.task.state == QUEUED:
            self._index(lane.task, reorder=True)

    def _finish(self, task: Task, job: JobRecord, slot: tuple[int, int]) -> None:
        task.done_seq += 1
        job.done_seq = task.done_seq
        job.ts = int(self._clock.time())
        if job.state == SENT:
            task.sent += 1
            self.con_failed[slot] = 0
        else:
            task.failed += 1
            self.con_failed[slot] = self.con_failed.get(slot, 0) + 1
        self._outcomes.add(job, slot)
        self._reports.job_done(task, job)
        if task.is_complete or (task.state == REMOVED and task.sending == 0):
            self._close(task)

    def unsent_by_target(self) -> dict[str, int]:
        """SMS waiting, per port or slot named in ``from`` ("3", "1.02"), over every open task."""
        totals: dict[str, int] = {}
        for task in self._tasks.values():
            if task.state in (QUEUED, PAUSED):
                for lane in task.lanes:
                    for name in lane.spec.ports:
                        totals[name] = totals.get(name, 0) + lane.remaining
        return totals

    def _close(self, task: Task) -> None:
        if task.closed:
            return
        task.closed = True
        if task.state != REMOVED:
            task.state = FINISHED
            self._store.task_state(task.id, FINISHED)
        if self._tasks.get(task.spec.tid) is task:
            del self._tasks[task.spec.tid]
        self._reports.finished(task)

    async def _with_timeout(self, work: Awaitable[T], seconds: float) -> T | None:
        """``work``'s result, or None if the clock says ``seconds`` passed first."""
        fut = asyncio.ensure_future(work)
        if fut.done():
            return fut.result()
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            fut.cancel()

        timer = self._clock.call_later(seconds, expire)
        try:
            return await fut
        except asyncio.CancelledError:
            if expired:
                return None
            raise
        finally:
            timer.cancel()
