"""The aiohttp application: the device's URL space."""

from __future__ import annotations

from aiohttp import web

from ..gateway.runtime import Gateway
from ..protocol.operations import METRICS
from . import dashboard, metrics
from .cross_site import refuse_cross_site
from .endpoint import DEVICE, GATEWAY, json_errors
from .openapi import mount_api
from .routes import ROUTES


def create_app(gw: Gateway) -> web.Application:
    app = web.Application(client_max_size=gw.config.max_body, middlewares=[json_errors])
    app[DEVICE] = app[GATEWAY] = gw
    routes = (*ROUTES, *gw.modems.routes)  # the driver's (the simulator's /sim/*): there only while it runs
    mount_api(app, routes, "EJOIN HTTP API (ejoin gateway)", also=[METRICS])  # /metrics: metrics.install

    metrics.install(app, gw)
    app.middlewares.append(refuse_cross_site)  # inside the metrics' middleware: refusals are counted
    dashboard.install(app, gw)

    async def lifecycle(app: web.Application):
        await gw.start()
        yield
        await gw.stop()

    app.cleanup_ctx.append(lifecycle)
    return app
