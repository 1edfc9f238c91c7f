"""USSD, AT and eSIM of the fleet: answered by the member owning the port, ports renumbered both ways.

The fleet checks what a device checks before any member is asked (the port, the timeout, the USSD
code and the AT line, with the device's own checks: a 9,000-character AT line gets the member's
``15 Invalid CMD`` from the fleet), sends the member its own port numbers, and renames the ports
of its answer into fleet numbers; a member's refusal is its answer (the device's code and reason).
A member that answers with an HTTP error and no JSON gives ``7 Server Error`` with its words, and is
not down for it.  A member that does not answer gives the device's error for a module that does
not: USSD ``5 SIM Unregistered`` when it is known down (its ports show 16), ``6 Timeout``
otherwise; eSIM operations on its ports fail (status 3) and its ports are left out of goip_get_esims.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from ...gateway.esim import DELETE, FAILED, WRITE, EsimItemIn
from ...gateway.ussd import PassthroughRefused, checked_at_line, checked_ussd
from ...protocol.codes import ResultCode, TaskStatus
from ...protocol.ports import PortAddress, PortSpecError, parse_number_list
from ...web.endpoint import ApiError, ApiRequest, endpoint
from ...web.stats import EsimReply
from ...web.ussd import at_ask, ussd_ask
from ..config import MemberConfig
from ..engine.members import MemberDown, MemberError, MemberLink
from ..engine.runtime import Fleet

MARGIN = 5.0  # beyond the member's own timeout: it answers 6 Timeout by then


def _owner(fleet: Fleet, given: Any) -> tuple[MemberLink, str]:
    """The member owning the one port named, and that port in its own numbers (same form)."""
    if given is None or (isinstance(given, str) and not given.strip()):
        raise PassthroughRefused(TaskStatus.INVALID_PORT, "give port=, one port like 1 or 1.02")
    try:
        addr = PortAddress.parse(str(given), fleet.size)
    except PortSpecError as exc:
        raise PassthroughRefused(TaskStatus.INVALID_PORT, str(exc)) from None
    mapped = fleet.ports.to_member(addr)
    if mapped is None:
        raise PassthroughRefused(TaskStatus.INVALID_PORT, f"port {addr.port} belongs to no member")
    member, local = mapped
    return fleet.links[member.name], local.dotted


async def _routed(
    fleet: Fleet, path: str, link: MemberLink, params: dict[str, str], timeout: float, down_code: TaskStatus
) -> dict[str, Any]:
    """The member's answer to what the fleet has checked as a device would (so the member never gets a
    request it must refuse, nor one too long for its request line); an error answer is this request's
    (code 7 with the member's words), not a sign the member is down."""
    if not link.up:
        raise PassthroughRefused(down_code, f"member {link.name} does not answer")
    try:
        answer = await link.call(path, params=params, timeout=timeout + MARGIN)
    except MemberError as exc:
        raise PassthroughRefused(TaskStatus.SERVER_ERROR, str(exc)) from None
    except MemberDown:
        raise PassthroughRefused(TaskStatus.TIMEOUT, f"member {link.name} does not answer") from None
    if not isinstance(answer, dict):
        raise PassthroughRefused(TaskStatus.SERVER_ERROR, f"member {link.name} answered no JSON object")
    if "port" in answer:
        answer["port"] = fleet.ports.rename(link.config, str(answer["port"]))
    return answer


@endpoint()
async def send_ussd(req: ApiRequest, fleet: Fleet) -> Any:
    ask = ussd_ask(req)
    link, local = _owner(fleet, ask.port)
    code = checked_ussd(ask.code, ask.cancel)
    params = {"port": local, "ussd": code, "timeout": f"{ask.timeout:g}", "cancel": "1" if ask.cancel else "0"}
    return await _routed(fleet, "/goip_send_ussd.html", link, params, ask.timeout, TaskStatus.SIM_UNREGISTERED)


@endpoint()
async def send_at(req: ApiRequest, fleet: Fleet) -> Any:
    ask = at_ask(req)
    link, local = _owner(fleet, ask.port)
    params = {"port": local, "at": checked_at_line(ask.line), "timeout": f"{ask.timeout:g}"}
    return await _routed(fleet, "/goip_send_at.html", link, params, ask.timeout, TaskStatus.TIMEOUT)


def _renamed(rows: Any, m: MemberConfig) -> list[dict[str, Any]]:
    """A member's eSIM rows for ports within its range, in fleet port numbers."""
    out = []
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, dict) and isinstance(row.get("port"), int) and 1 <= row["port"] <= m.count:
            out.append({**row, "port": m.first + row["port"] - 1})
    return out


@endpoint()
async def get_esims(req: ApiRequest, fleet: Fleet) -> EsimReply:
    try:
        wanted = parse_number_list(req.param("ports"), fleet.size.ports, "port")
    except PortSpecError as exc:
        raise ApiError(ResultCode.INVALID_PORT, f"ports: {exc}") from None
    asks: list[tuple[MemberConfig, list[int]]] = []
    for m in fleet.ports.members:
        local = [p - m.first + 1 for p in range(m.first, m.last + 1) if wanted is None or p in wanted]
        if local and fleet.links[m.name].up:
            asks.append((m, local))

    async def ask(m: MemberConfig, local: list[int]) -> list[dict[str, Any]]:
        try:
            answer = await fleet.links[m.name].call("/goip_get_esims.html", params={"ports": ",".join(map(str, local))})
        except MemberDown:
            return []
        return _renamed(answer.get("ports", answer.get("stats")) if isinstance(answer, dict) else None, m)

    rows = [row for part in await asyncio.gather(*(ask(m, local) for m, local in asks)) for row in part]
    rows.sort(key=lambda r: r["port"])
    return EsimReply(code=ResultCode.OK_HTTP, reason="OK", count=len(rows), ports=rows, stats=rows)


def _esim_change(op: int):
    path = "/goip_write_esims.html" if op == WRITE else "/goip_delete_esims.html"

    async def handler(req: ApiRequest, fleet: Fleet) -> EsimReply:
        items = req.json(list[EsimItemIn])
        results: list[dict[str, Any] | None] = [None] * len(items)
        per_member: dict[str, list[tuple[int, EsimItemIn]]] = defaultdict(list)
        for i, item in enumerate(items):
            owner = fleet.ports.owner(item.port) if item.port else None
            if owner is None:  # as a device fails a port it does not have
                results[i] = {"port": item.port or 0, "slot": item.slot or 0, "status": FAILED}
            else:
                per_member[owner.name].append((i, item))

        async def run(name: str, mine: list[tuple[int, EsimItemIn]]) -> None:
            link = fleet.links[name]
            m = link.config
            body = [{"port": it.port - m.first + 1, "slot": it.slot, "ac": it.ac, "cc": it.cc} for _, it in mine]  # type: ignore[operator]
            try:
                answer = await link.call(path, body=body) if link.up else None
            except MemberDown:
                answer = None
            got = _renamed(answer.get("ports", answer.get("stats")) if isinstance(answer, dict) else None, m)
            for n, (i, it) in enumerate(mine):
                results[i] = got[n] if n < len(got) else {"port": it.port, "slot": it.slot or 0, "status": FAILED}

        await asyncio.gather(*(run(name, mine) for name, mine in per_member.items()))
        done = [r for r in results if r is not None]
        return EsimReply(code=ResultCode.OK_HTTP, reason="OK", count=len(done), ports=done, stats=done)

    handler.__name__ = "write_esims" if op == WRITE else "delete_esims"
    return endpoint()(handler)


write_esims = _esim_change(WRITE)
delete_esims = _esim_change(DELETE)
