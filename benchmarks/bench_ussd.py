"""USSD and AT passthrough latency, beside goip_get_status measured in the same run.

    .venv/bin/python benchmarks/bench_ussd.py [--rounds 200]

A simulated device (32 x 4, --fast: the network answers at once) on its own
thread.  Measured over HTTP, one request at a time: the status of one port (the
reference), a balance query, one AT command; then every port at once walking
the three-step transfer menu (code, continue, confirm), as a platform topping up
many SIMs does.  Target: the passthrough's p99 within 3x the status reference,
and the 32-port menu burst free of refusals.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from ejoin.testing import GatewayThread  # noqa: E402

AUTH = {"username": "root", "password": "root"}
PORTS = 32


async def timed(s: aiohttp.ClientSession, url: str, params: dict[str, str]) -> tuple[float, dict]:
    t0 = time.perf_counter()
    async with s.get(url, params={**AUTH, **params}) as r:
        answer = await r.json()
    return time.perf_counter() - t0, answer


def figures(name: str, lat: list[float]) -> tuple[float, float]:
    lat = sorted(lat)
    p50, p99 = statistics.median(lat) * 1000, lat[int(len(lat) * 0.99) - 1] * 1000
    print(f"{name:<34} p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   (n={len(lat)})")
    return p50, p99


async def menu(s: aiohttp.ClientSession, base: str, port: int) -> tuple[float, bool]:
    t0 = time.perf_counter()
    ok = True
    for code in (f"*125*{port}*5550{port:03d}#", "1", "1"):
        _, answer = await timed(s, f"{base}/goip_send_ussd.html", {"port": str(port), "ussd": code})
        ok = ok and answer.get("code") == 0
    return time.perf_counter() - t0, ok


async def run(base: str, rounds: int) -> None:
    async with aiohttp.ClientSession() as s:
        for _ in range(20):  # warm up
            await timed(s, f"{base}/goip_get_status.html", {"ports": "1"})
        status, ussd, at = [], [], []
        for i in range(rounds):
            port = str(i % PORTS + 1)
            status.append((await timed(s, f"{base}/goip_get_status.html", {"ports": port}))[0])
            took, answer = await timed(s, f"{base}/goip_send_ussd.html", {"port": port, "ussd": "*100#"})
            assert answer["code"] == 0, answer
            ussd.append(took)
            took, answer = await timed(s, f"{base}/goip_send_at.html", {"port": port, "at": "AT+CSQ"})
            assert answer["code"] == 0, answer
            at.append(took)
        _, ref99 = figures("status (reference)", status)
        _, u99 = figures("ussd *100#", ussd)
        _, a99 = figures("at AT+CSQ", at)
        t0 = time.perf_counter()
        results = await asyncio.gather(*(menu(s, base, p) for p in range(1, PORTS + 1)))
        wall = time.perf_counter() - t0
        refused = sum(1 for _, ok in results if not ok)
        figures(f"3-step menu, {PORTS} ports at once", [t for t, _ in results])
        print(f"menu burst: {PORTS * 3} requests in {wall * 1000:.0f} ms, {refused} refused")
        verdict = max(u99, a99) <= 3 * ref99 and refused == 0
        print(f"target (p99 within 3x status, no refusals): {'met' if verdict else 'NOT met'}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as data, GatewayThread(data, ports=PORTS, slots=4) as gw:
        time.sleep(0.5)  # --fast: the modules register at once; leave the start-up work behind
        asyncio.run(run(gw.url, args.rounds))


if __name__ == "__main__":
    main()
