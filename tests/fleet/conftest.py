"""A fleet on its own loop thread, in front of real member gateways (``GatewayThread``, fast clock)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ejoin.clock import VirtualClock
from ejoin.fleet.api.app import create_fleet_app
from ejoin.fleet.config import load_fleet_config
from ejoin.fleet.engine.runtime import Fleet
from ejoin.fleet.ledger import Ledger, SqliteLedger
from ejoin.testing import GatewayThread, PushCollector, _LoopThread, _serve

from .pg import PgServer, pg_bin

AUTH = {"username": "fleet", "password": "secret"}


class FleetThread:
    def __init__(self, data: Path, members: list[dict[str, Any]], *, virtual: bool = False, **settings: Any) -> None:
        self.config = load_fleet_config(
            None, {"data": str(data), "username": "fleet", "password": "secret", "member": members, **settings}
        )
        self.clock = VirtualClock() if virtual else None
        self.fleet = Fleet(self.config, clock=self.clock)
        self._thread = _LoopThread("ejoin fleet")
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FleetThread:
        self._thread.start()
        self._runner, self.port = self._thread.run(_serve(create_fleet_app(self.fleet), "127.0.0.1", device=True))
        if not self.config.public_url:
            self.fleet.public_url = self.url  # members push their reports here
        return self

    def run(self, coro: Any) -> Any:
        """Run a coroutine on the fleet's loop; its result."""
        return self._thread.run(coro)

    def advance(self, seconds: float) -> None:
        assert self.clock is not None, "FleetThread(..., virtual=True)"
        self._thread.run(self.clock.advance(seconds))

    def tick(self) -> None:
        """One round of the fleet's poll: members' status, failover, dispatch."""
        self._thread.run(self.fleet.tick())

    def idle(self) -> None:
        self._thread.run(self.fleet.idle())

    def stop(self) -> None:
        self._thread.run(self._runner.cleanup())
        self._thread.stop()

    def get(self, path: str, **params: Any) -> Any:
        return httpx.get(self.url + path, params={**AUTH, **params}, timeout=20).json()

    def post(self, path: str, body: Any, **params: Any) -> Any:
        return httpx.post(self.url + path, params={**AUTH, **params}, json=body, timeout=20).json()


def member(g: GatewayThread | str, ports: str, name: str) -> dict[str, Any]:
    url = g if isinstance(g, str) else g.url
    return {"name": name, "url": url, "username": "root", "password": "root", "ports": ports}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def platform() -> Iterator[PushCollector]:
    with PushCollector() as p:
        yield p


@pytest.fixture
def two_members(tmp_path: Path) -> Iterator[tuple[GatewayThread, GatewayThread]]:
    with (
        GatewayThread(tmp_path / "a", ports=4, slots=2, seed=1) as a,
        GatewayThread(tmp_path / "b", ports=4, slots=2, seed=2) as b,
    ):
        yield a, b


@pytest.fixture
def fleet_db() -> str:
    """The fleet's ``db`` setting: the embedded SQLite store.  A module testing behaviour on both
    stores overrides it with ``both_stores``."""
    return ""


@pytest.fixture(params=["sqlite", "postgresql"])
def both_stores(request: pytest.FixtureRequest) -> str:
    return "" if request.param == "sqlite" else str(request.getfixturevalue("pg_url"))


@pytest.fixture
def fleet(tmp_path: Path, two_members: tuple[GatewayThread, GatewayThread], fleet_db: str) -> Iterator[FleetThread]:
    a, b = two_members
    f = FleetThread(tmp_path / "fleet", [member(a, "1-4", "a"), member(b, "5-8", "b")], db=fleet_db).start()
    try:
        yield f
    finally:
        f.stop()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One throwaway PostgreSQL for the whole session (started on first use, stopped at the end)."""
    bindir = pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (no pg_ctl on PATH nor in /usr/lib/postgresql/*/bin)")
    server = PgServer(bindir).start()
    try:
        yield server
    finally:
        server.stop()


_dbs = iter(range(1, 1_000_000))


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A fresh empty database of the session's server, for one test."""
    return pg_server.create_db(f"t{next(_dbs)}")


class Balancer:
    """What sits in front of fleet replicas: each request goes to the next replica, or to the one
    after when a replica does not answer (killed).  Members push their reports through it, so a
    report may land on any replica, as behind a real load balancer."""

    def __init__(self, backends: list[str], port: int = 0) -> None:
        self.backends = list(backends)
        self._next = 0
        self._thread = _LoopThread("balancer")
        self.port = port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _forward(self, request: Any) -> Any:
        import aiohttp
        from aiohttp import web

        body = await request.read()
        for _ in range(len(self.backends)):
            backend = self.backends[self._next % len(self.backends)]
            self._next += 1
            try:
                async with (
                    aiohttp.ClientSession() as session,
                    session.request(
                        request.method,
                        backend + request.path_qs,
                        data=body,
                        headers={"Content-Type": "application/json"},
                    ) as resp,
                ):
                    return web.Response(status=resp.status, body=await resp.read(), content_type=resp.content_type)
            except aiohttp.ClientConnectionError:
                continue
        return web.Response(status=502, text="no replica answers")

    def start(self) -> Balancer:
        from aiohttp import web

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._thread.start()
        self._runner, self.port = self._thread.run(_serve(app, "127.0.0.1", self.port))
        return self

    def stop(self) -> None:
        self._thread.run(self._runner.cleanup())
        self._thread.stop()


def until(condition: Callable[[], Any], timeout: float = 20.0) -> Any:
    """What members and replicas do over real HTTP and PostgreSQL notifications, from threads of
    their own: looked for until it happened (its truthy result), bounded.  Behaviour in time is
    not waited for here: that is the virtual clocks' (``advance``)."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.02)
    return result


def unforwarded(data: Path, db: str) -> list[Any]:
    """The received SMS a stopped fleet's ledger holds and never handed to the outbox."""

    async def read() -> list[Any]:
        ledger = ledger_of(data, db)
        await ledger.open()
        try:
            return await ledger.inbox_unforwarded()
        finally:
            await ledger.close()

    return asyncio.run(read())


def ledger_of(data: Path, db: str) -> Ledger:
    """The ledger a fleet with data dir ``data`` and ``db`` setting keeps, opened by a test on its own."""
    if db:
        from ejoin.fleet.ledger.pgdb import PgDatabase
        from ejoin.fleet.ledger.postgres import PgLedger

        return PgLedger(PgDatabase(db))
    return SqliteLedger(data / "fleet.sqlite3")
