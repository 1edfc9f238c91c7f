"""Test helpers for platforms that integrate with EJOIN devices: a gateway and a push collector on threads.

Both run on their own event loop in a background thread, so tests written in
plain synchronous code (pytest, unittest, any HTTP client) can use them::

    from ejoin.testing import GatewayThread, PushCollector

    def test_my_platform_sends(tmp_path):
        with PushCollector() as pushes, GatewayThread(tmp_path) as device:
            my_platform.send(device.url, "root", "root", "13800000000", "hi", report_url=pushes.url)
            report = pushes.wait_for(lambda p: p["type"] == "status-report")
            assert report["rpts"][0]["sent"] == 1

``GatewayThread`` is the simulated device of ``ejoin gateway`` with every
simulated delay zero (``clock="fast"``, the default) or on a virtual clock
that only moves when the test calls ``advance(seconds)`` (``clock="virtual"``),
for tests of timing (periodic reports, intervals, timeouts) that take no
real time.  docs/testing.md describes both.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Literal, TypeVar

from aiohttp import web

from .clock import VirtualClock
from .drivers import load_gateway_config
from .gateway.runtime import Gateway
from .smpp import for_gateway
from .web.app import create_app
from .web.connections import GuardedRunner

T = TypeVar("T")
Push = dict[str, Any]


class _LoopThread:
    """An event loop on a daemon thread, with a way to run coroutines on it from the caller's thread."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


async def _serve(app: web.Application, host: str, port: int = 0, *, device: bool = False) -> tuple[web.AppRunner, int]:
    """Serve ``app``; a device's app (a gateway's, a fleet's) as ``ejoin gateway`` and ``ejoin fleet``
    serve it: through the connection guard and the HTTP edge (web/connections.py, web/edge.py)."""
    runner = GuardedRunner(app, access_log=None) if device else web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner, runner.addresses[0][1]


class GatewayThread:
    """A simulated EJOIN device serving on a free loopback port, on its own thread.

    ``settings`` are the keys of the gateway's TOML file (``ports``, ``slots``, ``username``,
    ``password``, ``seed``, ...); ``data`` is its data directory (use a temporary one).
    """

    def __init__(
        self, data: str | Path, *, clock: Literal["fast", "virtual"] = "fast", host: str = "127.0.0.1", **settings: Any
    ) -> None:
        if clock not in ("fast", "virtual"):
            raise ValueError('clock is "fast" or "virtual"')
        self.config = load_gateway_config(None, {"data": str(data), "fast": clock == "fast", **settings})
        self._host = host
        self._listen_port = int(settings.get("port", 0))  # 0: a free one
        self._virtual = VirtualClock() if clock == "virtual" else None
        self._thread = _LoopThread("ejoin gateway")
        self.port = 0
        self.gateway: Gateway | None = None
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def app(self) -> web.Application:
        """The aiohttp application serving the device (its router lists every route)."""
        if self._runner is None:
            raise RuntimeError("the gateway is not running")
        return self._runner.app

    def start(self) -> GatewayThread:
        self._thread.start()

        async def start() -> None:
            self.gateway = Gateway(self.config, clock=self._virtual)
            for_gateway(self.gateway)  # as ejoin gateway puts it together: an SMPP server when smpp_port is set
            quiesce = getattr(self.gateway.store, "quiesce", None)  # stores working on a thread of their own
            if self._virtual is not None and quiesce is not None:
                # virtual time moves only once the store has done what was asked of it
                self._virtual.add_quiescer(quiesce)
            self._runner, self.port = await _serve(create_app(self.gateway), self._host, self._listen_port, device=True)

        self._thread.run(start())
        return self

    def advance(self, seconds: float) -> None:
        """Move the virtual clock (``clock="virtual"``): every timer due meanwhile runs, in order."""
        if self._virtual is None:
            raise RuntimeError('advance() needs GatewayThread(..., clock="virtual")')
        self._thread.run(self._virtual.advance(seconds), timeout=max(30.0, seconds))

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the gateway's own loop (to read state safely)."""

        async def run() -> T:
            return fn(*args)

        return self._thread.run(run())

    def stop(self) -> None:
        if self._runner is not None:
            self._thread.run(self._runner.cleanup())
            self._runner = None
        self._thread.stop()

    def __enter__(self) -> GatewayThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class PushCollector:
    """Receives the device's pushes (reports, received SMS, status) on a free port and keeps them in order.

    Give ``url`` to the device as ``sr_url``, ``sms_url`` or the status ``url``; answer with
    ``status`` (set it to 503 to play a platform that is down).
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._host = host
        self._thread = _LoopThread("ejoin push collector")
        self._cond = threading.Condition()
        self._pushes: list[Push] = []
        self.status = 200
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}/push"

    @property
    def pushes(self) -> list[Push]:
        with self._cond:
            return list(self._pushes)

    def of_type(self, kind: str) -> list[Push]:
        """The pushes whose ``type`` is ``kind`` (status-report, recv-sms, dev-status, port-status)."""
        return [p for p in self.pushes if p.get("type") == kind]

    def wait_for(self, predicate: Callable[[Push], bool], timeout: float = 10.0) -> Push:
        """The first push (received so far or later) for which ``predicate`` is true."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for push in self._pushes[seen:]:
                    if predicate(push):
                        return push
                seen = len(self._pushes)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no matching push within {timeout:g} s ({seen} pushes received)")
                self._cond.wait(left)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.status >= 300:
            return web.json_response({"code": self.status}, status=self.status)
        try:
            push = json.loads(body)
        except ValueError:
            push = {"type": "unreadable", "body": body.decode("latin-1")}
        if isinstance(push, dict):
            with self._cond:
                self._pushes.append(push)
                self._cond.notify_all()
        return web.json_response({"code": 0, "reason": "OK"})

    def start(self) -> PushCollector:
        self._thread.start()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/{tail:.*}", self._handle)

        async def start() -> None:
            self._runner, self.port = await _serve(app, self._host)

        self._thread.run(start())
        return self

    def stop(self) -> None:
        if self._runner is not None:
            self._thread.run(self._runner.cleanup())
            self._runner = None
        self._thread.stop()

    def __enter__(self) -> PushCollector:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
