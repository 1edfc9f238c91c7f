"""Bounds on HTTP connections: how many, and how long a client may take to send a request.

aiohttp has no header-read timeout and no connection cap: a client trickling a
byte a second, or declaring a body it never sends, holds a connection forever.
This guard sits between the listening socket and aiohttp's protocol (the
edge's, web/edge.py): it counts connections (refusing past the cap with 503),
and closes a connection whose request head has not arrived within
``read_timeout``.  Body reads are bounded by the endpoint mechanism with the
same timeout.  ``GuardedRunner`` serves an app this way: the gateway and the
fleet both run it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from ..clock import Clock, Timer
from .edge import edge_handler
from .endpoint import DEVICE
from .layers import LAYERS

log = logging.getLogger(__name__)

_REFUSED = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8\r\n"
    b"Connection: close\r\nContent-Length: 63\r\n\r\n"
    b'{"code":503,"reason":"too many connections; try again shortly"}'
)
GUARD: web.AppKey[ConnectionGuard] = web.AppKey("connection_guard")


class _Connection(asyncio.Protocol):
    """Forwards everything to aiohttp's protocol; notes when a request head starts arriving."""

    def __init__(self, guard: ConnectionGuard, inner: Any) -> None:
        self.guard = guard
        self.inner = inner
        self.transport: asyncio.BaseTransport | None = None
        self.head_since: float | None = None  # first byte of a request whose handler has not started
        self.in_handler = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        if not self.guard.admit(self):
            transport.write(_REFUSED)  # type: ignore[attr-defined]
            transport.close()
            return
        self.head_since = self.guard.now()  # a new connection owes us a request head
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.head_since is None and not self.in_handler:
            self.head_since = self.guard.now()
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.guard.forget(self):
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class ConnectionGuard:
    """A protocol factory for ``loop.create_server`` wrapping aiohttp's ``web.Server``; its deadlines
    run on the served device's clock (tests advance a virtual one)."""

    def __init__(self, *, max_connections: int, read_timeout: float, clock: Clock) -> None:
        self.server: web.Server | None = None  # set when the runner makes its server
        self.max_connections = max_connections
        self.read_timeout = read_timeout
        self.clock = clock
        self._live: dict[Any, _Connection] = {}
        self._sweeper: Timer | None = None
        self.refused = 0
        self.timed_out = 0

    def __call__(self) -> asyncio.Protocol:
        assert self.server is not None
        return _Connection(self, edge_handler(self.server))

    def __getattr__(self, name: str) -> Any:  # the runner shuts the wrapped server down
        if name == "server":
            raise AttributeError(name)
        return getattr(self.server, name)

    @property
    def live(self) -> int:
        return len(self._live)

    def now(self) -> float:
        return self.clock.monotonic()

    def admit(self, conn: _Connection) -> bool:
        if len(self._live) >= self.max_connections:
            self.refused += 1
            log.warning("refused a connection: %d are open (max_connections)", len(self._live))
            return False
        self._live[conn.transport] = conn
        if self._sweeper is None:
            self._sweeper = self.clock.call_later(1.0, self._sweep)
        return True

    def forget(self, conn: _Connection) -> bool:
        return self._live.pop(conn.transport, None) is not None

    def handler_started(self, transport: Any) -> None:
        conn = self._live.get(transport)
        if conn is not None:
            conn.head_since = None
            conn.in_handler += 1

    def handler_ended(self, transport: Any) -> None:
        conn = self._live.get(transport)
        if conn is not None:
            conn.in_handler -= 1

    def _sweep(self) -> None:
        self._sweeper = None
        deadline = self.now() - self.read_timeout
        for conn in list(self._live.values()):
            if conn.head_since is not None and conn.head_since < deadline and conn.transport is not None:
                self.timed_out += 1
                log.debug("closed a connection that sent no complete request in %.0f s", self.read_timeout)
                conn.transport.close()
        if self._live:
            self._sweeper = self.clock.call_later(1.0, self._sweep)


class GuardedRunner(web.AppRunner):
    """``web.AppRunner`` for a device's app (a gateway's or a fleet's: its ``DEVICE``), whose sites
    accept connections through a ``ConnectionGuard`` (the device's ``max_connections``,
    ``read_timeout`` and clock), each read and answered by the edge's protocol (web/edge.py), with
    client errors kept out of the error log."""

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        device = app[DEVICE]
        self.guard = ConnectionGuard(
            max_connections=device.config.max_connections, read_timeout=device.config.read_timeout, clock=device.clock
        )
        app[GUARD] = self.guard
        layers = app.get(LAYERS)
        if layers is not None:  # a device app (web/api.py): told when each request's handler runs
            layers.guard = self.guard
        QuietClientErrors.install()

    async def _make_server(self) -> Any:
        self.guard.server = await super()._make_server()
        return self.guard


class QuietClientErrors(logging.Filter):
    """Malformed HTTP and clients that hang up are the clients' business: debug, no traceback.

    aiohttp logs them at ERROR with a traceback ("Error handling request"); under a
    hostile load that floods the log (thousands of lines a minute).
    """

    _CLIENT_FAULTS = (
        "BadHttpMessage",
        "BadStatusLine",
        "LineTooLong",
        "InvalidHeader",
        "ClientPayloadError",
        "ConnectionResetError",
        "CancelledError",
        "TransferEncodingError",
        "ContentLengthError",
        "InvalidURLError",
        "BadHttpMethod",
    )

    @classmethod
    def install(cls) -> None:
        server_log = logging.getLogger("aiohttp.server")
        if not any(isinstance(f, cls) for f in server_log.filters):
            server_log.addFilter(cls())

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and any(c.__name__ in self._CLIENT_FAULTS for c in type(exc).__mro__):
            log.debug("client error: %s: %s", type(exc).__name__, exc)
            return False
        return True
