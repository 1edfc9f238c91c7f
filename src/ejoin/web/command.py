"""goip_send_cmd.html (spec 5): port operations, and get/set of device parameters."""

from __future__ import annotations

from typing import Any, Protocol

import msgspec

from ..gateway import commands
from ..gateway.device import Device
from ..gateway.parameters import ParameterError, Parameters
from ..modems.base import ModemDriver
from ..protocol.codes import ResultCode
from ..protocol.messages import CommandRequest, GetReply, Reply, SetReply
from ..protocol.ports import DeviceSize
from .endpoint import RESERVED, ApiError, ApiRequest, endpoint


class ParameterParts(Protocol):
    @property
    def parameters(self) -> Parameters: ...


class CommandParts(ParameterParts, Protocol):
    """What goip_send_cmd uses of a gateway: the ports and their modules, the parameters."""

    @property
    def size(self) -> DeviceSize: ...
    @property
    def driver(self) -> ModemDriver: ...
    @property
    def device(self) -> Device: ...
    def save(self) -> None: ...
    def reboot(self) -> None: ...


def _param_items(req: ApiRequest) -> list[tuple[str, str]]:
    """name=value pairs from the query (less auth keys) and a form or JSON body."""
    items = [(k, v) for k, v in req.query.items() if k.lower() not in RESERVED]
    if req.has_body():
        if req.body_is_json():
            body = req.json(dict[str, Any])
            for k, v in body.items():
                if k.lower() in RESERVED or k == "type":
                    continue
                items.append((k, v if isinstance(v, str) else msgspec.json.encode(v).decode()))
        else:
            items.extend(req.form())
    return items


def _get(req: ApiRequest, gw: ParameterParts) -> GetReply:
    names = [k for k, _ in _param_items(req)] or gw.parameters.names()
    data: dict[str, Any] = {}
    try:
        for name in names:
            key, value = gw.parameters.get(name)
            data[key] = value
    except ParameterError as exc:
        raise ApiError(ResultCode.BAD_REQUEST, str(exc), 400) from None
    return GetReply(code=ResultCode.OK, reason="OK", data=data)


def _set(req: ApiRequest, gw: ParameterParts) -> SetReply:
    try:
        count = gw.parameters.set_many(_param_items(req))
    except ParameterError as exc:
        raise ApiError(ResultCode.BAD_REQUEST, str(exc), 400) from None
    return SetReply(code=ResultCode.OK, reason="OK", par_set=count)


@endpoint()
async def send_cmd(req: ApiRequest, gw: CommandParts) -> Any:
    query_op = (req.param("op") or "").strip().lower()
    if query_op in ("get", "set"):
        return _get(req, gw) if query_op == "get" else _set(req, gw)
    if req.has_body():
        cmd = req.json(CommandRequest)
        if cmd.op is None:
            cmd.op = req.param("op")
        if cmd.ports is None:
            cmd.ports = req.param("ports")
    else:
        cmd = CommandRequest(op=req.param("op"), ports=req.param("ports"))
    if (cmd.op or "").strip().lower() in ("get", "set"):
        raise ApiError(ResultCode.BAD_REQUEST, "get and set take op in the query string (?op=get&name...)", 400)
    steps = commands.plan(cmd, gw.size, can_switch=gw.driver.can_switch_slots)
    commands.run(steps, gw.device, save=gw.save, reboot=gw.reboot)
    return Reply(code=ResultCode.OK, reason="OK")
