"""What the device did since it started, kept in memory for metrics and the dashboard.

Counters are fed by the parts that do the work (task reports, the inbox, the push
transport) as it happens, so a metrics scrape or a dashboard refresh reads plain
numbers and never asks the store.  They count from the start of the process, as
Prometheus counters do; the day's figures of the statistics API stay in the store.
"""

from __future__ import annotations

import heapq
import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..clock import Clock
from ..protocol.task_states import JobState, TaskState
from ..store.base import InboxRecord, JobRecord, RawRecord
from .outbox import PushTransport, _safe_url

if TYPE_CHECKING:
    from .sending.tasks import Task

TASK_STATES = {TaskState.QUEUED: "queued", TaskState.PAUSED: "paused", TaskState.REMOVED: "removed"}  # else finished
RECENT_TASKS = 200  # finished tasks remembered for the dashboard
# Push destinations are counted by name.  The device's configured push URLs (sms_url, sr_url, mms_url,
# status_url) always are; other destinations (a send request's own sr_url or sms_url, such as each
# `ejoin send` run's) get a name while fewer than this many of them have one, and then share "other":
# temporary URLs can never take the label of a configured one.  A destination dropped with ``forget``
# gives its name back.
MAX_DESTINATIONS = 32
OTHER = "other"
FAILURE_MINUTES = 24 * 60  # failures by reason are kept per minute this long (the dashboard's "today")


def dr_outcome(content: str) -> str:
    """A delivery report's outcome class from its TP-Status (3GPP TS 23.040 9.2.3.15)."""
    try:
        status = int(content.split(" ", 1)[0])
    except ValueError:
        return "unknown"
    if status < 0x20:
        return "delivered"
    if status < 0x40:
        return "pending"
    return "failed"


def failure_reason(job: JobRecord) -> str:
    """Why an SMS failed, as a person reads it: the network's reason where it gave one
    ("21 Short message transfer rejected"), else the device's ("6 Timeout"), as ``ejoin send`` shows."""
    return job.carrier or job.reason or "no reason given"


@dataclass(frozen=True)
class TaskSummary:
    """A task as the dashboard lists it; finished tasks are kept only in this form (no numbers held)."""

    id: int
    tid: int | str
    ports: str  # the ports of ``from``, "any" without
    total: int
    sent: int
    failed: int
    sending: int
    unsent: int
    state: str  # queued, paused, removed, finished
    text: str
    n: int  # recipients per lane
    lanes: int


def summarize(task: Task) -> TaskSummary:
    ports = sorted({name for lane in task.lanes for name in lane.spec.ports})
    return TaskSummary(
        id=task.id,
        tid=task.spec.tid_echo,
        ports=",".join(ports) or "any",
        total=task.total,
        sent=task.sent,
        failed=task.failed,
        sending=task.sending,
        unsent=task.unsent,
        state=TASK_STATES.get(task.state, "finished"),
        text=task.spec.text[:80],
        n=task.n,
        lanes=len(task.lanes),
    )


@dataclass
class DestinationStats:
    attempts: int = 0
    failures: int = 0
    delivered: int = 0
    last_error: str = ""
    last_error_at: float = 0.0
    last_success_at: float = 0.0


class Activity:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.started = clock.time()
        self.sms_sent: dict[int, int] = {}  # by port
        self.sms_failed: dict[int, int] = {}
        # counted in sms_failed (outcome unknown), then proven sent by a delivery report: counters only grow
        self.sms_confirmed: dict[int, int] = {}
        self.sms_received: dict[int, int] = {}
        self.raw_received: dict[int, int] = {}  # by port: messages kept as their raw PDU
        self.delivery_reports: dict[str, int] = {}  # by outcome
        # Failed SMS per minute and reason (the carrier's when the network gave one): the store counts
        # failures per slot and minute, not why, and job rows go with their task (task_retention).
        self.failures: dict[int, dict[str, int]] = {}
        self.listeners: list[Callable[[int], None]] = []  # told the port of each SMS outcome and reception
        self.open: dict[int, Task] = {}  # open tasks by store id
        self.first_seen: dict[int, float] = {}  # open task id -> when it was opened
        # finished tasks, newest last: summarized when read (most are never read; at thousands of
        # tasks a second the summaries cost more than keeping the tasks, which hold no numbers then)
        self._finished: OrderedDict[int, Task] = OrderedDict()
        self.destinations: dict[str, DestinationStats] = {}
        self._unconfigured: set[str] = set()  # names of destinations that were no configured URL
        # The device's configured push URLs now (set by the gateway once its settings exist).
        self.configured: Callable[[], Iterable[str]] = tuple
        self.tids_issued = 0

    # --- task reports (gateway/reports.py) --------------------------------------

    def task_opened(self, task: Task) -> None:
        self.open[task.id] = task
        self.first_seen.setdefault(task.id, self._clock.time())

    def job_done(self, task: Task, job: JobRecord) -> None:
        port = _port_number(job.port)
        counts = self.sms_sent if job.state == JobState.SENT else self.sms_failed
        counts[port] = counts.get(port, 0) + 1
        if job.state != JobState.SENT:
            self._failed(job.ts // 60, failure_reason(job))
        for listener in self.listeners:
            listener(port)

    def _failed(self, minute: int, reason: str) -> None:
        bucket = self.failures.get(minute)
        if bucket is None:
            bucket = self.failures[minute] = {}
            for old in [m for m in self.failures if m <= minute - FAILURE_MINUTES]:
                del self.failures[old]
        bucket[reason] = bucket.get(reason, 0) + 1

    def failures_since(self, minute: int) -> dict[str, int]:
        """Failed SMS by reason from ``minute`` on (at most a day back), most frequent first."""
        total: dict[str, int] = {}
        for m, bucket in self.failures.items():
            if m >= minute:
                for reason, n in bucket.items():
                    total[reason] = total.get(reason, 0) + n
        return dict(sorted(total.items(), key=lambda item: (-item[1], item[0])))

    def job_confirmed(self, task: Task, job: JobRecord) -> None:
        port = _port_number(job.port)
        self.sms_confirmed[port] = self.sms_confirmed.get(port, 0) + 1
        if task.id in self._finished:
            self._finished[task.id] = task  # read back from the store: this copy has the corrected counts

    def task_finished(self, task: Task) -> None:
        self.open.pop(task.id, None)
        self.first_seen.pop(task.id, None)
        self._finished[task.id] = task
        self._finished.move_to_end(task.id)
        if len(self._finished) > RECENT_TASKS:
            self._finished.popitem(last=False)

    @property
    def recent(self) -> dict[int, TaskSummary]:
        """Recently finished tasks by store id, newest last."""
        return {task_id: summarize(task) for task_id, task in self._finished.items()}

    # --- the inbox (gateway/receiving.py) --------------------------------------------

    def received(self, rec: InboxRecord) -> None:
        if rec.flag == 0:
            port = _port_number(rec.port)
            self.sms_received[port] = self.sms_received.get(port, 0) + 1
        else:
            outcome = dr_outcome(rec.content)
            self.delivery_reports[outcome] = self.delivery_reports.get(outcome, 0) + 1
        for listener in self.listeners:
            listener(_port_number(rec.port))

    def received_raw(self, rec: RawRecord) -> None:
        port = _port_number(rec.port)
        self.raw_received[port] = self.raw_received.get(port, 0) + 1

    # --- pushes ------------------------------------------------------------------

    def destination(self, url: str) -> DestinationStats:
        name = self.label(url)
        stats = self.destinations.get(name)
        if stats is None:
            stats = self.destinations[name] = DestinationStats()
            if name != OTHER and not self._is_configured(name):
                self._unconfigured.add(name)
        return stats

    def forget(self, url: str) -> None:
        """A destination that is gone (dropped with ``forget``): its counts and its name go."""
        name = _safe_url(url)
        if name in self._unconfigured:
            self._unconfigured.discard(name)
            self.destinations.pop(name, None)

    def _is_configured(self, safe: str) -> bool:
        return any(_safe_url(u) == safe for u in self.configured() if u)

    def tasks(self, limit: int = RECENT_TASKS) -> list[TaskSummary]:
        """The newest ``limit`` tasks, open or recently finished, newest first."""
        newest = heapq.nlargest(limit, itertools.chain(self.open, self._finished))
        return [summarize(self.open[i] if i in self.open else self._finished[i]) for i in newest]

    def task(self, task_id: int) -> TaskSummary | None:
        task = self.open.get(task_id) or self._finished.get(task_id)
        return summarize(task) if task is not None else None

    def label(self, url: str) -> str:
        """How a destination is named in metrics and pages (never with user:password)."""
        safe = _safe_url(url)
        if safe in self.destinations or len(self._unconfigured) < MAX_DESTINATIONS or self._is_configured(safe):
            return safe
        return OTHER

    def queue(self) -> tuple[int, float]:
        """SMS not yet handed to a module over every open task, and how long the oldest such task waits."""
        unsent = 0
        oldest: float | None = None
        for task in self.open.values():
            if task.unsent:
                unsent += task.unsent
                since = self.first_seen.get(task.id, self.started)
                oldest = since if oldest is None else min(oldest, since)
        return unsent, 0.0 if oldest is None else max(0.0, self._clock.time() - oldest)


def _port_number(name: str) -> int:
    """1 from "1.02", "1A" or "1"."""
    digits = ""
    for c in name:
        if not c.isdigit():
            break
        digits += c
    return int(digits) if digits else 0


class MeteredTransport(PushTransport):
    """A push transport that counts tries, failures and deliveries per destination."""

    def __init__(self, inner: PushTransport, activity: Activity, clock: Clock) -> None:
        self._inner = inner
        self._activity = activity
        self._clock = clock

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        stats = self._activity.destination(url)
        stats.attempts += 1
        try:
            status = await self._inner.post(url, body, headers)
        except Exception as exc:
            self._failed(stats, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
            raise
        if 200 <= status < 300:
            stats.delivered += 1
            stats.last_success_at = self._clock.time()
        else:
            self._failed(stats, f"HTTP {status}")
        return status

    def _failed(self, stats: DestinationStats, error: str) -> None:
        stats.failures += 1
        stats.last_error = error[:200]
        stats.last_error_at = self._clock.time()

    async def close(self) -> None:
        await self._inner.close()
