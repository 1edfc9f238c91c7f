from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ejoin import drivers
from ejoin.clock import VirtualClock
from ejoin.drivers import load_gateway_config
from ejoin.gateway.config import GatewayConfig
from ejoin.gateway.device import Device as SimDevice
from ejoin.gateway.plugin import DriverKind, Modems
from ejoin.gateway.runtime import Gateway
from ejoin.sim.config import Timing
from ejoin.smpp import for_gateway
from ejoin.store.sqlite import SQLiteStore
from ejoin.web.access_log import RedactingAccessLogger
from ejoin.web.app import create_app
from ejoin.web.connections import GuardedRunner

AUTH = {"username": "root", "password": "root"}


@dataclass
class Push:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A platform's push endpoint: records every push; its answer is programmable."""

    url: str = ""
    pushes: list[Push] = field(default_factory=list)
    status: int = 200
    attempts: int = 0
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def of_type(self, kind: str) -> list[dict]:
        return [p.json for p in self.pushes if p.json.get("type") == kind]

    async def wait_for(self, predicate: Callable[[Receiver], bool], timeout: float = 5.0) -> None:
        """Wait (real time: pushes cross a real socket) until ``predicate`` holds."""

        async def loop() -> None:
            while not predicate(self):
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(loop(), timeout)

    async def wait_count(self, n: int, kind: str | None = None, timeout: float = 5.0) -> None:
        if kind is None:
            await self.wait_for(lambda r: len(r.pushes) >= n, timeout)
        else:
            await self.wait_for(lambda r: len(r.of_type(kind)) >= n, timeout)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.attempts += 1
        if self.status == 200:
            self.pushes.append(Push(request.path, dict(request.headers), body))
        self._changed.set()
        return web.Response(status=self.status, text="ok")


@pytest.fixture
async def receiver(aiohttp_server) -> Receiver:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", rec.handle)
    server = await aiohttp_server(app)
    rec.url = str(server.make_url("/push"))
    return rec


class _Refusals(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Exception] = []

    def emit(self, record: logging.LogRecord) -> None:
        refused = getattr(record, "state_refused", None)
        if refused is not None:
            self.seen.append(refused)


@pytest.fixture(autouse=True)
def refused_states(monkeypatch):
    """Moves the SIM state machine refused during the test (gateway/sim_states.py): they raise, and
    one refused inside a task (where nobody sees it raise) fails the test here.  A test that
    provokes one on purpose empties the list."""
    monkeypatch.setattr(SimDevice, "strict_states", True)
    handler = _Refusals()
    logger = logging.getLogger("ejoin.gateway.device")
    logger.addHandler(handler)
    yield handler.seen
    logger.removeHandler(handler)
    assert not handler.seen, f"the SIM state machine refused: {handler.seen}"


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


# EJOIN_TEST_MODEMS=emulated: every device of the suite runs AT modem emulators through the AT driver.
TEST_MODEMS = os.environ.get("EJOIN_TEST_MODEMS", "simulated")


def pytest_generate_tests(metafunc):
    # @pytest.mark.also_emulated: the default run takes the test on the simulated network and again on
    # emulated AT modems (a subset of the end-to-end suites, so every run crosses the AT path).
    marked = metafunc.definition.get_closest_marker("also_emulated") is not None
    if marked and TEST_MODEMS == "simulated" and "test_modems" in metafunc.fixturenames:
        metafunc.parametrize("test_modems", ["simulated", "emulated"], indirect=True)


@pytest.fixture
def test_modems(request) -> str:
    """The driver of the test's devices: EJOIN_TEST_MODEMS, or the parameter of an ``also_emulated`` test."""
    return getattr(request, "param", TEST_MODEMS)


TEST_TIMING = Timing(
    card_detect=1.0, register_min=2.0, register_max=4.0, module_restart=3.0, send_min=2.0, send_max=2.0
)


def make_config(tmp_path, **overrides: Any) -> GatewayConfig:
    base: dict[str, Any] = dict(
        data=str(tmp_path / "data"),
        ports=4,
        slots=4,
        seed=7,
        timing=TEST_TIMING,
        push_retry_base=1.0,
        push_retry_cap=60.0,
        push_timeout=5.0,
        shutdown_grace=0.0,
    )
    base.setdefault("modems", TEST_MODEMS)
    base.update(overrides)
    if base.get("modems", "simulated") not in ("simulated", "emulated"):
        del base["timing"]  # the simulator's key
    elif isinstance(base["timing"], Timing):
        base["timing"] = msgspec.structs.asdict(base["timing"])
    return load_gateway_config(None, base)


@dataclass
class Device:
    """A running gateway under test, reached over real HTTP."""

    gw: Gateway
    client: Any
    clock: VirtualClock

    async def get(self, path: str, **params: Any) -> Any:
        resp = await self.client.get(path, params={**AUTH, **{k: str(v) for k, v in params.items()}})
        assert resp.status < 500, await resp.text()
        return await resp.json()

    async def post(self, path: str, body: Any = None, *, params: dict | None = None, raw: bytes | str | None = None):
        query = {**AUTH, **(params or {})}
        data = raw if raw is not None else json.dumps(body)
        resp = await self.client.post(path, params=query, data=data)
        assert resp.status < 500, await resp.text()
        return await resp.json()

    async def cmd(self, body: Any = None, **params: Any) -> Any:
        if body is None:
            return await self.get("/goip_send_cmd.html", **params)
        return await self.post("/goip_send_cmd.html", body, params={k: str(v) for k, v in params.items()})

    async def status(self, **params: Any) -> dict:
        return await self.get("/goip_get_status.html", **params)

    async def settle(self, seconds: float = 10.0) -> None:
        """Let simulated time pass (registration takes up to 5 s here)."""
        await self.clock.advance(seconds)

    async def until(
        self, predicate: Callable[[], bool], within: float = 60.0, what: str = "", step: float = 1.0
    ) -> float:
        """Simulated time passes ``step`` at a time until ``predicate()`` holds; the simulated seconds it took.

        Steps of ``step`` seconds, not a jump to the next timer: some tests measure how long a
        behaviour takes in simulated time to that resolution.
        """
        took = 0.0
        while not predicate():
            assert took < within, f"not within {within:g} simulated seconds: {what or predicate}"
            await self.clock.advance(step)
            took += step
        return took

    def state_of(self, slot: str) -> int:
        return int(self.slot(slot).state)

    async def send(self, *tasks: dict, **request: Any) -> dict:
        body = {"type": "send-sms", "task_num": len(tasks), "tasks": list(tasks), **request}
        return await self.post("/goip_post_sms.html", body)

    async def send_ok(self, *tasks: dict, **request: Any) -> None:
        res = await self.send(*tasks, **request)
        assert [s["status"] for s in res["status"]] == ["0 OK"] * len(tasks), res

    def slot(self, name: str):
        from ejoin.protocol.ports import PortAddress

        return self.gw.device.slot(PortAddress.parse(name, self.gw.size))


class EdgeTestServer(TestServer):
    """aiohttp's test server, serving as ``ejoin gateway`` does: the connection guard and the HTTP edge."""

    async def _make_runner(self, **kwargs: Any) -> web.AppRunner:
        return GuardedRunner(self.app, **kwargs)


@pytest.fixture
def device_factory(tmp_path, clock, aiohttp_client, test_modems):
    async def make(*, path=None, store: Any = None, **overrides: Any) -> Device:
        overrides.setdefault("modems", test_modems)
        config = make_config(path or tmp_path, **overrides)
        gw = Gateway(config, clock=clock, store=store)
        for_gateway(gw)  # as ejoin gateway puts it together: an SMPP server when smpp_port is set
        # served as `ejoin gateway` serves it: credentials masked in the access log
        server = EdgeTestServer(create_app(gw))
        await server.start_server(access_log_class=RedactingAccessLogger)
        client = await aiohttp_client(server)
        # virtual time moves only once the DB thread has done what was asked of it
        clock.add_quiescer(gw.store.quiesce)
        return Device(gw, client, clock)

    return make


@pytest.fixture
async def device(device_factory) -> Device:
    dev = await device_factory()
    await dev.settle()
    return dev


class DiskFull(sqlite3.OperationalError):
    pass


class DiskFullStore(SQLiteStore):
    """A store whose writes fail while ``full`` is set, as on a full disk (reads still work)."""

    full = False
    failed_writes = 0

    def _run_batch(self, conn, batch):
        if not self.full:
            return super()._run_batch(conn, batch)
        # Each piece that changed anything fails, as its commit would on a full disk; reads succeed.
        conn.execute("BEGIN IMMEDIATE")
        outcomes = []
        for fn, args, fut in batch:
            before = conn.total_changes
            try:
                result, exc = fn(conn, *args), None
            except Exception as error:
                result, exc = None, error
            if conn.total_changes != before:
                self.failed_writes += 1
                result, exc = None, DiskFull("database or disk is full")
            outcomes.append((fn, fut, result, exc))
        conn.execute("ROLLBACK")
        self._thread.settle_all(outcomes)


def use_driver(monkeypatch, name: str, modems: Any) -> Any:
    """``modems`` as the driver ``name`` for one test, registered in code as an embedding program would."""
    kind = DriverKind(name=name, create=lambda config, clock, store: Modems(modems))
    monkeypatch.setitem(drivers.REGISTERED, name, kind)
    return modems
