"""``GET /healthz`` of the fleet, as a device's: no credentials, 200 or 503 with the problems named
(what counts is fleet/engine/health.py)."""

from __future__ import annotations

from aiohttp import web

from ...web.endpoint import ApiRequest, endpoint, json_response
from ..engine.health import check
from ..engine.runtime import Fleet


@endpoint(auth=False)
async def healthz(req: ApiRequest, fleet: Fleet) -> web.Response:
    health = await check(fleet)
    return json_response(health.body(), 503 if health.failing else 200)
