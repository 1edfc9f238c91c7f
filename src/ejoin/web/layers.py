"""What runs around every request of a device's app (a gateway's, a fleet's), in one middleware.

Four concerns wrap each request, outermost first: the connection guard learns
that a head was read and when its handler is done (web/connections.py); any
failure is answered in the device's JSON shape (web/endpoint.py
``error_answer``); the request is counted and timed (web/metrics.py); a
browser's request for a page of another site is refused, and allowed origins
get their CORS answers (web/cross_site.py).  Each module keeps its own rules;
this one only calls them, as plain calls in one coroutine: four aiohttp
middlewares cost a coroutine frame and a ``functools.partial`` call each per
request (docs/performance.md has the count).

``device_app`` installs it; each concern is switched on by the code that sets
it up (``GuardedRunner``, ``metrics.install``, ``cross_site.install``); nothing here
imports them.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

from .endpoint import error_answer


class Guard(Protocol):
    def handler_started(self, transport: Any) -> None: ...
    def handler_ended(self, transport: Any) -> None: ...


class Counter(Protocol):
    def count(self, request: web.Request, status: int, started: float) -> None: ...


# Before the handler: None (go on), an origin whose page may read the answer (go on, then ``Allow``),
# or the answer now (web/cross_site.py's ``check``).
Check = Callable[[web.Request], "web.StreamResponse | str | None"]
Allow = Callable[[web.StreamResponse, str], web.StreamResponse]


class Layers:
    """The concerns switched on for an app: its guard, its request metrics, its cross-site rule."""

    __slots__ = ("guard", "metrics", "check", "allow")

    def __init__(self) -> None:
        self.guard: Guard | None = None
        self.metrics: Counter | None = None
        self.check: Check | None = None
        self.allow: Allow | None = None


LAYERS: web.AppKey[Layers] = web.AppKey("layers", Layers)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def install(app: web.Application) -> Layers:
    """The app's one middleware, and the ``Layers`` whose concerns it runs."""
    layers = app[LAYERS] = Layers()

    @web.middleware
    async def around(request: web.Request, handler: Handler) -> web.StreamResponse:
        guard = layers.guard
        if guard is not None:
            transport = request.transport
            guard.handler_started(transport)
        started = time.perf_counter()
        status = 500
        try:
            try:
                check = layers.check
                verdict = None if check is None else check(request)
                if verdict is None:
                    response = await handler(request)
                elif isinstance(verdict, str):  # an allowed origin: its page may read the answer
                    assert layers.allow is not None
                    response = layers.allow(await handler(request), verdict)
                else:  # refused, or a preflight answered
                    response = verdict
            except web.HTTPException as exc:
                status = exc.status
                answer = error_answer(request, exc)
                if answer is None:  # a redirect
                    raise
                response = answer
            except Exception as exc:
                answer = error_answer(request, exc)
                if answer is None:  # the client left: nobody to answer
                    raise
                response = answer
            status = response.status
            return response
        finally:
            metrics = layers.metrics
            if metrics is not None:
                metrics.count(request, status, started)
            if guard is not None:
                guard.handler_ended(transport)

    app.middlewares.append(around)
    return layers
