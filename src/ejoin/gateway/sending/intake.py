"""Intake of goip_post_sms: every task validated alone, the good ones committed before the answer."""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from ...protocol.codes import TaskStatus
from ...protocol.messages import WireError, decode_lenient
from ...protocol.ports import DeviceSize
from ...protocol.sms import (
    SendSmsRequest,
    SendTaskIn,
    TaskRejected,
    TaskSpec,
    echo_tid,
    tid_of_raw,
    validate_task,
)
from ...store.base import TaskStore
from ..settings import DeviceSettings
from .tasks import CHUNK, RequestOptions, Task, chunks_of, request_options
from .turns import TurnBatch

log = logging.getLogger(__name__)

# (tid as sent, status) or, for a refusal with a reason, (tid as sent, status, reason)
Results = list[tuple[Any, TaskStatus] | tuple[Any, TaskStatus, str]]


class Intake:
    def __init__(
        self,
        size: DeviceSize,
        store: TaskStore,
        *,
        max_tasks: int,
        max_recipients: int,
        max_per_request: int,
        settings: DeviceSettings | None,
    ) -> None:
        self._size = size
        self._store = store
        self._max_tasks = max_tasks
        self._max_recipients = max_recipients
        self._max_per_request = max_per_request
        self._settings = settings
        # Tasks of concurrent requests share a store write (a task per request is the common case).
        self._adds: TurnBatch[tuple[int, bytes, int, bytes, float, list[str]]] = TurnBatch(
            lambda rows: store.tasks_add(rows), "send tasks"
        )
        # tids of tasks being stored: open for duplicates and limits, though not in the queue yet
        self._storing: dict[int, int] = {}

    def sort(
        self, request: SendSmsRequest, open_tids: dict[int, Any]
    ) -> tuple[Results, list[tuple[int, TaskSpec]], RequestOptions | None]:
        """A status per task, the good tasks (with their place in the answer), and the request's options."""
        results: Results = []
        good: list[tuple[int, TaskSpec]] = []
        tids_here: set[int] = set()
        if request.type not in (None, "", "send-sms"):
            return [(tid_of_raw(raw), TaskStatus.INVALID_CMD) for raw in request.tasks or []], [], None
        try:
            options = request_options(request)
        except TaskRejected as exc:
            return [(tid_of_raw(raw), exc.status, exc.why) for raw in request.tasks or []], [], None
        storing = self._storing
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
                spec = validate_task(task_in, self._size, max_recipients=self._max_recipients)
                if spec.tid in open_tids or spec.tid in tids_here or spec.tid in storing:
                    raise TaskRejected(TaskStatus.DUPLICATED_TASK_ID, f"task {spec.tid} is still open")
                if len(open_tids) + len(storing) + len(good) >= self._max_tasks:
                    raise TaskRejected(TaskStatus.TOO_MANY_TASK, f"{self._max_tasks} tasks are open")
            except TaskRejected as exc:
                results.append((echo_tid(task_in.tid), exc.status, exc.why))
                continue
            tids_here.add(spec.tid)
            good.append((len(results), spec))
            results.append((spec.tid_echo, TaskStatus.OK))
        self._revise_inbound_target(request, options)
        return results, good, options

    def _revise_inbound_target(self, request: SendSmsRequest, opts: RequestOptions) -> None:
        """A send request may revise where received SMS are pushed (spec 7.2.1)."""
        if self._settings is None:
            return
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

    async def commit(self, specs: list[TaskSpec], options: RequestOptions, now: float) -> list[Task]:
        """Store the tasks (acknowledged only once this returns) and make their in-memory form."""
        packed_options = msgspec.msgpack.encode(options)
        rows = []
        kept = []  # each spec as stored and held: its recipients are in chunks
        for spec in specs:
            recipients = spec.recipients
            stored = msgspec.structs.replace(spec, recipients=[])
            kept.append(stored)
            rows.append(
                (spec.tid, msgspec.msgpack.encode(stored), len(recipients), packed_options, now, chunks_of(recipients))
            )
        storing = self._storing
        for spec in specs:
            storing[spec.tid] = storing.get(spec.tid, 0) + 1
        try:
            ids = await self._adds.add(rows)
        finally:
            for spec in specs:
                left = storing[spec.tid] - 1
                if left:
                    storing[spec.tid] = left
                else:
                    del storing[spec.tid]
        tasks = []
        for task_id, spec, stored in zip(ids, specs, kept, strict=False):
            task = Task(task_id, stored, len(spec.recipients), options, self._store)
            task.keep_chunk(0, spec.recipients[:CHUNK])
            tasks.append(task)
        return tasks

    async def accept(
        self, request: SendSmsRequest, open_tids: dict[int, Any], now: float
    ) -> tuple[Results, list[Task]]:
        results, good, options = self.sort(request, open_tids)
        tasks: list[Task] = []
        if good and options is not None:
            try:
                tasks = await self.commit([spec for _, spec in good], options, now)
            except Exception:
                log.exception("could not store send tasks")
                for i, _ in good:
                    results[i] = (results[i][0], TaskStatus.SERVER_ERROR)
        return results, tasks
