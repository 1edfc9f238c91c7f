"""Every endpoint as a ``Call``: what to send and how to read the answer. No I/O.

``Client`` and ``AsyncClient`` only execute calls, so both speak exactly the
same API.  Each call is made ``to`` an operation (``protocol/operations.py``): its
path, and whether it may be sent again after a network failure (a query may; sending
SMS or a command may not), come from there; bodies are the operation's request Structs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeAlias, TypeVar
from urllib.parse import urlencode

import msgspec

from ..protocol import operations
from ..protocol.codes import ResultCode
from ..protocol.messages import CommandItem, CommandRequest
from ..protocol.operations import Operation
from ..protocol.requests import AT_TIMEOUT, USSD_TIMEOUT, MemberAdd, MemberRemove, PushTarget, TidsBody
from .errors import NotAnEjoinDevice, error_for
from .models import (
    AtAnswer,
    CallStat,
    DevStatus,
    EsimResult,
    Euicc,
    InboxPage,
    PushQueue,
    SmsStat,
    TaskPage,
    TaskResult,
    UssdAnswer,
)
from .tasks import SendTask

T = TypeVar("T")
Ports: TypeAlias = str | int | Iterable[str | int] | None  # "1.01", 3, "1-4", "all", [1, "2.02"]
_encoder = msgspec.json.Encoder()


@dataclass
class Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[dict[str, Any]], T]
    params: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    content_type: str = "application/json"
    idempotent: bool = True
    ok_codes: tuple[int, ...] = (0, 200)
    wait: float | None = None  # seconds the device may take to answer, when longer than usual

    def read(self, http_status: int, payload: bytes) -> T:
        try:
            answer = msgspec.json.decode(payload)
        except msgspec.DecodeError:
            raise NotAnEjoinDevice(
                ResultCode.BAD_REQUEST, f"the device answered HTTP {http_status} with no JSON", http_status
            ) from None
        if not isinstance(answer, dict):
            raise NotAnEjoinDevice(
                ResultCode.BAD_REQUEST, "the device answered JSON that is not an object", http_status
            )
        code = answer.get("code")
        if isinstance(code, int) and code not in self.ok_codes:
            raise error_for(code, str(answer.get("reason") or answer.get("desc") or ""), http_status)
        return self.parse(answer)

    @classmethod
    def to(
        cls,
        operation: Operation,
        parse: Callable[[dict[str, Any]], T],
        params: dict[str, str] | None = None,
        body: bytes | None = None,
        *,
        content_type: str = "application/json",
        idempotent: bool | None = None,
        wait: float | None = None,
    ) -> Call[T]:
        """A call of ``operation``: GET with no body, else POST; ``idempotent`` where this form of the
        request differs from the operation's (op get of goip_send_cmd, an inbox read that deletes nothing)."""
        method = "GET" if body is None else "POST"
        if method not in operation.serve:
            raise ValueError(f"{operation.path} is not served by {method}")
        again = operation.idempotent if idempotent is None else idempotent
        return cls(method, operation.path, parse, params or {}, body, content_type, again, wait=wait)


def _as(kind: type[T]) -> Callable[[dict[str, Any]], T]:
    return lambda answer: msgspec.convert(answer, kind, strict=False)


def _json(obj: Any) -> bytes:
    return _encoder.encode(obj)


def _flag(value: bool) -> str:
    return "1" if value else "0"


def _ports(ports: Ports) -> str | None:
    if ports is None or isinstance(ports, (str, int)):
        return None if ports is None else str(ports)
    return ",".join(str(p) for p in ports)


# --- status and commands -----------------------------------------------------


def status(
    *, all_sims: bool = False, all_slots: bool = False, url: str | None = None, period: int | None = None
) -> Call[DevStatus]:
    params = {}
    if all_sims:
        params["all_sims"] = "1"
    if all_slots:
        params["all_slots"] = "1"
    if url is not None:
        params["url"] = url
    if period is not None:
        params["period"] = str(period)
    # with url or period it also changes the status pushes: not sent again blindly
    return Call.to(operations.GET_STATUS, _as(DevStatus), params, idempotent=url is None and period is None)


def _ok(answer: dict[str, Any]) -> None:
    return None


def command(op: str, ports: Ports = None) -> Call[None]:
    body = CommandRequest(type="command", op=op, ports=_ports(ports))
    return Call.to(operations.SEND_CMD, _ok, body=_json(body))


def lock(ports: Ports) -> Call[None]:
    return command("lock", ports)


def unlock(ports: Ports) -> Call[None]:
    return command("unlock", ports)


def switch(ports: Ports) -> Call[None]:
    """Make the named slots (``"2.02"``) the active ones of their ports."""
    return command("switch", ports)


def reset(ports: Ports) -> Call[None]:
    return command("reset", ports)


def led(ports: Ports, on: bool = True) -> Call[None]:
    return command("ledon" if on else "ledoff", ports)


def save() -> Call[None]:
    return command("save")


def reboot() -> Call[None]:
    return command("reboot")


def multiple(ops: Iterable[tuple[str, Ports]]) -> Call[None]:
    items = [CommandItem(op=name, ports=_ports(p)) for name, p in ops]
    body = CommandRequest(type="command", op="multiple", ops=items)
    return Call.to(operations.SEND_CMD, _ok, body=_json(body))


def get_params(*names: str) -> Call[dict[str, Any]]:
    """The named parameters (none: every one); an array parameter is a list."""
    params = {"op": "get"}
    params.update({n: "" for n in names})
    return Call.to(operations.SEND_CMD, lambda a: dict(a.get("data", {})), params, idempotent=True)


def set_params(values: dict[str, Any] | None = None, **more: Any) -> Call[int]:
    """Set parameters (``values`` and keyword arguments); how many the device set."""
    body = urlencode([(k, str(v)) for k, v in {**(values or {}), **more}.items()]).encode()
    read = lambda a: int(a.get("par_set", 0))  # noqa: E731
    form = "application/x-www-form-urlencoded"
    return Call.to(operations.SEND_CMD, read, {"op": "set"}, body, content_type=form, idempotent=True)


# --- sending -----------------------------------------------------------------


def send(tasks: SendTask | Iterable[SendTask], **request: Any) -> Call[list[TaskResult]]:
    """Send tasks; ``request``: fields of this request only (``sr_url=``, ...). A TaskResult per task."""
    return Call.to(operations.POST_SMS, _task_results, body=_send_body(tasks, request))


def send_sms(
    to: str | Iterable[str], text: str, *, request: dict[str, Any] | None = None, **fields: Any
) -> Call[TaskResult]:
    """One SMS task (``fields``: SendTask.text's); its TaskResult."""
    body = _send_body(SendTask.text(to, text, **fields), request or {})
    return Call.to(operations.POST_SMS, _first, body=body)


def _send_body(tasks: SendTask | Iterable[SendTask], request: dict[str, Any]) -> bytes:
    task_list = [tasks] if isinstance(tasks, SendTask) else list(tasks)
    fields = {k: v for k, v in request.items() if v is not None}
    return _json({"type": "send-sms", "task_num": len(task_list), "tasks": task_list, **fields})


def _task_results(answer: dict[str, Any]) -> list[TaskResult]:
    return msgspec.convert(answer.get("status", []), list[TaskResult])


def _first(answer: dict[str, Any]) -> TaskResult:
    results = _task_results(answer)
    if not results:
        raise NotAnEjoinDevice(ResultCode.BAD_REQUEST, "the device answered no result for the task")
    return results[0]


def _results(answer: dict[str, Any]) -> list[TaskResult] | None:
    results = answer.get("results")
    return None if results is None else msgspec.convert(results, list[TaskResult])


_CHANGES = {"pause": operations.PAUSE_SMS, "resume": operations.RESUME_SMS, "remove": operations.REMOVE_SMS}


def change_tasks(op: str, tids: Iterable[int] | None) -> Call[list[TaskResult] | None]:
    body = _json(TidsBody(tids=list(tids))) if tids is not None else b""
    return Call.to(_CHANGES[op], _results, body=body)


def pause(tids: Iterable[int] | None = None) -> Call[list[TaskResult] | None]:
    """Pause the tasks ``tids`` (None: every task); a TaskResult per tid named."""
    return change_tasks("pause", tids)


def resume(tids: Iterable[int] | None = None) -> Call[list[TaskResult] | None]:
    return change_tasks("resume", tids)


def remove(tids: Iterable[int] | None = None) -> Call[list[TaskResult] | None]:
    return change_tasks("remove", tids)


def tasks(port: int, pos: int = 0, num: int = 10, content: bool = False) -> Call[TaskPage]:
    params = {"port": str(port), "pos": str(pos), "num": str(num), "has_content": _flag(content)}
    return Call.to(operations.GET_TASKS, _as(TaskPage), params)


# --- receiving, statistics, eSIM -----------------------------------------------


def inbox(sms_id: int = 1, num: int = 0, delete: bool = False) -> Call[InboxPage]:
    params = {"sms_id": str(sms_id), "sms_num": str(num), "sms_del": _flag(delete)}
    return Call.to(operations.GET_SMS, _as(InboxPage), params, idempotent=not delete)


def _stat_params(ports: Ports, slots: Ports, type: int) -> dict[str, str]:
    params = {"type": str(type)}
    if ports is not None:
        params["ports"] = _ports(ports) or ""
    if slots is not None:
        params["slots"] = _ports(slots) or ""
    return params


def sms_stats(ports: Ports = None, slots: Ports = None, type: int = 0) -> Call[list[SmsStat]]:
    read = lambda a: msgspec.convert(a.get("stats", []), list[SmsStat])  # noqa: E731
    return Call.to(operations.GET_SMS_STAT, read, _stat_params(ports, slots, type))


def call_stats(ports: Ports = None, slots: Ports = None, type: int = 0) -> Call[list[CallStat]]:
    read = lambda a: msgspec.convert(a.get("stats", []), list[CallStat])  # noqa: E731
    return Call.to(operations.GET_CALL_STAT, read, _stat_params(ports, slots, type))


def _esim_list(kind: type[T]) -> Callable[[dict[str, Any]], list[T]]:
    # The table calls the array "ports", the sample "stats": accept either.
    return lambda a: msgspec.convert(a.get("ports", a.get("stats", [])), list[kind], strict=False)  # type: ignore[valid-type]


def esims(ports: Ports = None) -> Call[list[Euicc]]:
    params = {"ports": _ports(ports) or ""} if ports is not None else {}
    return Call.to(operations.GET_ESIMS, _esim_list(Euicc), params)


def write_esims(items: Iterable[dict[str, Any]]) -> Call[list[EsimResult]]:
    return Call.to(operations.WRITE_ESIMS, _esim_list(EsimResult), body=_json(list(items)))


def delete_esims(items: Iterable[dict[str, Any]]) -> Call[list[EsimResult]]:
    return Call.to(operations.DELETE_ESIMS, _esim_list(EsimResult), body=_json(list(items)))


# --- the push queue (ejoin gateways only) ----------------------------------------


def pushes() -> Call[PushQueue]:
    """The push queue per destination: waiting and dead-letter pushes, retry state."""
    return Call.to(operations.PUSHES, _as(PushQueue))


def _push_target(url: str | None, queued: bool = False, forget: bool = False) -> bytes:
    every = 1 if url is None else None
    return _json(PushTarget(url=url, all=every, queued=1 if queued else None, forget=1 if forget else None))


def _counts(answer: dict[str, Any]) -> dict[str, int]:
    return msgspec.convert(answer.get("destinations", {}), dict[str, int])


def retry_pushes(url: str | None = None) -> Call[dict[str, int]]:
    """Replay the dead pushes of ``url`` (None: of every destination); how many per destination."""
    return Call.to(operations.PUSHES_RETRY, _counts, body=_push_target(url))


def drop_pushes(url: str | None = None, queued: bool = False, forget: bool = False) -> Call[dict[str, int]]:
    """Delete the dead pushes (``queued``: and the waiting ones) of ``url`` or every destination;
    ``forget`` (one ``url``): and those queued for it later (a report URL that is gone)."""
    body = _push_target(url, queued=queued, forget=forget)
    return Call.to(operations.PUSHES_DROP, _counts, body=body)


# --- a fleet's members (ejoin fleet only) ----------------------------------------------


MEMBER_CHECK_WAIT = 60.0  # seconds a fleet may take to add a member it asks first


def fleet_members() -> Call[list[dict[str, Any]]]:
    return Call.to(operations.FLEET_MEMBERS, lambda a: list(a.get("members") or []))


def add_fleet_member(member: dict[str, Any], offline: bool = False) -> Call[dict[str, Any]]:
    """Added once it answers its status with the credentials given (the fleet asks it), or at once
    with ``offline`` (down until it answers)."""
    body = _json(MemberAdd(member=member, offline=1 if offline else 0))
    # the fleet asks the member first: up to its member_timeout
    return Call.to(
        operations.FLEET_MEMBER_ADD, lambda a: dict(a.get("member") or {}), body=body, wait=MEMBER_CHECK_WAIT
    )


def remove_fleet_member(name: str, force: bool = False) -> Call[int]:
    """How many of its unsent SMS went to other members."""
    body = _json(MemberRemove(name=name, force=1 if force else 0))
    return Call.to(operations.FLEET_MEMBER_REMOVE, lambda a: int(a.get("withdrawn") or 0), body=body)


# --- USSD and AT passthrough ---------------------------------------------------------

WAIT_MARGIN = 10.0  # beyond the device's own timeout: it answers 6 Timeout by then


def ussd(port: str | int, code: str, timeout: float | None = None, *, cancel: bool = False) -> Call[UssdAnswer]:
    """Send a USSD code (or, while the port's session is open, a menu reply); the network's
    UssdAnswer.  ``cancel``: end the port's open session first."""
    return _ussd(port, code, timeout, cancel)


def ussd_cancel(port: str | int) -> Call[UssdAnswer]:
    """End the port's USSD session."""
    return _ussd(port, None, None, True)


def _ussd(port: str | int, code: str | None, timeout: float | None, cancel: bool) -> Call[UssdAnswer]:
    params = {"port": str(port)}
    if code is not None:
        params["ussd"] = code
    if timeout is not None:
        params["timeout"] = f"{timeout:g}"
    if cancel:
        params["cancel"] = "1"
    wait = (timeout or USSD_TIMEOUT) + WAIT_MARGIN
    return Call.to(operations.SEND_USSD, UssdAnswer.from_answer, params, wait=wait)


def at(port: str | int, command: str, timeout: float | None = None) -> Call[AtAnswer]:
    """One AT command line to the module of ``port``; its raw AtAnswer."""
    params = {"port": str(port), "at": command}
    if timeout is not None:
        params["timeout"] = f"{timeout:g}"
    wait = (timeout or AT_TIMEOUT) + WAIT_MARGIN
    return Call.to(operations.SEND_AT, AtAnswer.from_answer, params, wait=wait)
