"""goip_send_cmd.html (spec 5): port operations, and get/set of device parameters."""

from __future__ import annotations

from typing import Any, Protocol

import msgspec

from ..gateway import commands
from ..gateway.device import Device
from ..gateway.parameters import ParameterError, Parameters
from ..modems.base import ModemDriver
from ..protocol.codes import ResultCode
from ..protocol.messages import CommandRequest, GetReply, Reply, SetReply, WireError, decode_lenient
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


class _Op(msgspec.Struct):
    op: Any = None


def requested_op(req: ApiRequest) -> str:
    """The op, lower-cased: from the query, else from a JSON body (``{"op":"set","sms_url":...}``)."""
    op = req.param("op")
    if op is None and req.has_body() and req.body_is_json():
        try:
            body_op = decode_lenient(req.body, _Op).op
        except WireError:
            body_op = None  # read again as a command, which answers why the body does not fit
        op = body_op if isinstance(body_op, str) else None
    return (op or "").strip().lower()


def requested_command(req: ApiRequest) -> CommandRequest:
    """A port command from a JSON body or the query string (``?op=switch&ports=1.02``); a singular
    ``port`` is taken where ``ports`` is missing (commands.plan reads it)."""
    if not req.has_body():
        return CommandRequest(op=req.param("op"), ports=req.param("ports"), port=req.param("port"))
    cmd = req.json(CommandRequest)
    if cmd.op is None:
        cmd.op = req.param("op")
    if cmd.ports is None and cmd.port is None:
        cmd.ports, cmd.port = req.param("ports"), req.param("port")
    return cmd


def param_items(req: ApiRequest) -> list[tuple[str, str]]:
    """name=value pairs of op=get/set from the query (less auth keys) and a form or JSON body."""
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
    names = [k for k, _ in param_items(req)] or gw.parameters.names()
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
        count = gw.parameters.set_many(param_items(req))
    except ParameterError as exc:
        raise ApiError(ResultCode.BAD_REQUEST, str(exc), 400) from None
    return SetReply(code=ResultCode.OK, reason="OK", par_set=count)


@endpoint()
async def send_cmd(req: ApiRequest, gw: CommandParts) -> Any:
    op = requested_op(req)
    if op in ("get", "set"):
        return _get(req, gw) if op == "get" else _set(req, gw)
    cmd = requested_command(req)
    steps = commands.plan(cmd, gw.size, can_switch=gw.driver.can_switch_slots)
    commands.run(steps, gw.device, save=gw.save, reboot=gw.reboot)
    return Reply(code=ResultCode.OK, reason="OK")
