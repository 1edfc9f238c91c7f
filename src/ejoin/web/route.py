"""A route: an operation (``protocol/operations.py``) bound to the handler that serves it.

The gateway's table (web/routes.py), the fleet's (fleet/api/app.py) and the drivers' own routes
(the simulator's ``/sim/*``) are lists of these; ``mount`` serves them and ``web/openapi.py``
documents their operations. Nothing of the gateway is imported here, so a driver names its
routes without importing the web layer's machinery.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ..protocol.operations import Operation


@dataclass(frozen=True)
class Route:
    operation: Operation
    handler: Callable[..., Awaitable[Any]]

    @property
    def path(self) -> str:
        return self.operation.path


def mount(app: web.Application, routes: Iterable[Route]) -> None:
    """Serve each route's path with the methods its operation serves."""
    for route in routes:
        for method in route.operation.serve:
            app.router.add_route(method, route.operation.path, route.handler)
