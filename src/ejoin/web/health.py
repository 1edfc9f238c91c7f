"""``GET /healthz``: is this device fit to take traffic? For load balancers and container checks.

No credentials (it tells nothing secret); 200 when healthy, 503 with the
problems named when not: the store not taking writes, modules not answering,
ports pausing because their sends fail in a row.
"""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

from ..gateway.device import Device
from ..gateway.sending.engine import SendEngine
from ..protocol.answers import HealthReply, PortCount
from ..protocol.codes import PortState
from .endpoint import ApiRequest, endpoint, json_response


class HealthParts(Protocol):
    @property
    def sending(self) -> SendEngine: ...
    @property
    def device(self) -> Device: ...


@endpoint(auth=False)
async def healthz(req: ApiRequest, gw: HealthParts) -> web.Response:
    problems: list[str] = []
    fault = gw.sending.store_fault
    if fault.failing:
        problems.append(f"store: cannot be written ({fault.reason}); sending waits")
    ports = gw.device.ports
    silent = [p.number for p in ports if p.active.state == PortState.MODULE_TIMEOUT]
    if silent:
        problems.append(f"modules: {len(silent)} of {len(ports)} not answering (ports {', '.join(map(str, silent))})")
    for number, pause in sorted(gw.sending.pauses().items()):
        if pause.left:
            problems.append(
                f"port {number}: {pause.failures} sends failed in a row ({pause.reason}); "
                f"it takes no SMS for another {round(pause.left, 1):g} s, the other ports send meanwhile"
            )
    registered = sum(1 for p in ports if p.active.state.can_send)
    body = HealthReply(
        status="degraded" if problems else "ok", problems=problems, ports=PortCount(len(ports), registered)
    )
    return json_response(body, 503 if problems else 200)
