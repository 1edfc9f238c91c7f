"""The few device parameters the fleet has of its own: where it pushes (goip_send_cmd op=get/set).

``sms_url`` (received SMS), ``status_url`` and ``status_period`` (status pushes) are the fleet's,
kept in the ledger; every other parameter belongs to a member device and is refused with a reason.
A send request's ``sms_url`` sets it too, as on a device (spec 7.2.1).
"""

from __future__ import annotations

from typing import Any

from ..gateway.parameters import ParameterError, parse_url
from ..protocol.codes import ResultCode, TaskStatus
from ..protocol.messages import GetReply, SetReply
from ..protocol.sms import SendSmsRequest
from ..web.command import _param_items
from ..web.endpoint import ApiError, ApiRequest, integer
from .runtime import Fleet

NAMES = ("sms_url", "status_url", "status_period")


def _known(name: str) -> str:
    key = name.strip().lower()
    if key not in NAMES:
        raise ApiError(
            ResultCode.BAD_REQUEST,
            f"{name[:40]!r}: the fleet keeps only {', '.join(NAMES)}; other parameters are a member device's",
            400,
        )
    return key


async def _get(fleet: Fleet, key: str) -> Any:
    # the ledger's values: with replicas, one may have been set through another replica a moment ago
    if key == "status_period":
        await fleet.status_push.load()
        return fleet.status_push.period
    return await fleet.ledger.setting(key) or ""


async def get_or_set(req: ApiRequest, fleet: Fleet) -> Any:
    items = _param_items(req)
    if (req.param("op") or "").strip().lower() == "get":
        names = [_known(k) for k, _ in items] or list(NAMES)
        return GetReply(code=ResultCode.OK, reason="OK", data={k: await _get(fleet, k) for k in names})
    values = [(_known(k), v) for k, v in items]  # every name checked before anything changes
    try:
        parsed = [(k, parse_url(v) if k != "status_period" else v) for k, v in values]
    except ParameterError as exc:
        raise ApiError(ResultCode.BAD_REQUEST, str(exc), 400) from None
    for key, value in parsed:
        if key == "sms_url":
            await fleet.inbound.set_url(value)
        elif key == "status_url":
            await fleet.status_push.configure(value, None)
        else:
            await fleet.status_push.configure(None, integer(value, "status_period", default=0, minimum=0))
    return SetReply(code=ResultCode.OK, reason="OK", par_set=len(parsed))


async def accept(fleet: Fleet, request: SendSmsRequest) -> list[tuple[Any, TaskStatus, str]]:
    url = request.sms_url
    if isinstance(url, str) and url.strip().startswith(("http://", "https://")):
        await fleet.inbound.set_url(url.strip())
    return await fleet.dispatcher.accept(request)
