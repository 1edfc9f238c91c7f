"""Server-sent events: a changed port's row for the ports page, a "changed" notice for the overview.

Every change the board reports (a slot's state or records, an SMS sent, failed or received)
marks its port dirty for each open page; the page's stream sends what is dirty as soon as it
is free, then waits a moment, so a burst of changes (64 ports registering, a bulk send) becomes
a few events, not one per change, and each read of the day's counts serves many.
``?view=ports`` (the default) streams ``event: port`` with the port's row as HTML, swapped in
place by static/dashboard.js; ``?view=overview`` streams ``event: changed``, on which the page
asks for its figures again (htmx).
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from .auth import LoginSession, page
from .board import PortsBoard
from .render import fragment

KEEPALIVE = 15.0  # seconds between comments on an idle stream, so proxies keep it open
ROWS_EVERY = 0.5  # seconds at least between two batches of rows (each reads the day's counts once)
OVERVIEW_EVERY = 1.0  # seconds at least between two notices to an overview (its page reads the store)


class _Subscriber:
    def __init__(self) -> None:
        self.dirty: set[int] = set()
        self.wake = asyncio.Event()


class LiveHub:
    def __init__(self, board: PortsBoard) -> None:
        self._board = board
        self._subscribers: set[_Subscriber] = set()
        self._closed = asyncio.Event()
        board.watch(self._changed)

    def _changed(self, port: int) -> None:
        for sub in self._subscribers:
            sub.dirty.add(port)
            sub.wake.set()

    def close(self) -> None:
        self._closed.set()
        for sub in self._subscribers:
            sub.wake.set()

    async def stream(self, request: web.Request, rows: bool) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        sub = _Subscriber()
        self._subscribers.add(sub)
        try:
            await response.write(b"retry: 1000\n\n")
            while not self._closed.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(KEEPALIVE):
                        await sub.wake.wait()
                if self._closed.is_set():
                    break
                sub.wake.clear()
                if not sub.dirty:
                    await response.write(b": keepalive\n\n")
                    continue
                numbers, sub.dirty = sorted(sub.dirty), set()
                if rows:
                    for port in await self._board.ports(numbers):
                        html = fragment("_port_row.html", port=port)
                        data = "".join(f"data: {line}\n" for line in html.splitlines())
                        await response.write(f"event: port\n{data}\n".encode())
                else:
                    await response.write(f"event: changed\ndata: {','.join(map(str, numbers))}\n\n".encode())
                with contextlib.suppress(TimeoutError):  # what changes meanwhile goes in the next batch
                    async with asyncio.timeout(ROWS_EVERY if rows else OVERVIEW_EVERY):
                        await self._closed.wait()
        except ConnectionResetError:
            pass  # the page went away
        finally:
            self._subscribers.discard(sub)
        return response


HUB: web.AppKey[LiveHub] = web.AppKey("dashboard_live", LiveHub)


@page
async def events(request: web.Request, session: LoginSession) -> web.StreamResponse:
    return await request.app[HUB].stream(request, rows=request.query.get("view", "ports") != "overview")


def install(app: web.Application, board: PortsBoard) -> None:
    app[HUB] = LiveHub(board)

    async def close_streams(app: web.Application) -> None:
        app[HUB].close()

    app.on_shutdown.append(close_streams)
