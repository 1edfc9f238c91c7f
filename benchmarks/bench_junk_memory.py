"""The gateway's memory (RSS) under a flood of unauthenticated junk, beside the same process idle.

    .venv/bin/python benchmarks/bench_junk_memory.py [--rounds 1000]

A real `ejoin gateway` process (the command a user runs: its connection guard,
its GC tuning) on an 8 x 4 device, --fast.  Its RSS is read from /proc:

1. idle: after start and a few ordinary requests (the reference);
2. after each junk phase, none of which carries credentials:
   - over-long request lines: ``rounds`` requests whose request line is 100 KB
     (the limit is 8,190 bytes), 50 connections at a time;
   - invalid heads: ``rounds`` heads with a bad header name, a bare LF, a
     bad version, Content-Length and Transfer-Encoding together, a header of
     100 KB, 200 headers;
   - unknown paths: ``rounds`` GETs of what scanners ask for (404);
   - trickling clients: 40 connections sending a head a byte every 0.5 s
     until the gateway cuts them off (``read_timeout`` = 2 s here);
   - bad UTF-8 bodies: ``rounds`` form POSTs with invalid UTF-8 to /login,
     the dashboard's actions and the API;
3. after all phases, and again 3 s later (what stays).

Each phase also counts the answers that were not the device's JSON refusal
(a text/plain or HTML error page, a 500; a dashboard action without a session
is sent to the login page, which is right) and the tracebacks in the
gateway's log: both should be 0.

Figures (2 shared cores, --rounds 4000): idle 63.1 MiB; after the over-long
lines 63.4, the invalid heads 63.4, the unknown paths 69.0, the bad UTF-8
bodies 69.6, the trickling clients 69.7; 3 s later 69.7 (+6.6); every answer
the device's JSON, 0 tracebacks.  Before the HTTP edge (web/edge.py), with
--rounds 1000: 62.9 idle, 163.3 after the over-long lines, 183.0 after the
invalid heads, +122.2 MiB at the end, 167 tracebacks (docs/operations.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def exchange(port: int, data: bytes, *, timeout: float = 10.0) -> bytes:
    """Send ``data`` on a new connection; what comes back until the gateway closes (b"" if refused)."""
    try:
        reader, writer = await asyncio.open_connection(HOST, port)
    except OSError:
        return b""
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout)
    except (OSError, TimeoutError):
        return b""
    finally:
        writer.close()


def kind_of(answer: bytes) -> str:
    """ "json": the device's JSON error; "login": a redirect to the dashboard's login; else "other"."""
    head, _, body = answer.partition(b"\r\n\r\n")
    if b"application/json" in head.lower() and body.startswith(b"{") and not head.startswith(b"HTTP/1.1 5"):
        return "json"
    if head.startswith(b"HTTP/1.1 303") and b"\r\nlocation: /\r\n" in head.lower():
        return "login"
    return "other"


async def flood(port: int, requests: list[bytes], concurrency: int = 50) -> dict[str, int]:
    """Every request on its own connection, ``concurrency`` at a time: how many answers of each kind."""
    gate = asyncio.Semaphore(concurrency)
    kinds = {"json": 0, "login": 0, "other": 0}

    async def one(data: bytes) -> None:
        async with gate:
            answer = await exchange(port, data)
        kinds[kind_of(answer)] += 1

    await asyncio.gather(*(one(r) for r in requests))
    return kinds


def head(first: str, *headers: str, body: bytes = b"") -> bytes:
    lines = [first, "Host: gateway", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def over_long_lines(rounds: int) -> list[bytes]:
    return [head(f"GET /goip_get_status.html?x={'a' * 100_000} HTTP/1.1") for _ in range(rounds)]


def invalid_heads(rounds: int) -> list[bytes]:
    kinds = [
        head("GET / HTTP/1.1", "Bad Name: x"),
        b"GET / HTTP/1.1\nHost: x\n\n",
        head("GET / HTTP/9.9"),
        head("POST /goip_post_sms.html HTTP/1.1", "Content-Length: 5", "Transfer-Encoding: chunked", body=b"0\r\n\r\n"),
        head("GET / HTTP/1.1", f"X-Big: {'b' * 100_000}"),
        head("GET / HTTP/1.1", *(f"X-{i}: {i}" for i in range(200))),
    ]
    return [kinds[i % len(kinds)] for i in range(rounds)]


def unknown_paths(rounds: int) -> list[bytes]:
    """What scanners ask for."""
    paths = ["/wp-login.php", "/.env", "/admin/config.php", "/cgi-bin/luci", "/HNAP1/", "/boaform/admin/formLogin"]
    return [head(f"GET {paths[i % len(paths)]}?i={i} HTTP/1.1", "Connection: close") for i in range(rounds)]


def bad_utf8_bodies(rounds: int) -> list[bytes]:
    paths = [
        "/login",
        "/dashboard/ports/command",
        "/dashboard/compose",
        "/goip_send_cmd.html",
        "/goip_post_sms.html",
        "/crypt_sess.json",
    ]
    body = b"username=\xff\xfe&password=\xc3&csrf=\x80"
    out = []
    for i in range(rounds):
        out.append(
            head(
                f"POST {paths[i % len(paths)]} HTTP/1.1",
                "Content-Type: application/x-www-form-urlencoded",
                f"Content-Length: {len(body)}",
                "Connection: close",
                body=body,
            )
        )
    return out


async def trickle(port: int, clients: int = 40) -> float:
    """``clients`` connections sending a head a byte every 0.5 s: seconds until the last is cut off."""
    started = time.perf_counter()

    async def one() -> None:
        try:
            reader, writer = await asyncio.open_connection(HOST, port)
        except OSError:
            return
        try:
            for ch in b"GET /goip_get_status.html HTTP/1.1\r\nHost: gateway\r\nX-Slow: " + b"s" * 200:
                writer.write(bytes([ch]))
                await writer.drain()
                try:
                    if await asyncio.wait_for(reader.read(1), 0.5) == b"":
                        return
                except TimeoutError:
                    pass
        except OSError:
            return
        finally:
            writer.close()

    await asyncio.gather(*(one() for _ in range(clients)))
    return time.perf_counter() - started


async def ordinary(port: int, n: int = 200) -> None:
    for _ in range(n):
        answer = await exchange(
            port, head("GET /goip_get_status.html?username=root&password=root HTTP/1.1", "Connection: close")
        )
        assert b'"dev-status"' in answer, answer[:200]


async def main(rounds: int) -> None:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "gateway.toml"
        config.write_text(f'data = "{tmp}/data"\nread_timeout = 2.0\nlogin_delay_cap = 0.1\nfast = true\n')
        log = Path(tmp) / "gateway.log"
        cmd = [sys.executable, "-m", "ejoin", "gateway", "--config", str(config), "--port", str(port)]
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        with open(log, "wb") as log_file:
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log_file)
        try:
            for _ in range(300):
                if b"dev-status" in await exchange(
                    port, head("GET /goip_get_status.html?username=root&password=root HTTP/1.1", "Connection: close")
                ):
                    break
                await asyncio.sleep(0.1)
            await ordinary(port)
            await asyncio.sleep(1.0)
            idle = rss_mib(proc.pid)
            print(f"gateway RSS under unauthenticated junk (8 x 4 device, {rounds} requests a phase)")
            print(f"  idle (after start and 200 ordinary requests): {idle:7.1f} MiB   (reference)")
            phases = [
                ("over-long request lines (100 KB)", over_long_lines(rounds)),
                ("invalid heads", invalid_heads(rounds)),
                ("unknown paths (scanners)", unknown_paths(rounds)),
                ("bad UTF-8 form bodies", bad_utf8_bodies(rounds)),
            ]
            for name, requests in phases:
                started = time.perf_counter()
                kinds = await flood(port, requests)
                took = time.perf_counter() - started
                to_login = f", to the login page {kinds['login']}" if kinds["login"] else ""
                print(
                    f"  after {name + ':':36s} {rss_mib(proc.pid):7.1f} MiB   ({len(requests)} in {took:.1f} s; "
                    f"refused in JSON {kinds['json']}{to_login}, otherwise {kinds['other']})"
                )
            took = await trickle(port)
            print(f"  after {'40 trickling clients:':36s} {rss_mib(proc.pid):7.1f} MiB   (all cut off in {took:.1f} s)")
            await ordinary(port, 50)  # still serving
            await asyncio.sleep(3.0)
            final = rss_mib(proc.pid)
            print(f"  3 s later:{'':34s} {final:7.1f} MiB   (+{final - idle:.1f} MiB over idle)")
        finally:
            proc.terminate()
            proc.wait(10)
        text = log.read_text(errors="replace")
        if os.environ.get("SHOW_LOG"):
            print(text[-6000:])
        print(f"  gateway log: {text.count('Traceback')} tracebacks, {text.count('ERROR')} ERROR lines")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=1000)
    asyncio.run(main(ap.parse_args().rounds))
