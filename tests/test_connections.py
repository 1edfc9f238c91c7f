"""The real gateway process against slow, lying and greedy HTTP clients (issue: robustness).

These talk raw TCP to a real process, so they wait on real I/O with deadlines.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import pytest

from .test_process import GatewayProcess, free_port

pytestmark = pytest.mark.slow

HEAD = "POST /goip_send_cmd.html?username=root&password=root HTTP/1.1\r\nHost: x\r\n"


async def _answer(reader: asyncio.StreamReader, deadline: float = 5.0) -> bytes:
    return await asyncio.wait_for(reader.read(65536), deadline)


@pytest.fixture
async def gateway(tmp_path):
    gw = GatewayProcess(tmp_path, free_port(), extra="read_timeout = 1.0\nmax_connections = 8\n")
    await gw.start()
    yield gw
    gw.proc.terminate()
    await gw.proc.wait()


async def test_a_declared_length_past_max_body_is_refused_at_once(gateway):
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    started = time.monotonic()
    writer.write((HEAD + "Content-Length: 99999999999\r\n\r\n{").encode())
    await writer.drain()
    answer = await _answer(reader)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:100]
    assert b'"code":413' in answer
    assert time.monotonic() - started < 0.9  # not after the read timeout: at once
    writer.close()


async def test_a_body_shorter_than_its_length_times_out(gateway):
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.write((HEAD + "Content-Length: 100\r\n\r\n{").encode())
    await writer.drain()
    answer = await _answer(reader)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
    assert await _answer(reader) == b""  # and the connection is closed


async def test_a_client_trickling_its_head_is_cut_off(gateway):
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    started = time.monotonic()
    closed = None
    for ch in "GET /goip_get_status.html HTTP/1.1\r\n":
        try:
            writer.write(ch.encode())
            await writer.drain()
        except ConnectionError:
            break
        try:
            if await asyncio.wait_for(reader.read(1), 0.25) == b"":
                closed = time.monotonic() - started
                break
        except TimeoutError:
            pass
    assert closed is not None and closed < 4.0, "the server kept a trickling client"
    # and the server still answers everybody else
    assert (await gateway.get("/goip_get_status.html"))["type"] == "dev-status"


async def test_connections_past_the_cap_get_503_and_others_recover(gateway):
    idle = [await asyncio.open_connection("127.0.0.1", gateway.port) for _ in range(8)]
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    answer = await _answer(reader)
    assert answer.startswith(b"HTTP/1.1 503") and b"too many connections" in answer
    for _, w in idle:
        w.close()
    await asyncio.sleep(0.2)  # the server sees the closes (real sockets)
    assert (await gateway.get("/goip_get_status.html"))["type"] == "dev-status"


async def test_malformed_http_is_not_logged_as_an_error(gateway):
    for garbage in (b"\x16\x03\x01\x02\x00garbage\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"NOT HTTP AT ALL\r\n\r\n"):
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
        writer.write(garbage)
        await writer.drain()
        await _answer(reader)
        writer.close()
    # and a client that leaves in the middle of its body
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.write((HEAD + "Content-Length: 100\r\n\r\n{").encode())
    await writer.drain()
    await asyncio.sleep(0.2)  # real I/O: let the gateway start reading the body
    writer.transport.abort()
    await gateway.get("/goip_get_status.html")
    log = gateway.log.read_text()
    assert "ERROR" not in log and "Traceback" not in log, log[-2000:]


def _ejoin(*args: str, timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ejoin", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


async def test_a_second_gateway_on_the_same_data_directory_is_refused(gateway, tmp_path):
    result = await asyncio.to_thread(_ejoin, "gateway", "--config", str(gateway.config), "--port", str(free_port()))
    assert result.returncode != 0
    assert "in use by another ejoin process (pid" in result.stderr and str(gateway.proc.pid) in result.stderr
    assert "Traceback" not in result.stderr
    assert json.loads(json.dumps(await gateway.get("/goip_get_status.html")))["type"] == "dev-status"


def test_a_busy_port_fails_before_anything_is_created(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _ejoin("gateway", "--port", str(port), "--data", str(tmp_path / "data"))
    assert result.returncode != 0 and f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert not (tmp_path / "data").exists()
