"""SMS/s through the AT path, beside the simulated network in the same run.

    .venv/bin/python benchmarks/bench_at.py [--quick]

1. End to end on 32 ports x 1 slot with --fast (zero latency): from the POST until the
   status reports of every SMS reached a local receiver, once with the simulated network
   (the reference) and once with ``modems = "emulated"``: every SMS through the AT driver,
   a serial line (pty) and an emulated module's AT engine.  Target: the AT path >= 2,000 SMS/s.
2. Software overhead per SMS on the AT path: process CPU time per SMS in run 1 (gateway,
   driver and the emulators together, so an upper bound for the driver), as a share of the
   ~3 s a real module takes per SMS.  Target < 1 %.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import AUTH, FinalReports, serve  # noqa: E402
from ejoin.drivers import load_gateway_config  # noqa: E402
from ejoin.gateway.runtime import Gateway, tune_gc_for_server  # noqa: E402
from ejoin.web.app import create_app  # noqa: E402

PORTS = 32
MODULE_SECONDS = 3.0  # what a real module takes per SMS


async def end_to_end(tmp: Path, modems: str, total: int) -> tuple[float, float]:
    """(SMS/s, CPU seconds per SMS) of ``total`` SMS on 32 one-slot ports."""
    config = load_gateway_config(
        None, {"data": str(tmp / modems), "ports": PORTS, "slots": 1, "fast": True, "modems": modems}
    )
    gw = Gateway(config)
    runner, base = await serve(create_app(gw))
    async with FinalReports(total) as reports, aiohttp.ClientSession() as s:
        for _ in range(600):  # every module registered (over AT: a real bring-up)
            async with s.get(f"{base}/goip_get_status.html", params=AUTH) as resp:
                status = await resp.json(content_type=None)
            if all(e["st"] == 3 for e in status["status"]):
                break
            await asyncio.sleep(0.05)
        else:
            raise SystemExit(f"{modems}: the ports did not register")
        tasks = 100
        per = total // tasks
        body = json.dumps(
            {
                "type": "send-sms",
                "sr_url": reports.url,
                "tasks": [
                    {"tid": t, "to": ",".join(f"13{t * per + i:09d}" for i in range(per)), "sms": "through AT"}
                    for t in range(tasks)
                ],
            }
        ).encode()
        t0, c0 = time.perf_counter(), time.process_time()
        async with s.post(f"{base}/goip_post_sms.html", params=AUTH, data=body) as resp:
            await resp.read()
        await reports.wait()
        took, cpu = time.perf_counter() - t0, time.process_time() - c0
    await runner.cleanup()
    return total / took, cpu / total


async def main() -> None:
    quick = "--quick" in sys.argv
    total = 4_000 if quick else 20_000
    tune_gc_for_server()
    with tempfile.TemporaryDirectory() as tmp:
        ref, ref_cpu = await end_to_end(Path(tmp), "simulated", total)
        at, at_cpu = await end_to_end(Path(tmp), "emulated", total)
    print(f"{total:,} SMS on {PORTS} ports x 1 slot, --fast, reports included:")
    print(f"  simulated network (reference): {ref:9,.0f} SMS/s  ({ref_cpu * 1e3:.3f} ms CPU per SMS)")
    print(
        f"  AT path (driver + pty + emulated modules): {at:9,.0f} SMS/s ({at / ref:.0%} of the reference)"
        f"   target >= 2,000 SMS/s"
    )
    share = at_cpu / MODULE_SECONDS
    print(
        f"  AT path CPU per SMS: {at_cpu * 1e3:.3f} ms = {share:.3%} of a module's ~{MODULE_SECONDS:g} s per SMS"
        f"   target < 1%"
    )


if __name__ == "__main__":
    asyncio.run(main())
