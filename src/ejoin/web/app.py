"""The aiohttp application: the device's URL space."""

from __future__ import annotations

from aiohttp import web

from ..gateway.runtime import Gateway
from ..protocol.operations import METRICS
from . import dashboard, metrics
from .api import device_app
from .cross_site import refuse_cross_site
from .endpoint import GATEWAY
from .routes import ROUTES


def create_app(gw: Gateway) -> web.Application:
    routes = (*ROUTES, *gw.modems.routes)  # the driver's (the simulator's /sim/*): there only while it runs
    app = device_app(gw, routes, "EJOIN HTTP API (ejoin gateway)", also=[METRICS])  # /metrics: metrics.install
    app[GATEWAY] = gw

    metrics.install(app, metrics.DeviceCollector(gw))
    app.middlewares.append(refuse_cross_site)  # inside the metrics' middleware: refusals are counted
    dashboard.install_gateway(app, gw)
    return app
