"""The aiohttp application: the device's URL space."""

from __future__ import annotations

from aiohttp import web

from ..gateway.runtime import Gateway
from ..protocol.operations import METRICS
from . import cross_site, dashboard, metrics
from .api import device_app
from .endpoint import GATEWAY
from .routes import ROUTES


def create_app(gw: Gateway) -> web.Application:
    routes = (*ROUTES, *gw.modems.routes)  # the driver's (the simulator's /sim/*): there only while it runs
    app = device_app(gw, routes, "EJOIN HTTP API (ejoin gateway)", also=[METRICS])  # /metrics: metrics.install
    app[GATEWAY] = gw

    metrics.install(app, metrics.DeviceCollector(gw))
    cross_site.install(app)  # refusals are counted by the metrics
    dashboard.install_gateway(app, gw)
    return app
