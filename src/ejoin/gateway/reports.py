"""Status reports of send tasks (spec 6.3.2, DECISIONS.md "Sending").

A task reports when ``sr_cnt`` more of its SMS are done, when ``sr_prd``
seconds have passed, and when it finishes.  Reports wait in a cache, one per
(sr_url, request sr_cnt, request sr_prd), flushed to ``sr_url`` as one
``status-report`` when it holds ``sr_cnt`` reports or ``sr_prd`` seconds after
its first one.  With a request ``sr_prd`` of 0 a report leaves at once when
nothing else of this device is on its way to that ``sr_url``; otherwise it
waits until the push on its way has left the outbox (delivered, or given up)
and leaves with every report due meanwhile, at most ``sr_cnt`` in one push: so
one push per round trip of the receiver, not one per report, under load
(docs/decisions.md, "Status reports under load").  A flush goes into the
durable outbox in the same commit that
marks the reported SMS as reported, so after a crash exactly the unreported
progress is reported again.  It goes there only once the outcomes it reports
are on disk (``barrier``), and flushes leave strictly in order: one that
cannot be stored (a full disk) stays in front and is tried again, so counts
never go backwards and nothing reported can be lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from ..clock import Clock, Timer
from ..protocol.messages import encode
from ..protocol.task_states import JobState
from ..store.base import JobRecord, PushMarks, TaskStore
from .outbox import Outbox
from .sending.tasks import Task
from .settings import DeviceSettings

log = logging.getLogger(__name__)


class TaskObserver(Protocol):
    """Told of every task opened, SMS done and task finished (metrics, the dashboard)."""

    def task_opened(self, task: Task) -> None: ...
    def job_done(self, task: Task, job: JobRecord) -> None: ...
    def job_confirmed(self, task: Task, job: JobRecord) -> None: ...  # counted failed, proven sent since
    def task_finished(self, task: Task) -> None: ...


class TaskReport(msgspec.Struct):
    tid: int | str
    sending: int
    sent: int
    failed: int
    unsent: int
    sdr: list[list[Any]] | msgspec.UnsetType = msgspec.UNSET
    fdr: list[list[Any]] | msgspec.UnsetType = msgspec.UNSET


class StatusReportPush(msgspec.Struct):
    type: str
    rpt_num: int
    rpts: list[TaskReport]


def detail_row(job: JobRecord) -> list[Any]:
    """An sdr row ``[index, number, port, ts]``; fdr adds ``reason, carrier``."""
    if job.state == JobState.SENT:
        return [job.idx, job.number, job.port, job.ts]
    return [job.idx, job.number, job.port, job.ts, job.reason, job.carrier]


@dataclass
class _Cache:
    url: str
    count: int
    period: int
    reports: list[TaskReport] = field(default_factory=list)
    marks: dict[int, int] = field(default_factory=dict)
    timer: Timer | None = None


class TaskReports:
    def __init__(self, outbox: Outbox, store: TaskStore, clock: Clock, settings: DeviceSettings) -> None:
        self._outbox = outbox
        self._store = store
        self._clock = clock
        self._settings = settings
        self._caches: dict[tuple[str, int, int], _Cache] = {}
        # Resolves once every outcome reported so far is durable (set by the send engine).
        self.barrier: Callable[[], asyncio.Future[None]] = _already_durable
        self._leaving: deque[_Leaving] = deque()
        # per sr_url: flushes leaving or in the outbox, not yet settled (delivered or given up)
        self._on_way: dict[str, int] = {}
        self._storing = False
        self._retry: Timer | None = None
        self.observer: TaskObserver | None = None
        self._drained: list[asyncio.Future[None]] = []
        self._periodic: dict[int, _Periodic] = {}  # by the tasks' sr_prd

    def _observe(self, event: Callable[..., None], *args: Any) -> None:
        try:
            event(*args)
        except Exception:  # counting must never stop a task or its reports
            log.exception("a task observer failed on %s", event.__name__)

    # --- per task --------------------------------------------------------

    def track(self, task: Task) -> None:
        """Start the task's periodic report (``sr_prd``)."""
        if self.observer is not None:
            self._observe(self.observer.task_opened, task)
        period = task.spec.sr_prd
        if period > 0:
            due = self._periodic.get(period)
            if due is None:
                due = self._periodic[period] = _Periodic(self._clock, period, self._periodic_report)
            due.add(task)

    def _periodic_report(self, task: Task) -> None:
        if not task.closed:
            self.emit(task)

    def job_done(self, task: Task, job: JobRecord) -> None:
        if self.observer is not None:
            self._observe(self.observer.job_done, task, job)
        ok = job.state == JobState.SENT
        if (ok and task.spec.sdr) or (not ok and task.spec.fdr):
            task.rows.append(detail_row(job))
        task.since_report += 1
        if task.since_report >= task.spec.sr_cnt and not task.is_complete:
            self.emit(task)

    def job_confirmed(self, task: Task, job: JobRecord) -> None:
        """An SMS reported failed (outcome unknown) was sent after all: its sdr row goes in the task's next
        report, whose counts carry the change."""
        if self.observer is not None:
            self._observe(self.observer.job_confirmed, task, job)
        if task.spec.sdr:
            task.rows.append(detail_row(job))
        task.since_report += 1

    def finished(self, task: Task) -> None:
        if self.observer is not None:
            self._observe(self.observer.task_finished, task)
        due = self._periodic.get(task.spec.sr_prd)
        if due is not None:
            due.discard(task)
        self.emit(task)

    def emit(self, task: Task) -> None:
        spec = task.spec
        rows = task.rows
        report = TaskReport(
            tid=spec.tid_echo,
            sending=task.sending,
            sent=task.sent,
            failed=task.failed,
            unsent=task.unsent,
            sdr=[r for r in rows if len(r) == 4] if spec.sdr else msgspec.UNSET,
            fdr=[r for r in rows if len(r) == 6] if spec.fdr else msgspec.UNSET,
        )
        if rows:
            task.rows = []
        task.since_report = 0
        self._enqueue(task, report)

    # --- the cache ---------------------------------------------------------

    def _enqueue(self, task: Task, report: TaskReport) -> None:
        opts = task.options
        url = opts.sr_url or self._settings["sr_url"]
        key = (url, opts.sr_cnt, opts.sr_prd)
        cache = self._caches.get(key)
        if cache is None:
            cache = self._caches[key] = _Cache(url, max(1, opts.sr_cnt), max(0, opts.sr_prd))
        cache.reports.append(report)
        cache.marks[task.id] = task.done_seq
        if len(cache.reports) >= cache.count:
            self._flush(key)
        elif cache.period == 0:
            if not self._on_way.get(url):
                self._flush(key)
            # else it leaves once what is on its way to ``url`` has settled (_settled)
        elif cache.timer is None:
            cache.timer = self._clock.call_later(cache.period, self._flush, key)

    def _flush(self, key: tuple[str, int, int]) -> None:
        cache = self._caches.pop(key, None)
        if cache is None or not cache.reports:
            return
        if cache.timer is not None:
            cache.timer.cancel()
        body = b""
        if cache.url:
            body = encode(StatusReportPush(type="status-report", rpt_num=len(cache.reports), rpts=cache.reports))
            self._on_way[cache.url] = self._on_way.get(cache.url, 0) + 1
        self._leaving.append(_Leaving(cache.url, body, list(cache.marks.items())))
        self._drain()

    def _settled(self, url: str) -> None:
        """A push to ``url`` left the outbox: the reports held for it (sr_prd 0) leave now."""
        left = self._on_way.get(url, 0) - 1
        if left > 0:
            self._on_way[url] = left
            return
        self._on_way.pop(url, None)
        for key in [k for k, c in self._caches.items() if c.url == url and c.period == 0]:
            self._flush(key)

    def flush_all(self) -> None:
        for key in list(self._caches):
            self._flush(key)

    # --- to the outbox, in order ----------------------------------------------

    def _drain(self) -> None:
        if self._storing or self._retry is not None or not self._leaving:
            return
        self._storing = True
        self.barrier().add_done_callback(self._outcomes_durable)

    def _outcomes_durable(self, _: asyncio.Future[None]) -> None:
        head = self._leaving[0]
        stored: asyncio.Future[Any]
        if head.url:
            url = head.url
            stored = self._outbox.push(
                url,
                "status-report",
                head.body,
                marks=PushMarks(reported=head.marks),
                settled=lambda: self._settled(url),
            )
            taken = 1
        else:
            # Nowhere to report to: the progress counts as reported (get_tasks still shows tasks).  Every
            # such flush waiting in front goes in one write.
            marks: list[tuple[int, int]] = []
            taken = 0
            for leaving in self._leaving:
                if leaving.url:
                    break
                marks.extend(leaving.marks)
                taken += 1
            stored = self._store.tasks_reported(marks)
        stored.add_done_callback(lambda fut: self._stored_or_not(fut, taken))

    def _stored_or_not(self, fut: asyncio.Future[Any], taken: int) -> None:
        self._storing = False
        if fut.cancelled() or fut.exception() is not None:
            # Stays in front: a later report must not overtake it.
            self._retry = self._clock.call_later(1.0, self._try_again)
            return
        for _ in range(taken):
            self._leaving.popleft()
        self._drain()
        if not self._leaving:
            for waiter in self._drained:
                if not waiter.done():
                    waiter.set_result(None)
            self._drained.clear()

    def drained(self) -> asyncio.Future[None]:
        """Resolves once every flushed report is stored (in the outbox, or marked reported)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._leaving:
            self._drained.append(fut)
        else:
            fut.set_result(None)
        return fut

    def _try_again(self) -> None:
        self._retry = None
        self._drain()


class _Periodic:
    """The periodic reports of every open task with one ``sr_prd``: one clock timer, not one per task.

    Tasks are due in the order they were added (each ``period`` seconds after it, then again every
    ``period`` seconds), so they wait in that order and the timer is set for the first.  A task that
    closes leaves at once (a task of one recipient is mostly done long before its first period).
    """

    def __init__(self, clock: Clock, period: int, report: Callable[[Task], None]) -> None:
        self._clock = clock
        self._period = period
        self._report = report
        self._due: OrderedDict[int, tuple[float, Task]] = OrderedDict()  # by task id, earliest first
        self._timer: Timer | None = None

    def add(self, task: Task) -> None:
        if task.id in self._due:
            return
        self._due[task.id] = (self._clock.monotonic() + self._period, task)
        if self._timer is None:
            self._timer = self._clock.call_later(self._period, self._fire)

    def discard(self, task: Task) -> None:
        self._due.pop(task.id, None)  # the timer stays: it finds the next task due when it fires

    def _fire(self) -> None:
        self._timer = None
        now = self._clock.monotonic()
        due = self._due
        while due:
            task_id, (at, task) = next(iter(due.items()))
            if at > now:
                self._timer = self._clock.call_later(at - now, self._fire)
                return
            del due[task_id]
            due[task_id] = (now + self._period, task)  # its next report, behind every task due before
            self._report(task)


@dataclass
class _Leaving:
    url: str  # "": nowhere to push, only marked as reported
    body: bytes
    marks: list[tuple[int, int]]


def _already_durable() -> asyncio.Future[None]:
    fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    fut.set_result(None)
    return fut
