"""submit_sm accepted per second on one bind with a window of 10, beside one-recipient HTTP tasks.

Both against one gateway (8 ports, the simulated network with --fast: the modules send meanwhile),
from a client in another process (so the figure is the server's, not a shared core's):

- SMPP: a bind_transmitter keeps 10 submit_sm unanswered (each answered only once the message is in
  the SMPP store and the device committed its task); the figure is answers OK a second.
- HTTP: 10 requests in flight, each a goip_post_sms of one task of one recipient (the reference
  figure: what an HTTP platform posting SMS one by one gets).

Target (issue 29): at least 5,000 submit_sm a second.

    python benchmarks/bench_smpp.py [--count 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import AUTH, serve
from ejoin.drivers import load_gateway_config
from ejoin.gateway.runtime import Gateway, tune_gc_for_server
from ejoin.protocol.smpp import Bind, Command, PduReader, ShortMessage
from ejoin.smpp import for_gateway
from ejoin.web.app import create_app

WINDOW = 10


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def smpp_client(port: int, count: int) -> dict[str, float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    frames = PduReader()
    writer.write(Bind(Command.BIND_TRANSMITTER, 1, 0, system_id="root", password="root").encode())
    ok = refused = 0
    sent = 0
    seq = 1

    def submit() -> None:
        nonlocal seq, sent
        seq += 1
        sent += 1
        number = f"+49151{sent:08d}"
        writer.write(
            ShortMessage(
                Command.SUBMIT_SM, seq, 0, destination_addr=number, short_message=b"benchmark", registered_delivery=1
            ).encode()
        )

    started = 0.0
    while ok + refused < count:
        data = await reader.read(65536)
        if not data:
            raise RuntimeError("the server closed the session")
        frames.feed(data)
        while (pdu := frames.next()) is not None:
            if pdu.command == Command.BIND_TRANSMITTER_RESP:
                started = time.perf_counter()
                for _ in range(WINDOW):
                    submit()
            elif pdu.command == Command.SUBMIT_SM_RESP:
                if pdu.status == 0:
                    ok += 1
                else:
                    refused += 1
                if sent < count:
                    submit()
    took = time.perf_counter() - started
    writer.close()
    return {"ok": ok, "refused": refused, "seconds": took, "per_second": ok / took}


async def http_client(base: str, count: int) -> dict[str, float]:
    import aiohttp

    ok = 0
    counter = iter(range(count))

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal ok
        for i in counter:
            body = {"type": "send-sms", "tasks": [{"tid": i + 1, "to": f"+49152{i:08d}", "sms": "benchmark"}]}
            async with session.post(f"{base}/goip_post_sms.html", params=AUTH, json=body) as resp:
                answer = await resp.json()
                ok += answer["status"][0]["status"] == "0 OK"

    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(WINDOW)))
        took = time.perf_counter() - started
    return {"ok": ok, "seconds": took, "per_second": ok / took}


def client_process(kind: str, where: str, count: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--client", kind, "--where", where, "--count", str(count)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


async def idle(gw: Gateway) -> None:
    """Until the device has sent and reported everything (a phase's backlog must not slow the next)."""
    while gw.sending.task_count() or await gw.store.outbox_count():
        await asyncio.sleep(0.1)


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def phase(gw: Gateway, kind: str, where: str, count: int, wait: bool) -> dict[str, float]:
    """One client's run, with the server's CPU (every thread of this process) per accepted message."""
    if wait:
        await idle(gw)
    before = cpu()
    figures = await asyncio.to_thread(client_process, kind, where, count)
    figures["cpu_us"] = (cpu() - before) / max(1, figures["ok"]) * 1e6
    return figures


# The modules register only after the run: tasks are accepted and wait, so a figure is what accepting costs.
HELD = {"card_detect": 0.0, "register_min": 3600.0, "register_max": 3600.0}


async def main(count: int, only: str | None, modes: list[str]) -> None:
    for sending in [mode == "sending" for mode in modes]:
        with tempfile.TemporaryDirectory() as tmp:
            port = free_port()
            settings = dict(data=str(Path(tmp) / "data"), ports=8, slots=1, smpp_port=port, max_queued_tasks=10**6)
            settings.update(fast=True) if sending else settings.update(timing=HELD)
            gw = Gateway(load_gateway_config(None, settings))
            for_gateway(gw)  # as ejoin gateway puts it together
            runner, base = await serve(create_app(gw))
            tune_gc_for_server()
            await asyncio.sleep(0.5)  # registration (fast: at once)
            print(
                "the modules sending meanwhile (--fast):" if sending else "the modules not sending (accepting alone):"
            )
            if only != "http":
                smpp = await phase(gw, "smpp", str(port), count, wait=sending)
                print(
                    f"  submit_sm, one bind, window {WINDOW}: {smpp['per_second']:,.0f}/s ({smpp['ok']:,} accepted, "
                    f"{smpp['refused']:,} refused, {smpp['seconds']:.2f} s; server CPU {smpp['cpu_us']:.0f} us each)"
                )
            if only != "smpp":
                http = await phase(gw, "http", base, count, wait=sending)
                print(
                    f"  HTTP one-recipient tasks, {WINDOW} in flight: {http['per_second']:,.0f}/s ({http['ok']:,} "
                    f"accepted, {http['seconds']:.2f} s; server CPU {http['cpu_us']:.0f} us each)"
                )
            await runner.cleanup()
    print("target: submit_sm >= 5,000/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--client", choices=["smpp", "http"])
    parser.add_argument("--where")
    parser.add_argument("--only", choices=["smpp", "http"], help="one client alone (to profile it)")
    parser.add_argument("--mode", choices=["sending", "held"], action="append", help="one run alone (both: default)")
    args = parser.parse_args()
    if args.client == "smpp":
        print(json.dumps(asyncio.run(smpp_client(int(args.where), args.count))))
    elif args.client == "http":
        print(json.dumps(asyncio.run(http_client(args.where, args.count))))
    else:
        try:  # the server's loop as ejoin gateway runs it
            import uvloop
        except ImportError:
            asyncio.run(main(args.count, args.only, args.mode or ["sending", "held"]))
        else:
            uvloop.run(main(args.count, args.only, args.mode or ["sending", "held"]))
