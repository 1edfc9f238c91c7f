"""Sending endpoints (spec 6.3): goip_post_sms, pause/resume/remove, goip_get_tasks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import msgspec

from ..gateway.sending.engine import SendEngine
from ..protocol.answers import QueuedTaskOut, ResultsReply, TasksReply, TaskStatusItem, TaskStatusReply
from ..protocol.codes import ResultCode, TaskStatus
from ..protocol.messages import WireError, decode_lenient
from ..protocol.ports import DeviceSize
from ..protocol.sms import SendSmsRequest, echo_tid, tid_of_raw
from ..protocol.task_states import TaskState
from .endpoint import RESERVED, ApiError, ApiRequest, WebHandler, endpoint, flag, integer


class SendingConfig(Protocol):
    @property
    def max_tasks_per_request(self) -> int: ...


class SendingParts(Protocol):
    """What the sending endpoints use of a gateway."""

    @property
    def sending(self) -> SendEngine: ...
    @property
    def size(self) -> DeviceSize: ...
    @property
    def config(self) -> SendingConfig: ...


def _items(outcomes: Sequence[tuple[Any, TaskStatus] | tuple[Any, TaskStatus, str]]) -> list[TaskStatusItem]:
    # a tid is echoed as sent when it is a scalar; anything else (a nested array a client sent) as null
    return [TaskStatusItem(tid=echo_tid(o[0]), status=o[1].label, reason=o[2] if len(o) > 2 else "") for o in outcomes]


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


Outcomes = Sequence[tuple[Any, TaskStatus] | tuple[Any, TaskStatus, str]]


# The device argument of ``accept``, ``change`` and ``limit`` is the app's DEVICE, as their handler gets it.
def send_endpoint(accept: Callable[[Any, SendSmsRequest], Awaitable[Outcomes]]) -> WebHandler:
    """goip_post_sms.html for a device (a gateway, or a fleet of them): ``accept`` answers a status per task."""

    async def post_sms(req: ApiRequest, device: Any) -> TaskStatusReply:
        request = req.json(SendSmsRequest)
        if request.tasks is None:
            raise ApiError(ResultCode.BAD_REQUEST, 'tasks is missing: {"type":"send-sms","tasks":[...]}', 400)
        results = await accept(device, request)
        return TaskStatusReply(code=ResultCode.OK_HTTP, reason="OK", type="task-status", status=_items(results))

    return endpoint(invalid_user=_all_invalid_user)(post_sms)


def change_endpoints(
    change: Callable[[Any, str, list[Any] | None], Awaitable[Sequence[tuple[Any, TaskStatus]]]],
    limit: Callable[[Any], int],
) -> tuple[WebHandler, WebHandler, WebHandler]:
    """goip_pause/resume/remove_sms.html for a device: ``change(device, op, tids)`` (None: every task)."""

    def one(op: str) -> WebHandler:
        async def handler(req: ApiRequest, device: Any) -> ResultsReply:
            tids = _tids(req, limit(device))
            results = await change(device, op, tids)
            items = _items(results) if tids is not None else None
            return ResultsReply(code=ResultCode.OK_HTTP, reason="OK", results=items)

        handler.__name__ = f"{op}_sms"
        return endpoint()(handler)

    return one("pause"), one("resume"), one("remove")


async def _accept(gw: SendingParts, request: SendSmsRequest) -> Outcomes:
    return await gw.sending.accept(request)


post_sms = send_endpoint(_accept)


def _tid_items(value: Any, where: str) -> list[Any]:
    """tids as an array, a comma-separated string ("5002,5003", the spec tables' type) or one id."""
    if isinstance(value, list):
        items: list[Any] = []
        for v in value:
            items.extend(_tid_items(v, where) if isinstance(v, str) else [v])
        return items
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    reason = f"tids in the {where} is an array of task ids, a string such as 5002,5003, or one id"
    raise ApiError(ResultCode.BAD_REQUEST, reason, 400)


def _body_tids(req: ApiRequest) -> list[Any] | None:
    """tids from the body (JSON or form); None when the body names none ("every task")."""
    if not req.has_body():
        return None
    if req.body_is_json():
        body = req.json(Any)
        if isinstance(body, list):  # the spec's prose: "a JSON array composed by one or more task ID"
            return _tid_items(body, "body")
        if not isinstance(body, dict):
            raise ApiError(ResultCode.BAD_REQUEST, 'the body is a JSON object: {"tids":[...]}', 400)
        pairs = list(body.items())
    else:
        pairs = req.form()
    tids = [v for k, v in pairs if k.lower() == "tids"]
    others = sorted({k for k, _ in pairs if k.lower() != "tids" and k.lower() not in RESERVED})
    if not tids:
        if others:
            # A misspelt key must not mean "every task": one client bug would wipe the queue.
            raise ApiError(
                ResultCode.BAD_REQUEST,
                f"the body names no tids (it has {', '.join(others)}); "
                'send {"tids":[...]} for some tasks, or no body (or {}) for every task',
                400,
            )
        return None
    return [t for v in tids for t in _tid_items(v, "body")]


def _tids(req: ApiRequest, limit: int) -> list[Any] | None:
    """tids from the query (``?tids=5002,5003``) and the body; None: no tids anywhere, every task."""
    in_query = req.query.getall("tids", [])
    from_query = [t for v in in_query for t in _tid_items(v, "query")] if in_query else None
    from_body = _body_tids(req)
    if from_query is None and from_body is None:
        return None
    tids = [*(from_query or []), *(from_body or [])]
    # Bounded so that one request cannot hold the device for seconds (and answer megabytes).
    if len(tids) > limit:
        raise ApiError(
            ResultCode.BAD_REQUEST,
            f"{len(tids)} tids in one request; at most {limit} (send them in several requests)",
            400,
        )
    return tids


async def _change(gw: SendingParts, op: str, tids: list[Any] | None) -> list[tuple[Any, TaskStatus]]:
    change = {"pause": gw.sending.pause, "resume": gw.sending.resume, "remove": gw.sending.remove}[op]
    return await change(tids)


def _limit(gw: SendingParts) -> int:
    return gw.config.max_tasks_per_request


pause_sms, resume_sms, remove_sms = change_endpoints(_change, _limit)


# The spec's get_tasks states: 0 waiting, 1 paused; 2 (ours) closed: finished or removed.
_QUEUE_STATE = {TaskState.PAUSED: 1, TaskState.FINISHED: 2, TaskState.REMOVED: 2}


@endpoint()
async def get_tasks(req: ApiRequest, gw: SendingParts) -> TasksReply:
    if not req.param("port"):
        raise ApiError(ResultCode.BAD_REQUEST, "port is required (a port number, from 1)", 400)
    port = integer(req.param("port"), "port", default=0, minimum=1)
    if not 1 <= port <= gw.size.ports:
        raise ApiError(ResultCode.INVALID_PORT, f"port must be 1 to {gw.size.ports}")
    pos = integer(req.param("pos"), "pos", default=0, minimum=0)
    num = integer(req.param("num"), "num", default=10, minimum=0)
    content = flag(req.param("has_content"), "has_content")
    tids = _tids(req, gw.config.max_tasks_per_request)  # optional filter (spec 6.3.6)
    total, page = await gw.sending.waiting_on_port(port, pos, num, tids)
    if tids is not None and flag(req.param("closed"), "closed"):
        # ours (docs/decisions.md): the named tasks this device had and closed, state 2, after the waiting
        closed = await gw.sending.closed_on_port(port, tids)
        rest = closed[max(0, pos - total) :]  # positions go on past the waiting ones
        page = page + (rest[: max(0, num - len(page))] if num > 0 else rest)
        total += len(closed)
    tasks = [
        QueuedTaskOut(
            tid=t.spec.tid_echo,
            state=_QUEUE_STATE.get(t.state, 0),
            from_=t.spec.from_text,
            to=to,
            chs=t.spec.chs,
            coding=t.spec.coding,
            sms=t.spec.sms if content else msgspec.UNSET,
        )
        for t, to in page
    ]
    return TasksReply(code=ResultCode.OK_HTTP, reason="OK", total_num=total, task_num=len(tasks), tasks=tasks)
