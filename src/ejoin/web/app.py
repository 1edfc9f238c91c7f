"""The aiohttp application: the device's URL space."""

from __future__ import annotations

from aiohttp import web

from ..gateway.runtime import Gateway
from ..protocol.messages import encode
from . import dashboard, metrics
from .cross_site import refuse_cross_site
from .endpoint import DEVICE, GATEWAY, json_errors
from .openapi import build_openapi
from .routes import ROUTES


def create_app(gw: Gateway) -> web.Application:
    app = web.Application(client_max_size=gw.config.max_body, middlewares=[json_errors])
    app[DEVICE] = app[GATEWAY] = gw
    routes = (*ROUTES, *gw.modems.routes)  # the driver's (the simulator's /sim/*): there only while it runs
    for route in routes:
        for method in route.serve:
            app.router.add_route(method, route.path, route.handler)
    document = encode(build_openapi(routes))

    async def openapi(_: web.Request) -> web.Response:
        return web.Response(body=document, content_type="application/json")

    app.router.add_route("GET", "/openapi.json", openapi)

    metrics.install(app, metrics.DeviceCollector(gw))
    app.middlewares.append(refuse_cross_site)  # inside the metrics' middleware: refusals are counted
    dashboard.install_gateway(app, gw)

    async def lifecycle(app: web.Application):
        await gw.start()
        yield
        await gw.stop()

    app.cleanup_ctx.append(lifecycle)
    return app
