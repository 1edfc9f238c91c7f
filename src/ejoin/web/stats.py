"""Statistics (spec 9, 10) and eSIM (spec 12) endpoints."""

from __future__ import annotations

from typing import Protocol

from ..gateway.esim import DELETE, WRITE, Euicc
from ..gateway.statistics import Statistics
from ..protocol.answers import CallStat, EsimReply, EsimResult, EuiccInfo, SmsStat, StatsReply
from ..protocol.codes import ResultCode
from ..protocol.ports import DeviceSize, PortSpecError, parse_number_list
from ..protocol.requests import EsimItemIn
from .endpoint import ApiError, ApiRequest, WebHandler, endpoint, integer


class SizeParts(Protocol):
    @property
    def size(self) -> DeviceSize: ...


class StatsParts(SizeParts, Protocol):
    @property
    def statistics(self) -> Statistics: ...


class EsimParts(SizeParts, Protocol):
    @property
    def esim(self) -> Euicc: ...


def _numbers(req: ApiRequest, name: str, upper: int) -> list[int] | None:
    try:
        return parse_number_list(req.param(name), upper, name.rstrip("s"))
    except PortSpecError as exc:
        code = ResultCode.INVALID_PORT if name == "ports" else ResultCode.BAD_REQUEST
        raise ApiError(code, f"{name}: {exc}", 200 if name == "ports" else 400) from None


def slots_and_window(req: ApiRequest, max_slots: int) -> tuple[bool, list[int] | None, int]:
    """Whether ``slots`` was left out (the ports' current cards), the slots named (None: all) and
    ``type`` (the window, 0-3), as a device reads them; a fleet reads them so too before it asks."""
    current = req.param("slots") in (None, "")
    slots = None if current else _numbers(req, "slots", max_slots)
    kind = integer(req.param("type"), "type", default=0, minimum=0)
    if kind > 3:
        raise ApiError(ResultCode.BAD_REQUEST, "type is 0 (last hour), 1 (two hours), 2 (today) or 3 (cumulative)", 400)
    return current, slots, kind


def _selection(req: ApiRequest, gw: StatsParts) -> tuple[list[tuple[int, int]], int]:
    ports = _numbers(req, "ports", gw.size.ports)
    current, slots, kind = slots_and_window(req, gw.size.slots)
    return gw.statistics.selection(ports, slots, current), kind


@endpoint()
async def sms_stat(req: ApiRequest, gw: StatsParts) -> StatsReply:
    keys, kind = _selection(req, gw)
    stats: list[SmsStat] = await gw.statistics.sms(keys, kind)
    return StatsReply(code=ResultCode.OK_HTTP, reason="OK", count=len(stats), stats=stats)


@endpoint()
async def call_stat(req: ApiRequest, gw: StatsParts) -> StatsReply:
    keys, kind = _selection(req, gw)
    stats: list[CallStat] = await gw.statistics.calls(keys, kind)
    return StatsReply(code=ResultCode.OK_HTTP, reason="OK", count=len(stats), stats=stats)


@endpoint()
async def get_esims(req: ApiRequest, gw: EsimParts) -> EsimReply:
    infos: list[EuiccInfo] = gw.esim.info(_numbers(req, "ports", gw.size.ports))
    return EsimReply(code=ResultCode.OK_HTTP, reason="OK", count=len(infos), ports=infos, stats=infos)


def _esim_change(op: int) -> WebHandler:
    async def handler(req: ApiRequest, gw: EsimParts) -> EsimReply:
        items = req.json(list[EsimItemIn])
        if not items:
            raise ApiError(ResultCode.BAD_REQUEST, "the body is a JSON array of {port, slot, ...}", 400)
        results: list[EsimResult] = gw.esim.submit(items, op)
        return EsimReply(code=ResultCode.OK_HTTP, reason="OK", count=len(results), ports=results, stats=results)

    handler.__name__ = "write_esims" if op == WRITE else "delete_esims"
    return endpoint()(handler)


write_esims = _esim_change(WRITE)
delete_esims = _esim_change(DELETE)
