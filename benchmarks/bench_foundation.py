"""Foundation figures, each beside a reference floor measured in the same run.

    .venv/bin/python benchmarks/bench_foundation.py

1. dev-status answers/s over HTTP on a 64 x 32 device (all_slots=1, 2048
   entries) and per-port (64 entries) — beside a bare aiohttp handler that
   returns a pre-encoded body of the same size.
2. Durable pushes/s: pushes written to the outbox and delivered to a local
   receiver — beside bare SQLite inserts of the same rows in one transaction.
3. RSS of a 64 x 32 device after start.
"""

from __future__ import annotations

import asyncio
import os
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import AUTH, serve  # noqa: E402
from ejoin.drivers import load_gateway_config  # noqa: E402
from ejoin.gateway.runtime import Gateway  # noqa: E402
from ejoin.web.app import create_app  # noqa: E402


async def hammer(url: str, params: dict, seconds: float = 2.0, concurrency: int = 8) -> tuple[float, int]:
    done = 0
    size = 0
    deadline = time.perf_counter() + seconds
    async with aiohttp.ClientSession() as s:

        async def worker() -> None:
            nonlocal done, size
            while time.perf_counter() < deadline:
                async with s.get(url, params=params) as r:
                    size = len(await r.read())
                    done += 1

        start = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(concurrency)])
        return done / (time.perf_counter() - start), size


async def bench_status(tmp: Path) -> None:
    config = load_gateway_config(None, {"data": str(tmp / "status"), "ports": 64, "slots": 32, "fast": True})
    gw = Gateway(config)
    runner, base = await serve(create_app(gw))
    await asyncio.sleep(0.5)  # let the modules register (fast: no delay)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for label, extra in (("per port (64 entries)", {}), ("all_slots (2048 entries)", {"all_slots": "1"})):
        rate, size = await hammer(f"{base}/goip_get_status.html", {**AUTH, **extra})
        body = b"x" * size

        async def bare(_: web.Request, body: bytes = body) -> web.Response:
            return web.Response(body=body, content_type="application/json")

        ref_app = web.Application()
        ref_app.router.add_get("/", bare)
        ref_runner, ref_base = await serve(ref_app)
        ref_rate, _ = await hammer(f"{ref_base}/", {})
        await ref_runner.cleanup()
        print(
            f"dev-status {label:26s} {rate:9.0f} req/s  ({size / 1024:.0f} KiB)   "
            f"reference bare aiohttp same size: {ref_rate:9.0f} req/s  ({rate / ref_rate:.0%})"
        )
    print(f"max RSS with a 64 x 32 device running: {rss / 1024:.1f} MiB")
    await runner.cleanup()


async def bench_outbox(tmp: Path, n: int = 20_000) -> None:
    received = 0
    all_in = asyncio.Event()

    async def receive(request: web.Request) -> web.Response:
        nonlocal received
        await request.read()
        received += 1
        if received >= n:
            all_in.set()
        return web.Response(text="ok")

    rec_app = web.Application()
    rec_app.router.add_post("/push", receive)
    rec_runner, rec_base = await serve(rec_app)

    config = load_gateway_config(None, {"data": str(tmp / "outbox"), "ports": 1, "slots": 1, "fast": True})
    gw = Gateway(config)
    await gw.start()
    body = b'{"type":"port-status","port":"1.01","seq":1,"st":3,"status":"3 Registered"}' + b" " * 300
    start = time.perf_counter()
    futs = [gw.outbox.push(f"{rec_base}/push", "port-status", body) for _ in range(n)]
    await asyncio.gather(*futs)
    stored = time.perf_counter() - start
    await asyncio.wait_for(all_in.wait(), 300)
    delivered = time.perf_counter() - start
    await gw.outbox.wait_idle()
    await gw.stop()
    await rec_runner.cleanup()

    path = tmp / "ref.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, dest TEXT, kind TEXT, ct TEXT, h TEXT, body BLOB, c REAL)")
    t0 = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO t(dest, kind, ct, h, body, c) VALUES(?,?,?,?,?,?)",
        [("http://x/push", "port-status", "application/json", "{}", body, 0.0)] * n,
    )
    conn.execute("COMMIT")
    ref = time.perf_counter() - t0
    conn.close()
    print(
        f"outbox: {n} pushes stored durably at {n / stored:9.0f}/s, delivered (HTTP, 2xx, deleted) "
        f"at {n / delivered:7.0f}/s   reference bare SQLite insert, one transaction: {n / ref:9.0f}/s"
    )


async def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
        await bench_status(tmp)
        await bench_outbox(tmp)


if __name__ == "__main__":
    asyncio.run(main())
