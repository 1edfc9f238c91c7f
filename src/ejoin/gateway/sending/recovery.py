"""Crash recovery: the queue as it was, before the modules start.

Jobs still "in a module" become failed ("interrupted by restart"): the SMS may
or may not have left, so it is never sent again; with delivery reports asked
for, a report from the network proves it left and corrects it (unconfirmed.py).  Every recipient without a
job row is queued again, so no acknowledged recipient is lost.  Progress done
but never reported is reported.
"""

from __future__ import annotations

import logging

import msgspec

from ...protocol.codes import SendFailure
from ...protocol.sms import TaskSpec
from ...protocol.task_states import JobState, TaskState
from ...protocol.text import segment
from ...store.base import TaskRecord, TaskStore
from ..reports import detail_row
from .tasks import RequestOptions, Task
from .unconfirmed import Unconfirmed

log = logging.getLogger(__name__)


async def interrupted(store: TaskStore, now: int) -> None:
    jobs = await store.jobs_interrupted(now, SendFailure.INTERRUPTED)
    if jobs:
        log.warning("%d SMS were in a module when the device stopped; reported as failed", len(jobs))


async def unconfirmed(store: TaskStore) -> list[Unconfirmed]:
    """SMS of kept tasks with delivery reports whose outcome is unknown (interrupted, timed out, taken
    by a module that went away), oldest first: a report may still prove them sent."""
    jobs = await store.jobs_failed_for(sorted(SendFailure.UNCONFIRMED))
    if not jobs:
        return []
    parts: dict[int, int] = {}  # task id -> parts of its SMS, for tasks with delivery reports
    for rec in await store.tasks_by_id(sorted({j.task_id for j in jobs})):
        spec = msgspec.msgpack.decode(rec.spec, type=TaskSpec)
        if spec.dr:
            parts[rec.id] = segment(spec.text, spec.coding).count
    return [
        Unconfirmed(j.task_id, j.lane, j.idx, j.number, j.port, j.ts, parts[j.task_id])
        for j in jobs
        if j.task_id in parts
    ]


async def restore(store: TaskStore, rec: TaskRecord) -> Task:
    """The task as stored: lanes' cursors past every recipient that has a job, the gaps queued again,
    the rows of done but unreported SMS ready for its next report."""
    spec = msgspec.msgpack.decode(rec.spec, type=TaskSpec)
    options = msgspec.msgpack.decode(rec.request, type=RequestOptions)
    task = Task(rec.id, spec, rec.n, options, store)
    task.state = TaskState(rec.state)
    task.sent, task.failed, task.done_seq = rec.sent, rec.failed, rec.done_seq
    for lane in task.lanes:
        count, max_idx = rec.lane_jobs.get(lane.index, [0, -1])
        lane.cursor = max_idx + 1
        if count < lane.cursor:  # handed out but never started before the crash
            started = set(await store.jobs_of_lane(task.id, lane.index))
            lane.requeue = [i for i in range(lane.cursor) if i not in started]
        task.claimed += lane.cursor - len(lane.requeue)
    if rec.reported_seq < rec.done_seq:
        for job in await store.jobs_done_since(task.id, rec.reported_seq):
            if (job.state == JobState.SENT and spec.sdr) or (job.state == JobState.FAILED and spec.fdr):
                task.rows.append(detail_row(job))
    return task
