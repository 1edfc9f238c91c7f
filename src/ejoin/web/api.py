"""A device's HTTP app (a gateway's, a fleet's): its routes, its /openapi.json, its life cycle."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Protocol

from aiohttp import web

from ..protocol.messages import encode
from ..protocol.operations import Bound, Operation
from . import layers
from .endpoint import DEVICE, Served
from .openapi import build_openapi
from .route import mount


class Device(Served, Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


def device_app(device: Device, routes: Iterable[Bound], title: str, also: Iterable[Operation] = ()) -> web.Application:
    """An app serving ``routes`` for ``device`` (started and stopped with the app), errors as JSON
    (web/layers.py: what runs around every request), and /openapi.json documenting the routes'
    operations (and ``also``: those another part of the app serves, as /metrics)."""
    app = web.Application(client_max_size=device.config.max_body)
    app[DEVICE] = device
    layers.install(app)  # the one middleware: guard, JSON errors, metrics, cross-site
    routes = tuple(routes)
    mount(app, routes)
    document = encode(build_openapi([*(r.operation for r in routes), *also], title))

    async def openapi(_: web.Request) -> web.Response:
        return web.Response(body=document, content_type="application/json")

    app.router.add_route("GET", "/openapi.json", openapi)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await device.start()
        yield
        await device.stop()

    app.cleanup_ctx.append(lifecycle)
    return app
