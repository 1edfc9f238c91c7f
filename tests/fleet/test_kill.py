"""kill -9 of ``ejoin fleet`` after it acknowledged a task: the next start sends and reports all of it, once."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from ejoin.testing import GatewayThread, PushCollector

from .conftest import free_port
from .engine.test_sending import NUMBERS, final, reports

AUTH = {"username": "root", "password": "root"}


def start(config: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "ejoin", "fleet", "--config", str(config), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while True:  # until it listens
        try:
            httpx.get(f"http://127.0.0.1:{port}/goip_get_status.html", params=AUTH, timeout=10)
            return proc
        except httpx.TransportError:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)


def test_a_task_acknowledged_before_kill_9_is_sent_once_after_restart(tmp_path, platform: PushCollector) -> None:
    member_port, port = free_port(), free_port()
    config = tmp_path / "fleet.toml"
    config.write_text(
        f'data = "{tmp_path / "fleet"}"\n[[member]]\nurl = "http://127.0.0.1:{member_port}"\nports = "1-4"\n'
    )
    proc = start(config, port)
    try:
        body = {
            "type": "send-sms",
            "sr_url": platform.url,
            "sr_prd": 0,  # reports pushed at once
            "tasks": [{"tid": 8001, "to": NUMBERS[:8], "sms": "x", "sdr": 1}],
        }
        answer = httpx.post(f"http://127.0.0.1:{port}/goip_post_sms.html", params=AUTH, json=body, timeout=10).json()
        assert answer["status"][0]["status"] == "0 OK"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    with GatewayThread(tmp_path / "m", ports=4, slots=1, port=member_port):
        proc = start(config, port)
        try:
            report = final(platform, 8001)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 0
    assert (report["sent"], report["failed"], report["unsent"]) == (8, 0, 0)
    rows = [r for rep in reports(platform, 8001) for r in rep["sdr"]]
    assert sorted(r[0] for r in rows) == list(range(8))
