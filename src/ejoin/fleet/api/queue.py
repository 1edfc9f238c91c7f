"""goip_get_tasks on a fleet port: the owning member's queue on its own port, with fleet tids."""

from __future__ import annotations

from typing import Any

from ...protocol.codes import ResultCode
from ...web.endpoint import ApiError, ApiRequest, endpoint, flag, integer
from ..engine.members import MemberDown
from ..engine.runtime import Fleet


@endpoint()
async def get_tasks(req: ApiRequest, fleet: Fleet) -> Any:
    if not req.param("port"):
        raise ApiError(ResultCode.BAD_REQUEST, "port is required (a port number, from 1)", 400)
    port = integer(req.param("port"), "port", default=0, minimum=1)
    owner = fleet.ports.owner(port)
    if owner is None:
        raise ApiError(ResultCode.INVALID_PORT, f"port must be 1 to {fleet.size.ports}")
    # read as the member reads them, so the member is asked only what it takes
    pos = integer(req.param("pos"), "pos", default=0, minimum=0)
    num = integer(req.param("num"), "num", default=10, minimum=0)
    content = flag(req.param("has_content"), "has_content")
    params = {"port": str(port - owner.first + 1), "pos": str(pos), "num": str(num), "has_content": str(int(content))}
    try:
        answer = await fleet.links[owner.name].call("/goip_get_tasks.html", params=params)
    except MemberDown as exc:
        raise ApiError(ResultCode.SERVER_ERROR, f"port {port}: {exc}") from None
    if not isinstance(answer, dict) or answer.get("code") != ResultCode.OK_HTTP:
        reason = answer.get("reason", "") if isinstance(answer, dict) else ""
        raise ApiError(ResultCode.SERVER_ERROR, f"member {owner.name}: {reason}")
    tasks = []
    for t in answer.get("tasks") or []:
        if not isinstance(t, dict):
            continue
        try:
            found = await fleet.ledger.dispatch_of(owner.name, int(t.get("tid", "")))
        except (TypeError, ValueError):
            found = None
        row = await fleet.ledger.task(found[1]) if found else None
        if row is None:
            continue  # not a fleet sub-task: another client's task on that member is not the fleet's to show
        t = {**t, "tid": row.tid_echo}
        if t.get("from"):
            t["from"] = ",".join(fleet.ports.rename(owner, p.strip()) for p in str(t["from"]).split(","))
        tasks.append(t)
    return {
        "code": ResultCode.OK_HTTP,
        "reason": "OK",
        "total_num": answer.get("total_num", len(tasks)),
        "task_num": len(tasks),
        "tasks": tasks,
    }
