"""Operations: JSON logs, systemd readiness (sd_notify), ``ejoin --version``."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys

import pytest

from ejoin import __version__, systemd
from ejoin.logs import JsonFormatter

from .test_process import free_port


def test_json_log_lines_carry_level_logger_message_and_traceback():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("ejoin.x").makeRecord(
            "ejoin.x", logging.ERROR, __file__, 1, "port %d: %s", (3, "ünïcode"), sys.exc_info()
        )
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "error" and entry["logger"] == "ejoin.x"
    assert entry["msg"] == "port 3: ünïcode"
    assert "ValueError: boom" in entry["exc"]
    assert entry["ts"].endswith("Z")


def test_notify_without_systemd_does_nothing(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert systemd.notify("READY=1") is False


def test_notify_reaches_the_socket(monkeypatch, tmp_path):
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(path)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        assert systemd.notify("READY=1")
        assert listener.recv(100) == b"READY=1"
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone"))
    assert systemd.notify("READY=1") is False  # a warning, never a crash


@pytest.mark.slow
def test_the_gateway_tells_systemd_it_is_ready_and_logs_json(tmp_path):
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(path)
        listener.settimeout(20)
        env = {**os.environ, "NOTIFY_SOCKET": path}
        args = ["gateway", "--fast", "--data", str(tmp_path / "data"), "--port", str(free_port())]
        proc = subprocess.Popen(
            [sys.executable, "-m", "ejoin", *args, "--log-format", "json"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            try:
                assert listener.recv(100) == b"READY=1"
            except TimeoutError:
                proc.kill()
                raise AssertionError(proc.communicate()[1]) from None
            proc.send_signal(signal.SIGTERM)
            assert listener.recv(100) == b"STOPPING=1"
            _, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert any("listening on" in e["msg"] for e in lines)
    assert all({"ts", "level", "logger", "msg"} <= set(e) for e in lines)


def test_version():
    done = subprocess.run(
        [sys.executable, "-m", "ejoin", "--version"], capture_output=True, text=True, timeout=30, check=True
    )
    assert done.stdout.strip() == f"ejoin, version {__version__}"
