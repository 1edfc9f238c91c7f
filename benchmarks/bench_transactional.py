"""Transactional traffic: one task of one recipient per request, beside a bare aiohttp handler.

    .venv/bin/python benchmarks/bench_transactional.py [--seconds 10] [--runs 3] [--config prd0|defaults|both]

The issue's workload (issue 28), measured black-box: a real ``ejoin gateway
--ports 32 --slots 8 --fast`` process, 32 keep-alive connections from ``wrk``
(2 threads; /usr/bin/wrk, Debian package ``wrk``), each POST a new tid with one
recipient and a request-level ``sr_url`` pointing at a receiver in a process of
its own.  Figures, each run a fresh gateway, the median of ``--runs``:

- floor: the same client against a bare aiohttp handler (reads the body, answers
  a fixed task-status JSON; same event loop as the gateway's) in the same run;
- tasks accepted per second (and wrk's p99 of the answer);
- end to end: accepted tasks / time from the first POST until the receiver had a
  final report of every one of them (target: >= 0.5 x the floor);
- CPU seconds of the gateway process (all its threads) per task, from the first
  POST until the last report: steadier than the rates on a shared machine;
- goip_get_status (every port) p99 while the load runs (target < 20 ms);
- nothing lost: every task answered "0 OK" has a final report (checked).

Two configurations of the request (``--config``):

- ``prd0``: request-level ``sr_prd`` 0 (every report leaves at once: the issue's);
- ``defaults``: no request-level ``sr_cnt``/``sr_prd`` (100 reports or 30 s per
  push); its end to end includes the last cache's wait of up to 30 s, so it
  also prints the rate of final reports that arrived while the load ran.

``--src`` runs another checkout's gateway (a baseline) with the same clients.
Without wrk the script says so and stops (``apt-get install wrk``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
AUTH = {"username": "root", "password": "root"}
CONNECTIONS = 32
THREADS = 2
TICKS = os.sysconf("SC_CLK_TCK")

# One task of one recipient per request, a new tid each time; answers without "0 OK" counted.
WRK_SCRIPT = r"""
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  extra = args[1]
  first = tonumber(args[2])
  counter = first + id * 100000000
  ok = 0
  refused = 0
end
function request()
  counter = counter + 1
  local body = '{"type":"send-sms"' .. extra .. ',"tasks":[{"tid":' .. counter .. ',"to":"1380'
    .. string.format("%07d", counter % 10000000) .. '","sms":"Your code is 123456"}]}'
  return wrk.format("POST", "/goip_post_sms.html?username=root&password=root",
    {["Content-Type"]="application/json"}, body)
end
function response(status, headers, body)
  if status == 200 and string.find(body, '"0 OK"', 1, true) then ok = ok + 1 else refused = refused + 1 end
end
function done(summary, latency, requests)
  local ok_all, refused_all = 0, 0
  for _, t in ipairs(threads) do
    ok_all = ok_all + t:get("ok")
    refused_all = refused_all + t:get("refused")
  end
  io.write(string.format('WRK {"requests":%d,"ok":%d,"refused":%d,"errors":%d,"p99_ms":%.3f,"seconds":%.6f}\n',
    summary.requests, ok_all, refused_all,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status
      + summary.errors.timeout,
    latency:percentile(99) / 1000, summary.duration / 1e6))
end
"""

BARE_BODY = b'{"code":200,"reason":"OK","type":"task-status","status":[{"tid":1,"status":"0 OK"}]}'


# --- the two helper processes (this script run with --role) ---------------------------------


def run_bare(port: int) -> None:
    from aiohttp import web

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=BARE_BODY, content_type="application/json")

    app = web.Application()
    app.router.add_post("/goip_post_sms.html", handle)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, loop=_new_loop())


def run_receiver(port: int) -> None:
    """A platform's report receiver: which tids have their final report, and when the last came."""
    import msgspec
    from aiohttp import web

    finished: set[int] = set()
    state = {"reports": 0, "pushes": 0, "sms": 0, "last": 0.0, "backwards": 0}
    progress: dict[int, int] = {}

    async def receive(request: web.Request) -> web.Response:
        state["pushes"] += 1
        for rpt in msgspec.json.decode(await request.read())["rpts"]:
            state["reports"] += 1
            tid = rpt["tid"]
            done = rpt["sent"] + rpt["failed"]
            if done < progress.get(tid, 0):
                state["backwards"] += 1  # a task's counts never go back
            progress[tid] = done
            if rpt["unsent"] == 0 and rpt["sending"] == 0 and tid not in finished:
                finished.add(tid)
                state["sms"] += done
                state["last"] = time.time()
        return web.Response(text="ok")

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({**state, "finished": len(finished)})

    async def reset(request: web.Request) -> web.Response:
        finished.clear()
        progress.clear()
        state.update(reports=0, pushes=0, sms=0, last=0.0, backwards=0)
        return web.json_response({})

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/sr", receive)
    app.router.add_get("/stats", stats)
    app.router.add_post("/reset", reset)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, loop=_new_loop())


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop  # the gateway's loop when installed (cli._run): the floor runs on the same
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


# --- the measurement -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """User + system CPU of a process (all its threads), or of one of its threads."""
    path = f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat"
    with open(path) as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def wait_up(url: str, method: str = "GET") -> None:
    async with aiohttp.ClientSession() as s:
        for _ in range(600):
            try:
                async with s.request(method, url) as r:
                    await r.read()
                    return
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


async def wrk(port: int, seconds: float, extra: str, first_tid: int, script: Path) -> dict:
    proc = await asyncio.create_subprocess_exec(
        "wrk",
        f"-t{THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{seconds:g}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}/",
        "--",
        extra,
        str(first_tid),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await proc.communicate()
    for line in out.decode().splitlines():
        if line.startswith("WRK "):
            return dict(json.loads(line[4:]))
    raise SystemExit(f"wrk gave no figures: {out.decode()} {err.decode()}")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000 if ordered else float("nan")


async def probe_status(port: int, stop: asyncio.Event) -> list[float]:
    """goip_get_status (one entry per port) in a loop until ``stop``: each answer's latency."""
    lat: list[float] = []
    url = f"http://127.0.0.1:{port}/goip_get_status.html"
    async with aiohttp.ClientSession() as s:
        while not stop.is_set():
            t0 = time.perf_counter()
            async with s.get(url, params=AUTH) as r:
                await r.read()
                assert r.status == 200
            lat.append(time.perf_counter() - t0)
            await asyncio.sleep(0.01)
    return lat


async def answered(session: aiohttp.ClientSession, port: int) -> int:
    """goip_post_sms requests the gateway answered 200 (its /metrics), once the count stops moving."""
    last = -1
    while True:
        async with session.get(f"http://127.0.0.1:{port}/metrics", params=AUTH) as r:
            text = await r.text()
        count = 0
        for line in text.splitlines():
            if line.startswith("ejoin_http_requests_total{") and 'route="/goip_post_sms.html"' in line:
                if 'status="200"' in line:
                    count += int(float(line.rsplit(" ", 1)[1]))
        if count == last:
            return count
        last = count
        await asyncio.sleep(0.2)


@dataclass
class Run:
    floor: float  # bare handler, requests/s
    accepted: float  # tasks/s
    accept_p99: float  # ms, wrk
    end_to_end: float  # SMS/s until every final report
    during: float  # final reports per second that arrived while the load ran
    cpu_us: float  # gateway CPU microseconds per task
    loop_us: float  # of which its event loop's thread (the one that limits the rate)
    status_p99: float  # ms
    status_n: int
    tasks: int
    pushes: int
    lost: int


async def floor_run(seconds: float, script: Path) -> float:
    port = free_port()
    bare = subprocess.Popen([sys.executable, __file__, "--role", "bare", "--port", str(port)])
    try:
        await wait_up(f"http://127.0.0.1:{port}/goip_post_sms.html", "POST")
        figures = await wrk(port, seconds, "", 0, script)
    finally:
        bare.terminate()
        bare.wait(10)
    return figures["requests"] / figures["seconds"]


async def gateway_run(seconds: float, script: Path, extra_for: str, recv_port: int, run: int, src: Path) -> Run:
    port = free_port()
    sr_url = f"http://127.0.0.1:{recv_port}/sr"
    extra = f',"sr_url":"{sr_url}"' + (',"sr_prd":0' if extra_for == "prd0" else "")
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "ejoin", "gateway", "--port", str(port), "--ports", "32", "--slots", "8"]
        cmd += ["--fast", "--data", tmp]  # the default log level (info), as the issue measured
        env = {**os.environ, "PYTHONPATH": str(src)}
        with open(Path(tmp) / "gateway.log", "wb") as log:
            gw = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
            try:
                await wait_up(f"http://127.0.0.1:{port}/healthz")
                await asyncio.sleep(1.0)  # let the 256 simulated SIMs register (they are --fast)
                async with aiohttp.ClientSession() as s:
                    await (await s.post(f"http://127.0.0.1:{recv_port}/reset")).read()
                    cpu0, loop0, t0 = cpu_seconds(gw.pid), cpu_seconds(gw.pid, gw.pid), time.time()
                    stop = asyncio.Event()
                    prober = asyncio.create_task(probe_status(port, stop))
                    figures = await wrk(port, seconds, extra, run * 1_000_000_000, script)
                    stop.set()
                    status = await prober
                    async with s.get(f"http://127.0.0.1:{recv_port}/stats") as r:
                        at_end = await r.json()
                    # Every request the gateway answered (wrk does not count those in flight as it stops).
                    tasks = max(figures["ok"], await answered(s, port))
                    deadline = time.monotonic() + 120
                    while True:
                        async with s.get(f"http://127.0.0.1:{recv_port}/stats") as r:
                            got = await r.json()
                        if got["finished"] >= tasks or time.monotonic() > deadline:
                            break
                        await asyncio.sleep(0.05)
                    cpu = cpu_seconds(gw.pid) - cpu0
                    loop = cpu_seconds(gw.pid, gw.pid) - loop0
            finally:
                gw.terminate()
                gw.wait(20)
    if figures["refused"] or figures["errors"]:
        print(f"  (run {run}: {figures['refused']} answers without 0 OK, {figures['errors']} errors)")
    if got["backwards"]:
        print(f"  (run {run}: {got['backwards']} reports whose counts went back)")
    return Run(
        floor=0.0,
        accepted=figures["requests"] / figures["seconds"],
        accept_p99=figures["p99_ms"],
        end_to_end=tasks / max(1e-9, got["last"] - t0),
        during=at_end["finished"] / figures["seconds"],
        cpu_us=cpu / max(1, tasks) * 1e6,
        loop_us=loop / max(1, tasks) * 1e6,
        status_p99=pct(status, 99),
        status_n=len(status),
        tasks=tasks,
        pushes=got["pushes"],
        lost=tasks - got["finished"],
    )


async def main(seconds: float, runs: int, configs: list[str], src: Path) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed (the issue's load generator): apt-get install wrk")
    recv_port = free_port()
    receiver = subprocess.Popen([sys.executable, __file__, "--role", "receiver", "--port", str(recv_port)])
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(WRK_SCRIPT)
        try:
            await wait_up(f"http://127.0.0.1:{recv_port}/stats")
            for config in configs:
                results = []
                for n in range(runs):
                    floor = await floor_run(seconds, script)
                    result = await gateway_run(seconds, script, config, recv_port, n + 1, src)
                    result.floor = floor
                    results.append(result)
                    print(
                        f"  run {n + 1}: floor {floor:,.0f}/s, accepted {result.accepted:,.0f}/s, "
                        f"end to end {result.end_to_end:,.0f}/s, {result.cpu_us:,.0f} us CPU/task "
                        f"({result.loop_us:,.0f} event loop), "
                        f"status p99 {result.status_p99:.1f} ms, {result.pushes:,} pushes, lost {result.lost}",
                        flush=True,
                    )
                report(config, seconds, results)
        finally:
            receiver.terminate()
            receiver.wait(10)


def report(config: str, seconds: float, results: list[Run]) -> None:
    def med(attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in results)

    what = {
        "prd0": 'request-level "sr_prd":0 (each report leaves at once)',
        "defaults": "request-level defaults (sr_cnt 100, sr_prd 30: reports batched across requests)",
    }[config]
    floor, e2e = med("floor"), med("end_to_end")
    print(f"\n{what}; one recipient per task, {CONNECTIONS} connections, {seconds:g} s, median of {len(results)}")
    print(f"  floor: bare aiohttp handler        {floor:10,.0f} req/s")
    print(f"  tasks accepted                     {med('accepted'):10,.0f} /s   (p99 {med('accept_p99'):.1f} ms)")
    print(f"  end to end (every final report)    {e2e:10,.0f} SMS/s = {e2e / floor:.2f} x floor (target >= 0.5)")
    if config == "defaults":
        print(f"  final reports while loading        {med('during'):10,.0f} /s (end to end waits the last sr_prd)")
    print(f"  gateway CPU per task               {med('cpu_us'):10,.0f} us (event loop {med('loop_us'):,.0f} us)")
    print(f"  goip_get_status p99 under load     {med('status_p99'):10.1f} ms (target < 20)")
    print(f"  pushes per run                     {med('pushes'):10,.0f}")
    print(f"  tasks without a final report       {max(r.lost for r in results):10d}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--config", choices=["prd0", "defaults", "both"], default="both")
    ap.add_argument("--src", type=Path, default=ROOT / "src", help="the ejoin source tree to run (a baseline's)")
    ap.add_argument("--role", choices=["bare", "receiver"], help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role == "bare":
        run_bare(args.port)
    elif args.role == "receiver":
        run_receiver(args.port)
    else:
        configs = ["prd0", "defaults"] if args.config == "both" else [args.config]
        asyncio.run(main(args.seconds, args.runs, configs, args.src))
