"""SMS/s end to end through ``ejoin fleet``, beside the same members driven directly in the same run.

platform -> (fleet ->) members (simulated, every delay zero) -> reports back -> platform.
The figure is recipients whose final status-report reached the platform, per second of wall time.

    python benchmarks/bench_fleet.py [--members 4] [--ports 32] [--sms 2000] [--no-pg]

The fleet runs on its embedded SQLite store, then (with PostgreSQL installed: a throwaway server
is started) on PostgreSQL with 1 and 2 replicas; everything shares one Python process.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402,F401 - puts src/ on the path
from ejoin.testing import GatewayThread, PushCollector  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.fleet.conftest import FleetThread, member  # noqa: E402
from tests.fleet.pg import PgServer, pg_bin  # noqa: E402


def numbers(count: int, start: int) -> list[str]:
    return [f"139{start + i:08d}" for i in range(count)]


def wait_done(platform: PushCollector, tids: set[int], timeout: float = 600) -> None:
    left = set(tids)

    def finished(push: dict) -> bool:
        for r in push.get("rpts", []):
            if r["tid"] in left and r["sending"] == 0 and r["unsent"] == 0:
                left.discard(r["tid"])
        return not left

    platform.wait_for(finished, timeout)


def run(base: str, auth: dict, platform: PushCollector, per_target: list[tuple[str, dict, list[str], int]]) -> float:
    started = time.perf_counter()
    tids = set()
    for url, creds, to, tid in per_target:
        # one report per task, at its end, pushed at once (request sr_cnt 1: no batching wait)
        task = {"tid": tid, "to": to, "sms": "x", "sr_cnt": 10**6, "sr_prd": 0}
        body = {"type": "send-sms", "sr_url": platform.url, "sr_cnt": 1, "tasks": [task]}
        answer = httpx.post(url + "/goip_post_sms.html", params=creds, json=body, timeout=60).json()
        assert answer["status"][0]["status"] == "0 OK", answer
        tids.add(tid)
    wait_done(platform, tids)
    return time.perf_counter() - started


def through_fleets(tmp: Path, spans: list[dict], platform: PushCollector, sms: int, tid: int, **settings) -> float:
    """One task per replica (each replica owns what it accepted), the SMS split between them."""
    replicas = settings.pop("replicas", 1)
    fleets = [FleetThread(tmp / f"fleet{tid}-{i}", spans, **settings).start() for i in range(replicas)]
    creds = {"username": "fleet", "password": "secret"}
    share = sms // replicas
    try:
        return run(
            "",
            creds,
            platform,
            [(f.url, creds, numbers(share, 10**6 + i * share), tid + i) for i, f in enumerate(fleets)],
        )
    finally:
        for f in fleets:
            f.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--members", type=int, default=4)
    ap.add_argument("--ports", type=int, default=32)
    ap.add_argument("--sms", type=int, default=2000)
    ap.add_argument("--no-pg", action="store_true", help="skip the PostgreSQL runs")
    args = ap.parse_args()
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores; {args.members} members x {args.ports} ports, "
        f"{args.sms} SMS"
    )
    bindir = None if args.no_pg else pg_bin()
    server = PgServer(bindir).start() if bindir else None
    figures: list[tuple[str, float]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp, PushCollector() as platform:
            gws = [
                GatewayThread(Path(tmp) / f"m{i}", ports=args.ports, slots=1, seed=i + 1).start()
                for i in range(args.members)
            ]
            try:
                auth = {"username": "root", "password": "root"}
                share = args.sms // args.members
                direct = run(
                    "", auth, platform, [(g.url, auth, numbers(share, i * share), 100 + i) for i, g in enumerate(gws)]
                )
                figures.append(("direct to the members (reference)", (share * args.members) / direct))
                spans = [member(g, f"{i * args.ports + 1}-{(i + 1) * args.ports}", f"m{i}") for i, g in enumerate(gws)]
                via = through_fleets(Path(tmp), spans, platform, args.sms, 900)
                figures.append(("through the fleet, SQLite, 1 replica", args.sms / via))
                if server is not None:
                    for n, tid in ((1, 1000), (2, 1100)):
                        db = server.create_db(f"bench{n}")
                        via = through_fleets(Path(tmp), spans, platform, args.sms, tid, db=db, replicas=n)
                        figures.append(
                            (f"through the fleet, PostgreSQL, {n} replica{'s' if n > 1 else ''}", args.sms / via)
                        )
            finally:
                for g in gws:
                    g.stop()
    finally:
        if server is not None:
            server.stop()
    reference = figures[0][1]
    for name, rate in figures:
        overhead = "" if rate is reference else f"  overhead {100 * reference / rate - 100:+.0f}% time per SMS"
        print(f"{name:<42} {rate:8,.0f} SMS/s{overhead}")
    if server is None:
        print("(PostgreSQL runs skipped: " + ("--no-pg)" if args.no_pg else "no pg_ctl/initdb found)"))


if __name__ == "__main__":
    main()
