"""What is put beside a device (a gateway, a fleet) where the program is put together, and the two
things it is given: a start after every part of the device and a stop before any (``Attached``,
listed in the device's ``attached``), and pushes that stay in the process (``LocalPushes``).

The SMPP server (``ejoin.smpp``) is one: the device knows it only as an ``Attached``, and its
tasks' reports reach it through ``LocalPushes`` — the device's own durable report path (the
outbox: written first, retried until a 2xx, kept across kill -9) with a receiver in this process.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from .outbox import PushTransport

Handler = Callable[[bytes], Awaitable[int]]


class Attached(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Also when ``start`` was never called, or failed."""
        ...


class LocalPushes(PushTransport):
    """Pushes to a routed URL go to a handler in this process (its answer is the HTTP status);
    every other push to the network through ``inner``."""

    def __init__(self, inner: PushTransport) -> None:
        self._inner = inner
        self._handlers: dict[str, Handler] = {}

    def route(self, url: str, handler: Handler | None) -> None:
        """Pushes to ``url`` go to ``handler`` (None: to the network again)."""
        if handler is None:
            self._handlers.pop(url, None)
        else:
            self._handlers[url] = handler

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        handler = self._handlers.get(url)
        if handler is not None:
            return await handler(body)
        return await self._inner.post(url, body, headers)

    async def close(self) -> None:
        await self._inner.close()
