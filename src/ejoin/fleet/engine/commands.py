"""Port commands (lock, unlock, switch, reset, LED, save, reboot) routed to the members owning the
ports, in their own numbers: for ``goip_send_cmd`` and the dashboard's buttons alike."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from ...gateway.commands import Step
from ...protocol.codes import ResultCode
from ...protocol.messages import Reply
from ...protocol.operations import SEND_CMD
from .members import MemberDown

if TYPE_CHECKING:
    from .runtime import Fleet


async def route(fleet: Fleet, steps: list[Step]) -> Reply:
    """Steps planned (``gateway.commands.plan``: every op and port checked) sent to their members, one
    request per member (``multiple`` when several); OK when each member said OK, else the first refusal."""
    per_member: dict[str, list[dict[str, str]]] = defaultdict(list)
    for step in steps:
        if not step.ports:  # save, reboot: every member
            for name in fleet.links:
                per_member[name].append({"op": step.op})
            continue
        local: dict[str, list[str]] = defaultdict(list)
        for addr in step.ports:
            mapped = fleet.ports.to_member(addr)
            if mapped is None:
                return Reply(code=ResultCode.INVALID_PORT, reason=f"port {addr.port} belongs to no member")
            local[mapped[0].name].append(mapped[1].dotted)
        for name, names in local.items():
            per_member[name].append({"op": step.op, "ports": ",".join(names)})

    async def run(name: str, ops: list[dict[str, str]]) -> Reply:
        body: dict[str, Any] = (
            {"type": "command", **ops[0]} if len(ops) == 1 else {"type": "command", "op": "multiple", "ops": ops}
        )
        try:
            answer = await fleet.links[name].call(SEND_CMD.path, body=body)
        except MemberDown as exc:
            return Reply(code=ResultCode.SERVER_ERROR, reason=str(exc))
        code = answer.get("code") if isinstance(answer, dict) else None
        if code == ResultCode.OK:
            return Reply(code=ResultCode.OK, reason="OK")
        return Reply(code=int(code or ResultCode.SERVER_ERROR), reason=f"member {name}: {answer.get('reason', '')}")

    replies = await asyncio.gather(*(run(n, ops) for n, ops in per_member.items()))
    return next((r for r in replies if r.code != ResultCode.OK), Reply(code=ResultCode.OK, reason="OK"))
