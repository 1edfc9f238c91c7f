"""The few device parameters the fleet has of its own: where and how it pushes (goip_send_cmd op=get/set).

``sms_url``, ``sms_cnt`` and ``sms_prd`` (received SMS and their batching), ``status_url`` and
``status_period`` (status pushes) are the fleet's, kept in the ledger; every other parameter
belongs to a member device and is refused with a reason.  A send request's ``sms_url``,
``sms_cnt`` and ``sms_prd`` set them too, as on a device (spec 7.2.1).
"""

from __future__ import annotations

from typing import Any

from ...gateway.parameters import ParameterError, parse_count, parse_period, parse_url
from ...gateway.sending.tasks import request_options
from ...protocol.codes import ResultCode, TaskStatus
from ...protocol.messages import GetReply, SetReply
from ...protocol.sms import SendSmsRequest, TaskRejected, tid_of_raw
from ...web.command import param_items
from ...web.endpoint import ApiError, ApiRequest
from ..engine.runtime import Fleet

NAMES = ("sms_url", "sms_cnt", "sms_prd", "status_url", "status_period")


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
    if key in ("sms_cnt", "sms_prd"):
        count, period = await fleet.inbound.count_and_period()
        return count if key == "sms_cnt" else period
    return await fleet.ledger.setting(key) or ""


# Parsed as a device parses them (gateway/parameters.py).
_PARSE = {
    "sms_url": parse_url,
    "status_url": parse_url,
    "sms_cnt": parse_count,  # a count <= 1 is "each at once", as on a device
    "sms_prd": parse_period,
    "status_period": parse_period,
}


def _value(key: str, value: str) -> Any:
    try:
        return _PARSE[key](value)
    except ParameterError as exc:
        raise ParameterError(f"{key}: {exc}") from None


async def get_or_set(req: ApiRequest, fleet: Fleet, op: str) -> Any:
    items = param_items(req)
    if op == "get":
        names = [_known(k) for k, _ in items] or list(NAMES)
        return GetReply(code=ResultCode.OK, reason="OK", data={k: await _get(fleet, k) for k in names})
    values = [(_known(k), v) for k, v in items]  # every name checked before anything changes
    try:
        parsed = [(k, _value(k, v)) for k, v in values]
    except ParameterError as exc:
        raise ApiError(ResultCode.BAD_REQUEST, str(exc), 400) from None
    for key, value in parsed:
        if key == "sms_url":
            await fleet.inbound.set_url(value)
        elif key == "sms_cnt":
            await fleet.inbound.set_batching(value, None)
        elif key == "sms_prd":
            await fleet.inbound.set_batching(None, value)
        elif key == "status_url":
            await fleet.status_push.configure(value, None)
        else:
            await fleet.status_push.configure(None, value)
    return SetReply(code=ResultCode.OK, reason="OK", par_set=len(parsed))


async def accept(fleet: Fleet, request: SendSmsRequest) -> list[tuple[Any, TaskStatus, str]]:
    try:
        options = request_options(request)
    except TaskRejected as exc:  # a request-level option applies to every task: each refused, as a device
        return [(tid_of_raw(raw), exc.status, exc.why) for raw in request.tasks or []]
    if options.sms_url:
        await fleet.inbound.set_url(options.sms_url)
    given = {k for k in ("sms_cnt", "sms_prd") if getattr(request, k) not in (None, "")}
    if given:
        await fleet.inbound.set_batching(
            options.sms_cnt if "sms_cnt" in given else None, options.sms_prd if "sms_prd" in given else None
        )
    return await fleet.dispatcher.accept(request)
