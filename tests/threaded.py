"""A gateway on its own event loop in a thread: for synchronous clients (sync SDK, CLI, fuzzing)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from aiohttp import web

from ejoin.gateway.config import load_config
from ejoin.gateway.runtime import Gateway
from ejoin.web.app import create_app


class ServerThread:
    def __init__(self, data: str, **overrides: Any) -> None:
        settings = {"data": data, "ports": 4, "slots": 4, "fast": True, "push_timeout": 1.0, **overrides}
        self.config = load_config(None, settings)
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerThread:
        self.thread.start()
        if not self.ready.wait(30):
            raise TimeoutError("the gateway thread did not start")
        return self

    def call(self, fn, *args):
        """Run ``fn(*args)`` on the gateway's loop (for state the test inspects)."""

        async def run():
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self.ready.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        self.gw = Gateway(self.config)
        self.runner = web.AppRunner(create_app(self.gw), access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
