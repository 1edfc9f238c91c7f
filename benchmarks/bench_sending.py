"""Sending figures, each beside a reference floor measured in the same run.

    .venv/bin/python benchmarks/bench_sending.py [--quick]

1. Intake of one request, 1 task x 100,000 recipients, over HTTP until the
   task-status answer (the task committed) — floor: bare JSON parse of the same
   body + bare SQLite insert of one row per recipient.  Target >= 1,000,000/s.
2. Intake of one request of 1,000 tasks x 10 recipients — same floor.
3. End-to-end SMS/s on 32 ports x 8 slots with --fast: from the POST until the
   status reports of every SMS reached a local receiver.  Target >= 10,000/s.
4. RSS per queued recipient: 1,000,000 recipients queued (ports locked).
   Target <= 200 bytes.
5. The issue's configuration: 32 ports x 8 slots --fast, ONE task of 100,000
   recipients without ``from``, task ``sr_cnt`` 1000, request ``sr_cnt`` 100 /
   ``sr_prd`` 1, until the final status report reaches a local receiver.
   Target >= 20,000/s.  Floor: the same SMS count pushed through bare SQLite,
   a job row inserted and then updated per SMS, 32 of them (one per port) per
   commit — the durability every SMS pays.

    .venv/bin/python benchmarks/bench_sending.py --issue   # only 5
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import AUTH, FinalReports, serve  # noqa: E402
from ejoin.drivers import load_gateway_config  # noqa: E402
from ejoin.gateway.runtime import Gateway, tune_gc_for_server  # noqa: E402
from ejoin.protocol.ports import PortAddress  # noqa: E402
from ejoin.web.app import create_app  # noqa: E402


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def numbers(count: int, start: int = 0) -> list[str]:
    return [f"13{start + i:09d}" for i in range(count)]


def floor(body: bytes, rows: int, tmp: Path) -> float:
    """Seconds for a bare JSON parse of ``body`` and a bare insert of ``rows`` recipient rows."""
    t0 = time.perf_counter()
    data = msgspec.json.decode(body)
    nums = [n for t in data["tasks"] for n in t["to"].split(",")]
    path = tmp / f"floor-{time.monotonic_ns()}.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE r(task INTEGER, idx INTEGER, number TEXT, PRIMARY KEY(task, idx)) WITHOUT ROWID")
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO r VALUES(1, ?, ?)", enumerate(nums))
    conn.execute("COMMIT")
    conn.close()
    assert len(nums) == rows
    return time.perf_counter() - t0


async def post(session: aiohttp.ClientSession, url: str, body: bytes) -> dict:
    async with session.post(f"{url}/goip_post_sms.html", params=AUTH, data=body) as r:
        return await r.json()


async def bench_intake(tmp: Path) -> None:
    config = load_gateway_config(None, {"data": str(tmp / "intake"), "ports": 32, "slots": 8, "fast": True})
    gw = Gateway(config)
    runner, base = await serve(create_app(gw))
    await gw.device.stop()  # modules off: measure intake alone, nothing is sent

    def one_big(run: int) -> tuple[dict, int]:
        return {
            "type": "send-sms",
            "tasks": [{"tid": run, "to": ",".join(numbers(100_000, run * 100_000)), "sms": "benchmark"}],
        }, 100_000

    def many_small(run: int) -> tuple[dict, int]:
        base_tid = 1_000_000 * (run + 1)
        return {
            "type": "send-sms",
            "tasks": [
                {"tid": base_tid + t, "to": ",".join(numbers(10, base_tid + t * 10)), "sms": "benchmark"}
                for t in range(1000)
            ],
        }, 10_000

    async with aiohttp.ClientSession() as s:
        for label, make, target in (
            ("1 task x 100,000", one_big, "1,000,000"),
            ("1,000 tasks x 10", many_small, "200,000"),
        ):
            rates, floors = [], []
            for run in range(5):  # the median of five: one request is a few tens of ms
                body_obj, rows = make(run)
                body = json.dumps(body_obj).encode()
                t0 = time.perf_counter()
                answer = await post(s, base, body)
                took = time.perf_counter() - t0
                assert all(x["status"] == "0 OK" for x in answer["status"]), answer["status"][:3]
                rates.append(rows / took)
                floors.append(rows / floor(body, rows, tmp))
            print("   runs:", " ".join(f"{r:,.0f}" for r in rates))
            rate, ref = statistics.median(rates), statistics.median(floors)
            print(
                f"intake {label:18s} {rate:10,.0f} recipients/s   "
                f"floor (bare JSON parse + bare insert of a row per recipient): {ref:10,.0f}/s   "
                f"target >= {target}/s   (median of 5)"
            )
    await runner.cleanup()


async def bench_end_to_end(tmp: Path, total: int, *, every_port: bool = False) -> None:
    reports = await FinalReports(total).start()
    config = load_gateway_config(None, {"data": str(tmp / "e2e"), "ports": 32, "slots": 8, "fast": True})
    gw = Gateway(config)
    runner, base = await serve(create_app(gw))
    await asyncio.sleep(0.5)  # registration (fast: immediate)
    tasks = 100 if not every_port else 1000
    per = total // tasks // (31 if every_port else 1)
    extra = {"from": "2-32", "to_all": 1} if every_port else {}
    body = json.dumps(
        {
            "type": "send-sms",
            "sr_url": reports.url,
            "tasks": [
                {"tid": t, "to": ",".join(numbers(per, t * per)), "sms": "end to end", **extra} for t in range(tasks)
            ],
        }
    ).encode()
    async with aiohttp.ClientSession() as s:
        if every_port:
            # A backlog that cannot move (port 1 is locked) queued ahead of the measured tasks.
            gw.device.lock([PortAddress(1)])
            await post(
                s,
                base,
                json.dumps(
                    {
                        "type": "send-sms",
                        "tasks": [{"tid": 10**6 + t, "from": "1", "to": "1", "sms": "stuck"} for t in range(1000)],
                    }
                ).encode(),
            )
        t0 = time.perf_counter()
        await post(s, base, body)
        await reports.wait()
        took = time.perf_counter() - t0
    await runner.cleanup()
    await reports.stop()
    label = (
        "from 2-32, to_all=1, 1,000 tasks, behind 1,000 tasks stuck on a locked port"
        if every_port
        else "no from, 100 tasks"
    )
    print(
        f"end to end ({label}): {total:,} SMS on 32 ports x 8 slots (--fast), reports included: "
        f"{total / took:10,.0f} SMS/s ({took:.1f} s, {reports.reports} task reports)   target >= 10,000/s"
    )


def cpu_seconds() -> float:
    """CPU time of this process, every thread: steadier than wall time on a shared machine."""
    t = os.times()
    return t.user + t.system


def sqlite_floor(tmp: Path, total: int, per_commit: int = 32) -> float:
    """SMS/s of bare SQLite: per SMS one job row inserted then updated, ``per_commit`` SMS per commit."""
    path = tmp / f"floor-e2e-{time.monotonic_ns()}.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE job(task_id INTEGER, lane INTEGER, idx INTEGER, number TEXT, port TEXT, state INTEGER, "
        "ts INTEGER, reason TEXT, done_seq INTEGER, PRIMARY KEY(task_id, lane, idx)) WITHOUT ROWID"
    )
    nums = numbers(total)
    t0 = time.perf_counter()
    for first in range(0, total, per_commit):
        idx = range(first, min(total, first + per_commit))
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO job(task_id, lane, idx, number, port, state, ts) VALUES(1, 0, ?, ?, '1.01', 1, 0)",
            [(i, nums[i]) for i in idx],
        )
        conn.executemany(
            "UPDATE job SET state = 2, done_seq = ? WHERE task_id = 1 AND lane = 0 AND idx = ?", [(i, i) for i in idx]
        )
        conn.execute("COMMIT")
    took = time.perf_counter() - t0
    conn.close()
    return total / took


async def bench_issue(tmp: Path, total: int) -> None:
    """One task of ``total`` recipients, no from, task sr_cnt 1000, request sr_cnt 100 / sr_prd 1."""
    latencies: list[float] = []
    reports = await FinalReports(total).start()
    config = load_gateway_config(None, {"data": str(tmp / "issue"), "ports": 32, "slots": 8, "fast": True})
    gw = Gateway(config)
    runner, base = await serve(create_app(gw))
    await asyncio.sleep(0.5)  # registration (fast: immediate)
    body = json.dumps(
        {
            "type": "send-sms",
            "sr_url": reports.url,
            "sr_cnt": 100,
            "sr_prd": 1,
            "tasks": [{"tid": 1, "to": ",".join(numbers(total)), "sms": "issue", "sr_cnt": 1000}],
        }
    ).encode()
    async with aiohttp.ClientSession() as s:
        sent_at: list[float] = []

        async def poll_status() -> None:
            # A status query while it runs: the device must keep answering.
            while not reports.finished:
                t = time.perf_counter()
                async with s.get(f"{base}/goip_get_status.html", params=AUTH) as r:
                    await r.read()
                latencies.append(time.perf_counter() - t)
                if not sent_at and gw.sending.task_count() == 0:
                    sent_at.append(time.perf_counter())  # every SMS done; the report waits in its cache
                await asyncio.sleep(0.05)

        t0, cpu0, loop0 = time.perf_counter(), cpu_seconds(), time.thread_time()
        await post(s, base, body)
        poller = asyncio.ensure_future(poll_status())
        await reports.wait()
        took, cpu, loop_cpu = time.perf_counter() - t0, cpu_seconds() - cpu0, time.thread_time() - loop0
        await poller
    await runner.cleanup()
    await reports.stop()
    ref = sqlite_floor(tmp, total)
    p99 = sorted(latencies)[max(0, int(len(latencies) * 0.99) - 1)] * 1000 if latencies else float("nan")
    print(
        f"end to end (issue: 1 task x {total:,}, no from, sr_cnt 1000/100, sr_prd 1): {total / took:10,.0f} SMS/s "
        f"(every SMS done after {sent_at[0] - t0 if sent_at else float('nan'):.2f} s: "
        f"{total / (sent_at[0] - t0) if sent_at else float('nan'):,.0f} SMS/s; the final report leaves its "
        f"sr_prd 1 s cache after that) "
        f"({took:.1f} s; CPU per SMS: {loop_cpu * 1e6 / total:.1f} us event loop, "
        f"{cpu * 1e6 / total:.1f} us all threads)   "
        f"floor (bare SQLite insert+update per SMS, 32 per commit): {ref:10,.0f}/s   "
        f"target >= 20,000/s;  goip_get_status p99 {p99:.1f} ms over {len(latencies)} (target < 20 ms)"
    )


async def bench_memory(tmp: Path, queued: int) -> None:
    config = load_gateway_config(None, {"data": str(tmp / "mem"), "ports": 32, "slots": 8, "fast": True})
    gw = Gateway(config)
    runner, base = await serve(create_app(gw))
    await gw.device.stop()  # nothing registers: everything stays queued
    per_task = 100_000
    bodies = [
        json.dumps(
            {
                "type": "send-sms",
                "tasks": [{"tid": t, "to": ",".join(numbers(per_task, t * per_task)), "sms": "queued"}],
            }
        ).encode()
        for t in range(queued // per_task)
    ]
    async with aiohttp.ClientSession() as s:
        await post(
            s, base, json.dumps({"type": "send-sms", "tasks": [{"tid": 999_999, "to": "1", "sms": "warm"}]}).encode()
        )
        gc.collect()
        before = rss_bytes()
        for body in bodies:
            await post(s, base, body)
        del bodies
        gc.collect()
        after = rss_bytes()
    per = (after - before) / queued
    print(
        f"memory: {queued:,} recipients queued: RSS +{(after - before) / 2**20:.1f} MiB = {per:.1f} bytes per "
        f"queued recipient   target <= 200   (reference: one Python str per number would be "
        f"{sys.getsizeof('13000000000') + 8} bytes)"
    )
    await runner.cleanup()


async def main() -> None:
    quick = "--quick" in sys.argv
    tune_gc_for_server()  # as `ejoin gateway` does
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
        if "--issue" in sys.argv:
            await bench_issue(tmp, 20_000 if quick else 100_000)
            return
        await bench_intake(tmp)
        await bench_end_to_end(tmp, 20_000 if quick else 100_000)
        await bench_end_to_end(tmp / "every", 31_000 if quick else 93_000, every_port=True)
        await bench_memory(tmp, 200_000 if quick else 1_000_000)


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
