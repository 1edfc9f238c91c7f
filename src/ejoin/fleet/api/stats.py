"""goip_get_sms_stat / goip_get_call_stat of the fleet: each member's rows for its ports, in fleet numbers."""

from __future__ import annotations

import asyncio
from typing import Any

from ...protocol.codes import ResultCode
from ...protocol.ports import PortSpecError, parse_number_list
from ...web.endpoint import ApiError, ApiRequest, endpoint
from ...web.stats import StatsReply, slots_and_window
from ..engine.members import MemberDown, MemberError
from ..engine.runtime import Fleet


def _stats(path: str, name: str):
    async def handler(req: ApiRequest, fleet: Fleet) -> StatsReply:
        try:
            ports = parse_number_list(req.param("ports"), fleet.size.ports, "port")
        except PortSpecError as exc:
            raise ApiError(ResultCode.INVALID_PORT, f"ports: {exc}") from None
        wanted = set(ports) if ports is not None else None
        current, slots, kind = slots_and_window(req, fleet.size.slots)  # what a member would refuse, refused here
        passed = {"type": str(kind)}
        if not current:
            passed["slots"] = "all" if slots is None else ",".join(map(str, slots))
        asks: list[tuple[Any, list[int]]] = []
        for m in fleet.ports.members:
            local = [p - m.first + 1 for p in range(m.first, m.last + 1) if wanted is None or p in wanted]
            if local:
                asks.append((m, local))

        async def ask(m: Any, local: list[int]) -> Any:
            params = {**passed, "ports": ",".join(map(str, local))}
            try:
                return await fleet.links[m.name].call(path, params=params)
            except MemberError as exc:  # it answered: an error of this request, passed on
                raise ApiError(ResultCode.SERVER_ERROR, str(exc)) from None
            except MemberDown:
                return None  # its ports are left out; its status shows them as 16

        answers = await asyncio.gather(*(ask(m, local) for m, local in asks))
        rows: list[dict[str, Any]] = []
        for (m, _), answer in zip(asks, answers, strict=True):
            if not isinstance(answer, dict):
                continue
            if answer.get("code") != ResultCode.OK_HTTP:
                # the member refused what the platform asked (slots, type): its answer, as a device's
                raise ApiError(int(answer.get("code") or ResultCode.SERVER_ERROR), str(answer.get("reason", "")))
            for row in answer.get("stats") or []:
                if isinstance(row, dict) and isinstance(row.get("port"), int) and 1 <= row["port"] <= m.count:
                    rows.append({**row, "port": m.first + row["port"] - 1})
        rows.sort(key=lambda r: (r["port"], r.get("slot", 0)))
        return StatsReply(code=ResultCode.OK_HTTP, reason="OK", count=len(rows), stats=rows)

    handler.__name__ = name
    return endpoint()(handler)


sms_stat = _stats("/goip_get_sms_stat.html", "sms_stat")
call_stat = _stats("/goip_get_call_stat.html", "call_stat")
