"""What the benchmark scripts share: serving an app on a free loopback port, a final-report receiver."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import msgspec
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from ejoin.web.connections import GuardedRunner  # noqa: E402
from ejoin.web.endpoint import DEVICE  # noqa: E402

AUTH = {"username": "root", "password": "root"}


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    """``app`` on a free loopback port; a device's app (a gateway's, a fleet's) as ``ejoin gateway``
    serves it: through the connection guard and the HTTP edge (web/connections.py, web/edge.py)."""
    runner = GuardedRunner(app, access_log=None) if DEVICE in app else web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


class FinalReports:
    """A platform's status-report receiver: counts the SMS of tasks whose report says they are finished.

    ``async with FinalReports(total) as reports`` (or ``start``/``stop``): post tasks with ``sr_url=reports.url``, then
    ``await reports.wait()`` until ``total`` SMS are reported sent or failed in final reports.
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.reports = 0  # every task report seen, final or not
        self._finished = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _receive(self, request: web.Request) -> web.Response:
        for rpt in msgspec.json.decode(await request.read())["rpts"]:
            self.reports += 1
            if rpt["unsent"] == 0 and rpt["sending"] == 0:
                self.done += rpt["sent"] + rpt["failed"]
        if self.done >= self.total:
            self._finished.set()
        return web.Response(text="ok")

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    async def wait(self, timeout: float = 600) -> None:
        await asyncio.wait_for(self._finished.wait(), timeout)

    async def start(self) -> FinalReports:
        app = web.Application()
        app.router.add_post("/sr", self._receive)
        self._runner, base = await serve(app)
        self.url = f"{base}/sr"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FinalReports:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
