"""A fleet's operator pages on two members of 64 x 8 (128 fleet ports, 1,024 slots), each beside a
reference measured in the same run.

    .venv/bin/python benchmarks/fleet_pages.py

References: goip_get_status through the fleet (128 entries, from the members' last status: no member
asked) and with all_slots=1 (1,024 entries: both members asked, as the ports page asks them).
Measured: GET /healthz (a ledger ping), GET /metrics (members, ports by state, one ledger query kept
5 s: so a scrape with it kept, and one with it read), the dashboard's ports page (with the members'
answers kept, and with them asked again: what a page costs after a change), the overview (the
members' statistics of the day asked again each time) and the members page.

Everything runs in this one process (the members too, as `ejoin gateway --fast` apps), so a page that
asks the members includes their answers.  Times are medians of sequential requests over loopback,
after a send of 1,000 SMS so the ledger and counters are not empty.
"""

from __future__ import annotations

import asyncio
import base64
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import serve  # noqa: E402
from ejoin.drivers import load_gateway_config  # noqa: E402
from ejoin.fleet.api.app import create_fleet_app  # noqa: E402
from ejoin.fleet.config import load_fleet_config  # noqa: E402
from ejoin.fleet.engine.runtime import Fleet  # noqa: E402
from ejoin.gateway.runtime import Gateway  # noqa: E402
from ejoin.web.app import create_app  # noqa: E402
from ejoin.web.dashboard.views import BOARD  # noqa: E402

ROUNDS = 40
FLEET = {"username": "fleet", "password": "secret"}
BASIC = {"Authorization": "Basic " + base64.b64encode(b"fleet:secret").decode()}


async def median_ms(
    session: aiohttp.ClientSession, url: str, before: Callable[[], None] = lambda: None, **kwargs
) -> tuple[float, int]:
    times = []
    size = 0
    for _ in range(ROUNDS):
        before()
        start = time.perf_counter()
        async with session.get(url, **kwargs) as resp:
            body = await resp.read()
            assert resp.status == 200, (url, resp.status, body[:200])
        times.append((time.perf_counter() - start) * 1000)
        size = len(body)
    return statistics.median(times), size


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        members = []
        for name in ("rack1", "rack2"):
            config = load_gateway_config(
                None, {"data": f"{tmp}/{name}", "ports": 64, "slots": 8, "fast": True, "seed": len(members) + 1}
            )
            runner, url = await serve(create_app(Gateway(config)))
            members.append((name, runner, url))
        ranges = ("1-64", "65-128")
        settings = {
            "data": f"{tmp}/fleet",
            **FLEET,
            "member": [
                {"name": n, "url": u, "username": "root", "password": "root", "ports": p}
                for (n, _, u), p in zip(members, ranges, strict=True)
            ],
        }
        fleet = Fleet(load_fleet_config(None, settings))
        app = create_fleet_app(fleet)
        runner, base = await serve(app)
        fleet.public_url = base
        board = app[BOARD]
        try:
            await asyncio.sleep(0.5)  # the members' modules register (fast: no delay)
            await fleet.tick()  # and are subscribed to push to the fleet
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
                to = ",".join(f"1390000{i:04d}" for i in range(1000))
                body = {"type": "send-sms", "tasks": [{"tid": 1, "to": to, "sms": "benchmark"}]}
                async with s.post(f"{base}/goip_post_sms.html", params=FLEET, json=body) as r:
                    assert r.status == 200
                await asyncio.sleep(1.0)
                await login(s, base)
                slots = board._slots  # the members' answers with every slot, kept for the ports page
                today = board._today  # the members' statistics of the day, kept
                rows = [
                    ("reference: goip_get_status", await median_ms(s, f"{base}/goip_get_status.html", params=FLEET)),
                    (
                        "reference: goip_get_status all_slots=1",
                        await median_ms(s, f"{base}/goip_get_status.html", params={**FLEET, "all_slots": "1"}),
                    ),
                    ("GET /healthz", await median_ms(s, f"{base}/healthz")),
                    ("GET /metrics (ledger figures kept)", await median_ms(s, f"{base}/metrics", headers=BASIC)),
                    (
                        "GET /metrics (ledger figures read)",
                        await median_ms(
                            s, f"{base}/metrics", before=lambda: setattr(fleet, "_figures", None), headers=BASIC
                        ),
                    ),
                    ("GET /dashboard/ports (answers kept)", await median_ms(s, f"{base}/dashboard/ports")),
                    (
                        "GET /dashboard/ports (members asked)",
                        await median_ms(s, f"{base}/dashboard/ports", before=lambda: (slots.stale(), today.stale())),
                    ),
                    (
                        "GET /dashboard/overview (members asked)",
                        await median_ms(s, f"{base}/dashboard/overview", before=today.stale),
                    ),
                    ("GET /dashboard/members", await median_ms(s, f"{base}/dashboard/members")),
                ]
            print(f"fleet of 2 members x 64 x 8 (128 ports, 1,024 slots), median of {ROUNDS} sequential requests")
            for name, (ms, size) in rows:
                print(f"  {name:<42} {ms:7.2f} ms  ({size} bytes)")
        finally:
            await runner.cleanup()
            for _, member_runner, _ in members:
                await member_runner.cleanup()


async def login(session: aiohttp.ClientSession, base: str) -> None:
    async with session.get(f"{base}/") as resp:
        found = re.search(r'name="csrf" value="([^"]+)"', await resp.text())
        assert found is not None
    form = {**FLEET, "csrf": found.group(1)}
    async with session.post(f"{base}/login", data=form, allow_redirects=False) as resp:
        assert resp.status == 303


if __name__ == "__main__":
    asyncio.run(main())
