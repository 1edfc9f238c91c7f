"""Sending endpoints (spec 6.3): goip_post_sms, pause/resume/remove, goip_get_tasks."""

from __future__ import annotations

from typing import Any

import msgspec

from ..gateway.runtime import Gateway
from ..gateway.sending.states import TaskState
from ..protocol.codes import ResultCode, TaskStatus
from ..protocol.messages import WireError, decode_lenient
from ..protocol.sms import SendSmsRequest, tid_of_raw
from .endpoint import ApiError, ApiRequest, endpoint, flag, integer


class TaskStatusItem(msgspec.Struct):
    tid: Any
    status: str


class TaskStatusReply(msgspec.Struct):
    code: int
    reason: str
    type: str
    status: list[TaskStatusItem]


class ResultsReply(msgspec.Struct, omit_defaults=True):
    code: int
    reason: str
    results: list[TaskStatusItem] | None = None


class QueuedTaskOut(msgspec.Struct, omit_defaults=True):
    tid: Any
    state: int
    from_: str = msgspec.field(name="from")
    to: str
    chs: str
    coding: int
    sms: str | msgspec.UnsetType = msgspec.UNSET


class TasksReply(msgspec.Struct):
    code: int
    reason: str
    total_num: int
    task_num: int
    tasks: list[QueuedTaskOut]


def _items(pairs: list[tuple[Any, TaskStatus]]) -> list[TaskStatusItem]:
    return [TaskStatusItem(tid=tid, status=status.label) for tid, status in pairs]


def _all_invalid_user(req: ApiRequest) -> TaskStatusReply:
    try:
        tasks = decode_lenient(req.body, SendSmsRequest).tasks or []
    except WireError:
        tasks = []
    return TaskStatusReply(
        code=ResultCode.OK_HTTP,
        reason="OK",
        type="task-status",
        status=[TaskStatusItem(tid=tid_of_raw(t), status=TaskStatus.INVALID_USER.label) for t in tasks],
    )


@endpoint(invalid_user=_all_invalid_user)
async def post_sms(req: ApiRequest, gw: Gateway) -> TaskStatusReply:
    request = req.json(SendSmsRequest)
    if request.tasks is None:
        raise ApiError(ResultCode.BAD_REQUEST, 'tasks is missing: {"type":"send-sms","tasks":[...]}', 400)
    results = await gw.sending.accept(request)
    return TaskStatusReply(code=ResultCode.OK_HTTP, reason="OK", type="task-status", status=_items(results))


class _Tids(msgspec.Struct):
    tids: list[Any] | None = None


def _tids(req: ApiRequest, limit: int) -> list[Any] | None:
    if not req.has_body():
        return None
    tids = req.json(_Tids).tids
    if tids is not None and not isinstance(tids, list):
        raise ApiError(ResultCode.BAD_REQUEST, "tids is an array of task ids", 400)
    # Bounded so that one request cannot hold the device for seconds (and answer megabytes).
    if tids is not None and len(tids) > limit:
        raise ApiError(
            ResultCode.BAD_REQUEST,
            f"{len(tids)} tids in one request; at most {limit} (send them in several requests)",
            400,
        )
    return tids


def _change(op: str):
    async def handler(req: ApiRequest, gw: Gateway) -> ResultsReply:
        tids = _tids(req, gw.config.max_tasks_per_request)
        results = await getattr(gw.sending, op)(tids)
        return ResultsReply(code=ResultCode.OK_HTTP, reason="OK", results=_items(results) if tids is not None else None)

    handler.__name__ = f"{op}_sms"
    return endpoint()(handler)


pause_sms = _change("pause")
resume_sms = _change("resume")
remove_sms = _change("remove")


@endpoint()
async def get_tasks(req: ApiRequest, gw: Gateway) -> TasksReply:
    if not req.param("port"):
        raise ApiError(ResultCode.BAD_REQUEST, "port is required (a port number, from 1)", 400)
    port = integer(req.param("port"), "port", default=0, minimum=1)
    if not 1 <= port <= gw.size.ports:
        raise ApiError(ResultCode.INVALID_PORT, f"port must be 1 to {gw.size.ports}")
    pos = integer(req.param("pos"), "pos", default=0, minimum=0)
    num = integer(req.param("num"), "num", default=10, minimum=0)
    content = flag(req.param("has_content"), "has_content")
    total, page = await gw.sending.waiting_on_port(port, pos, num)
    tasks = [
        QueuedTaskOut(
            tid=t.spec.tid_echo,
            state=1 if t.state == TaskState.PAUSED else 0,  # the spec's get_tasks: 1 paused, 0 waiting
            from_=t.spec.from_text,
            to=to,
            chs=t.spec.chs,
            coding=t.spec.coding,
            sms=t.spec.sms if content else msgspec.UNSET,
        )
        for t, to in page
    ]
    return TasksReply(code=ResultCode.OK_HTTP, reason="OK", total_num=total, task_num=len(tasks), tasks=tasks)
