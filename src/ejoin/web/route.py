"""A web route: its handler, the methods served, and its entry in /openapi.json.

A leaf module (nothing of ejoin imported): the device's table (web/routes.py),
the OpenAPI builder and the drivers' own routes (the simulator's ``/sim/*``)
all use it, and a driver names its routes without importing the web layer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Route:
    """A web route: its handler, the methods served, and its entry in /openapi.json.

    The device's own routes are one table of these (web/routes.py); a driver adds its own.
    """

    path: str
    handler: Callable[..., Awaitable[Any]]
    summary: str
    query: dict[str, Any] = field(default_factory=dict)  # query parameter -> JSON schema, as documented
    body: dict[str, Any] | None = None  # JSON schema of the body, as documented
    methods: tuple[str, ...] = ("get",)  # as documented
    answer: Any = None  # the Struct type of the answer, as documented (None: a JSON object)
    serve: tuple[str, ...] = ("GET", "POST")  # as served
