"""Pushes to a receiver in this very process, through the device's durable outbox.

SMPP tasks are posted with ``sr_url`` = ``REPORTS_URL``.  The device reports them as it reports
any task (its outbox: written first, retried until a 2xx, kept across kill -9); this transport
hands those pushes to the SMPP server instead of the network, and the server answers 2xx only
once their receipts are on its disk.  The host is under ``.invalid`` (RFC 6761): should the SMPP
server be turned off while reports are owed, they fail as pushes to a name that never resolves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..gateway.outbox import PushTransport

REPORTS_URL = "http://smpp.ejoin.invalid/reports"

Handler = Callable[[bytes], Awaitable[int]]


class LocalPushes(PushTransport):
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
