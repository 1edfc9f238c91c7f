"""goip_send_ussd.html and goip_send_at.html (DECISIONS "USSD and AT passthrough").

Parameters come from the query, or a JSON object or form body on POST (the
body wins).  The device's part is gateway/ussd.py; refusals answer HTTP 200
with the task code table's code and text (and why), as deployed clients expect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ..gateway.ussd import Passthrough, PassthroughRefused, parse_timeout
from ..protocol.answers import AtAnswerReply, UssdAnswerReply
from ..protocol.codes import ResultCode, TaskStatus
from ..protocol.requests import AT_TIMEOUT, USSD_TIMEOUT, AtQuery, UssdQuery, names
from .endpoint import ApiError, ApiRequest, endpoint, flag

USSD_KEYS = names(UssdQuery)
AT_KEYS = (*names(AtQuery), "AT")  # AT: as some clients spell it


def _params(req: ApiRequest, keys: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {k: req.query[k] for k in keys if k in req.query}
    if req.http.method == "POST" and req.has_body():
        if req.body_is_json():
            body = req.json(dict[str, Any])
            out.update((k, body[k]) for k in keys if k in body and body[k] is not None)
        else:
            out.update((k, v) for k, v in req.form() if k in keys)
    return out


def _text(value: Any) -> str | None:
    """A string parameter as clients send it (a menu reply may come as a JSON number)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise TypeError


def _timeout(p: dict[str, Any], default: float) -> float:
    value = p.get("timeout")
    if isinstance(value, bool) or not isinstance(value, (str, int, float, type(None))):
        value = str(value)[:20]  # refused below, named as it came
    try:
        return parse_timeout(value, default)
    except ValueError as exc:
        raise ApiError(ResultCode.BAD_REQUEST, str(exc), 400) from None


def _flag(p: dict[str, Any], name: str) -> bool:
    value = p.get(name)
    return flag(None if value is None else str(value), name)


class PassthroughParts(Protocol):
    @property
    def passthrough(self) -> Passthrough: ...


@dataclass(frozen=True)
class UssdAsk:
    """goip_send_ussd as asked, its parameters read and typed (the port and the code are checked by
    whoever has the device: ``Passthrough``, or a fleet before it asks a member)."""

    port: Any
    code: str | None
    timeout: float
    cancel: bool


@dataclass(frozen=True)
class AtAsk:
    port: Any
    line: str | None
    timeout: float


def ussd_ask(req: ApiRequest) -> UssdAsk:
    p = _params(req, USSD_KEYS)
    timeout = _timeout(p, USSD_TIMEOUT)
    cancel = _flag(p, "cancel")
    try:
        code = _text(p.get("ussd"))
    except TypeError:
        raise PassthroughRefused(TaskStatus.USSD_EXPECTED, "ussd is a string like *100#") from None
    return UssdAsk(p.get("port"), code, timeout, cancel)


def at_ask(req: ApiRequest) -> AtAsk:
    p = _params(req, AT_KEYS)
    timeout = _timeout(p, AT_TIMEOUT)
    line = p.get("at", p.get("AT"))
    if line is not None and not isinstance(line, str):
        raise PassthroughRefused(TaskStatus.INVALID_CMD, "at is one AT command line, a string like AT+CSQ")
    return AtAsk(p.get("port"), line, timeout)


@endpoint()
async def send_ussd(req: ApiRequest, gw: PassthroughParts) -> Any:
    ask = ussd_ask(req)
    answer = await gw.passthrough.ussd(ask.port, ask.code, ask.timeout, ask.cancel)
    return UssdAnswerReply(
        code=ResultCode.OK, reason="OK", port=answer.port, resp=answer.text, session=int(answer.session_open)
    )


@endpoint()
async def send_at(req: ApiRequest, gw: PassthroughParts) -> Any:
    ask = at_ask(req)
    answer = await gw.passthrough.at(ask.port, ask.line, ask.timeout)
    return AtAnswerReply(code=ResultCode.OK, reason="OK", port=answer.port, resp=answer.text)
