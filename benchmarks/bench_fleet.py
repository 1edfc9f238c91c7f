"""SMS/s end to end through ``ejoin fleet``, beside the same members driven directly in the same run.

platform -> (fleet ->) members (simulated, every delay zero) -> reports back -> platform.
The figure is recipients whose final status-report reached the platform, per second of wall time.

    python benchmarks/bench_fleet.py [--members 4] [--ports 32] [--sms 2000]
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--members", type=int, default=4)
    ap.add_argument("--ports", type=int, default=32)
    ap.add_argument("--sms", type=int, default=2000)
    args = ap.parse_args()
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores; {args.members} members x {args.ports} ports, "
        f"{args.sms} SMS"
    )
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
            spans = [member(g, f"{i * args.ports + 1}-{(i + 1) * args.ports}", f"m{i}") for i, g in enumerate(gws)]
            fleet = FleetThread(Path(tmp) / "fleet", spans).start()
            try:
                via = run(
                    "",
                    {"username": "fleet", "password": "secret"},
                    platform,
                    [(fleet.url, {"username": "fleet", "password": "secret"}, numbers(args.sms, 10**6), 900)],
                )
            finally:
                fleet.stop()
        finally:
            for g in gws:
                g.stop()
    total = share * args.members
    print(f"direct to the members (reference): {total / direct:8,.0f} SMS/s  ({direct:.2f} s)")
    print(f"through the fleet, 1 replica:      {args.sms / via:8,.0f} SMS/s  ({via:.2f} s)")
    print(f"fleet overhead: {100 * (via / args.sms) / (direct / total) - 100:+.0f}% time per SMS")


if __name__ == "__main__":
    main()
