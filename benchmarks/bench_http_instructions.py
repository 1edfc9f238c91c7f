"""Instructions per request (callgrind), in process: the HTTP stack's cost, beside a bare aiohttp handler.

    .venv/bin/python benchmarks/bench_http_instructions.py [--requests 1000] [--cases bare,edge,...]
        [--src /work/main/src]

Wall figures on a shared 2-core machine move by ±15 % from run to run; the
instructions a request costs do not.  Each case runs in a process of its own
under ``valgrind --tool=callgrind`` (every thread of the process counted): 32
connections are fake transports (no sockets, no kernel), fed one request after
the other, each answer awaited before the next request.  Each case runs twice,
both times after the same start and a warm-up of 200 requests: once with no
more requests, once with ``--requests`` more; the difference, divided by
``--requests``, is a request's count, without the start-up's (hash seed fixed,
so both runs start alike).
Cases (``--cases``):

- ``bare``: aiohttp's own protocol before a bare handler (reads the body,
  answers a fixed task-status JSON): the floor, as in bench_transactional.py;
- ``edge``: the edge's protocol (web/edge.py) before the same bare handler;
- ``refused``: the gateway's whole HTTP stack (the connection guard, the edge,
  the app, its middleware, the endpoint) for a one-recipient task refused for
  a wrong password (nothing decoded, nothing stored);
- ``invalid``: the same for a task refused after it was read, decoded and
  validated (a ``type`` other than ``send-sms``: answered by intake, nothing
  stored);
- ``task`` (only when named): a one-recipient task end to end without a
  report URL: accepted, stored, sent through the simulated module
  (``--fast``), its outcome stored;
  the requests' tasks all finished before the process ends.  Indicative only:
  what the gateway does by the clock (timers, the store thread's waits) runs
  for as long as the sends take, which callgrind stretches about fifty-fold.
- ``bulk`` (only when named): ONE request of ``--requests`` recipients, end to
  end as ``task``; the figure is per recipient: what one SMS costs the device
  when no request comes with it (the least a one-recipient task can cost on
  top of its request).

The requests of ``refused``, ``invalid`` and ``task`` are fed as wrk feeds
them: each of the 32 connections has one out at any time, its next one sent
when its answer is complete (so the gateway's work of one loop turn is shared
as under real load); ``bare`` and ``edge`` alike.

``--src`` runs the cases on another checkout's ``src`` too (a baseline, e.g.
``/work/main/src``), printed beside this one's.  Each figure is the count over
the measured requests divided by their number, and beside it the figure over
the bare case's of the same checkout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CASES = ("bare", "edge", "refused", "invalid", "task", "bulk")
DEFAULT_CASES = ("bare", "edge", "refused", "invalid")  # "task" is indicative only (see above)
CONNECTIONS = 32
WARMUP = 200
BARE_BODY = b'{"code":200,"reason":"OK","type":"task-status","status":[{"tid":1,"status":"0 OK"}]}'


def task_request(tid: int, password: str = "root", kind: str = "send-sms") -> bytes:
    """What bench_transactional.py's wrk script sends: one task of one recipient."""
    body = (
        f'{{"type":"{kind}","tasks":[{{"tid":{tid},"to":"1380{tid % 10_000_000:07d}","sms":"Your code is 123456"}}]}}'
    ).encode()
    return (
        f"POST /goip_post_sms.html?username=root&password={password} HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


class FakeTransport(asyncio.Transport):
    """What a connection's protocol writes to, kept in memory."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.out = bytearray()
        self.closed = False
        self._extra = {"peername": ("127.0.0.1", 40_000 + n), "sockname": ("127.0.0.1", 8080), "socket": None}

    waiter: asyncio.Future[None] | None = None  # done once the answer in ``out`` is complete

    def write(self, data: Any) -> None:
        self.out += data
        self._check()

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.out += data
        self._check()

    def _check(self) -> None:
        if self.waiter is not None and not self.waiter.done() and _answered(self.out):
            self.waiter.set_result(None)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._extra.get(name, default)

    def get_write_buffer_size(self) -> int:
        return 0

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def is_reading(self) -> bool:
        return True


def _answered(out: bytearray) -> bool:
    end = out.find(b"\r\n\r\n")
    if end < 0:
        return False
    length = re.search(rb"(?i)content-length: *(\d+)", out[:end])
    return length is not None and len(out) >= end + 4 + int(length[1])


async def _serve_bare(edge: bool) -> Any:
    from aiohttp import web

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=BARE_BODY, content_type="application/json")

    app = web.Application()
    app.router.add_post("/goip_post_sms.html", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    server = runner.server
    if not edge:
        return runner, server
    from ejoin.web.edge import edge_handler

    return runner, lambda: edge_handler(server)


async def _serve_gateway(data: str) -> Any:
    from ejoin.drivers import load_gateway_config
    from ejoin.gateway.runtime import Gateway, tune_gc_for_server
    from ejoin.web.app import create_app
    from ejoin.web.connections import GuardedRunner

    config = load_gateway_config(None, {"data": data, "fast": True, "ports": 32, "slots": 8})
    gw = Gateway(config)
    runner = GuardedRunner(create_app(gw), access_log=None)
    await runner.setup()
    tune_gc_for_server()
    return runner, runner.server, gw


async def _run_case(case: str, requests: int, data: str) -> None:
    gw = None
    if case in ("bare", "edge"):
        runner, factory = await _serve_bare(case == "edge")
    else:
        runner, factory, gw = await _serve_gateway(data)
    if case == "refused":
        make = lambda tid: task_request(tid, password="wrong")  # noqa: E731
        gw.guard.delay_after_miss = lambda remote: 0  # a wrong password is answered later the more it happens
    elif case == "invalid":
        make = lambda tid: task_request(tid, kind="send-mms")  # noqa: E731
    else:
        make = task_request
    conns = []
    for n in range(CONNECTIONS):
        transport = FakeTransport(n)
        protocol = factory()
        protocol.connection_made(transport)
        conns.append((protocol, transport))

    loop = asyncio.get_running_loop()

    async def ask(protocol: Any, transport: FakeTransport, request: bytes) -> None:
        transport.out.clear()
        transport.waiter = loop.create_future()
        protocol.data_received(request)
        await transport.waiter  # no polling: the loop sleeps while the store's thread works

    async def one_connection(n: int, tids: range) -> None:
        protocol, transport = conns[n]
        for tid in tids:
            await ask(protocol, transport, make(tid))
            if case in ("bare", "edge", "task") and b'"0 OK"' not in transport.out:
                raise SystemExit(f"not accepted: {bytes(transport.out[:300])!r}")
            if case in ("refused", "invalid") and b'"0 OK"' in transport.out:
                raise SystemExit(f"accepted: {bytes(transport.out[:300])!r}")

    async def bulk(tid: int, count: int) -> None:
        task = {"tid": tid, "to": ",".join(f"1380{i:07d}" for i in range(count)), "sms": "Your code is 123456"}
        body = json.dumps({"type": "send-sms", "tasks": [task]}).encode()
        head = (
            "POST /goip_post_sms.html?username=root&password=root HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        await ask(*conns[0], head + body)
        if b'"0 OK"' not in conns[0][1].out:
            raise SystemExit(f"not accepted: {bytes(conns[0][1].out[:300])!r}")

    async def run(first: int, count: int) -> None:
        if case == "bulk":
            return await bulk(first, count) if count else None
        # as wrk's 32 connections: each has a request out; the next when its answer is complete
        ranges = [range(first + n, first + count, CONNECTIONS) for n in range(CONNECTIONS)]  # every tid once
        await asyncio.gather(*(one_connection(n, r) for n, r in enumerate(ranges)))
        return None

    async def finished() -> None:
        if case in ("task", "bulk"):
            # polled seldom: under callgrind the sends take minutes, and each poll is counted
            while gw.sending.task_count():
                await asyncio.sleep(0.25)

    await run(1, WARMUP)
    await finished()
    await run(WARMUP + 1, requests)
    await finished()
    sys.stdout.flush()
    os._exit(0)  # nothing of the shutdown counted


def child(case: str, requests: int) -> None:
    try:
        import uvloop
    except ImportError:
        loop = asyncio.new_event_loop()
    else:
        loop = uvloop.new_event_loop()
    with tempfile.TemporaryDirectory() as data:
        loop.run_until_complete(_run_case(case, requests, data))


def _instructions(case: str, requests: int, src: Path) -> int:
    with tempfile.TemporaryDirectory() as out:
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/cg.out"]
        cmd += [sys.executable, __file__, "--child", case, "--requests", str(requests)]
        env = {**os.environ, "PYTHONPATH": str(src), "PYTHONHASHSEED": "0"}
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        dump = Path(out) / "cg.out"
        if done.returncode != 0 or not dump.exists():
            raise SystemExit(f"{case} on {src} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
        totals = re.search(r"^totals: (\d+)", dump.read_text(), re.M)
        assert totals is not None
        return int(totals[1])


def measure(case: str, requests: int, src: Path) -> float:
    """Instructions per request: the run with ``requests`` more requests less the run without."""
    return (_instructions(case, requests, src) - _instructions(case, 0, src)) / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--cases", default=",".join(DEFAULT_CASES), help=f"of {', '.join(CASES)}")
    parser.add_argument("--src", action="append", default=[], help="another checkout's src, measured beside")
    parser.add_argument("--json", action="store_true", help="the figures as JSON too")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.requests)
    cases = [c for c in args.cases.split(",") if c]
    for case in cases:
        if case not in CASES:
            raise SystemExit(f"unknown case {case!r}: {', '.join(CASES)}")
    sources = [ROOT / "src", *(Path(s).resolve() for s in args.src)]
    figures: dict[str, dict[str, float]] = {}
    for src in sources:
        for case in cases:
            started = time.monotonic()
            figures.setdefault(str(src), {})[case] = measure(case, args.requests, src)
            print(f"  {src}: {case} {figures[str(src)][case]:,.0f} ({time.monotonic() - started:.0f} s)", flush=True)
    print(f"\ninstructions per request ({args.requests} requests, 32 connections, in process)")
    header = "case".ljust(10) + "".join(f"{str(s)[-28:]:>40}" for s in sources)
    print(header)
    for case in cases:
        row = case.ljust(10)
        for src in sources:
            value = figures[str(src)][case]
            bare = figures[str(src)].get("bare")
            ratio = f" = {value / bare:.2f} x bare" if bare else ""
            row += f"{value:>24,.0f}{ratio:>16}"
        print(row)
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
