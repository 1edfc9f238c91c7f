"""Server-sent events for the ports page: a changed port's card, rendered again.

Every slot change marks its port dirty for each open page; the page's stream
sends the cards of the dirty ports as soon as it is free, so a burst of changes
(64 ports registering) becomes a few events, not one per change.  The browser
swaps each card in place (static/dashboard.js).
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from ...gateway.device import Slot
from ...gateway.runtime import Gateway
from ..endpoint import GATEWAY
from .auth import LoginSession, page
from .render import fragment, port_view, today_counts

KEEPALIVE = 15.0  # seconds between comments on an idle stream, so proxies keep it open
TODAY_TTL = 1.0  # seconds the day's SMS counts are reused between renders


class _Subscriber:
    def __init__(self) -> None:
        self.dirty: set[int] = set()
        self.wake = asyncio.Event()


class LiveHub:
    def __init__(self, gw: Gateway) -> None:
        self._gw = gw
        self._subscribers: set[_Subscriber] = set()
        self._closed = False
        self._today: dict[tuple[int, int], dict[str, int]] = {}
        self._today_at = -1.0
        gw.device.add_listener(self._changed)

    def _changed(self, slot: Slot) -> None:
        for sub in self._subscribers:
            sub.dirty.add(slot.record.port)
            sub.wake.set()

    def close(self) -> None:
        self._closed = True
        for sub in self._subscribers:
            sub.wake.set()

    async def today(self) -> dict[tuple[int, int], dict[str, int]]:
        # One store read serves every stream for a second: sending changes a slot (its balance) per SMS.
        loop = asyncio.get_running_loop()
        if loop.time() - self._today_at > TODAY_TTL:
            self._today = await today_counts(self._gw)
            self._today_at = loop.time()
        return self._today

    async def stream(self, request: web.Request, session: LoginSession) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        sub = _Subscriber()
        self._subscribers.add(sub)
        try:
            await response.write(b"retry: 1000\n\n")
            while not self._closed:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(KEEPALIVE):
                        await sub.wake.wait()
                if self._closed:
                    break
                sub.wake.clear()
                if not sub.dirty:
                    await response.write(b": keepalive\n\n")
                    continue
                numbers, sub.dirty = sorted(sub.dirty), set()
                today = await self.today()
                for number in numbers:
                    html = fragment("_port.html", port=port_view(self._gw, self._gw.device.port(number), today))
                    data = "".join(f"data: {line}\n" for line in html.splitlines())
                    await response.write(f"event: port\n{data}\n".encode())
        except ConnectionResetError:
            pass  # the page went away
        finally:
            self._subscribers.discard(sub)
        return response


HUB: web.AppKey[LiveHub] = web.AppKey("dashboard_live", LiveHub)


@page
async def events(request: web.Request, session: LoginSession) -> web.StreamResponse:
    return await request.app[HUB].stream(request, session)


def install(app: web.Application) -> None:
    app[HUB] = LiveHub(app[GATEWAY])

    async def close_streams(app: web.Application) -> None:
        app[HUB].close()

    app.on_shutdown.append(close_streams)
