"""``ejoin fleet`` as a process: it starts from its TOML file, serves, and stops on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx

from ejoin.client import Client
from ejoin.testing import GatewayThread

from .conftest import free_port


def test_the_command_serves_its_members_and_stops_on_sigterm(tmp_path) -> None:
    with GatewayThread(tmp_path / "m", ports=2, slots=2) as m:
        port = free_port()
        config = tmp_path / "fleet.toml"
        config.write_text(
            f'data = "{tmp_path / "fleet"}"\n'
            f'[[member]]\nurl = "{m.url}"\nports = "3-4"\nusername = "root"\npassword = "root"\n'
        )
        # the deployment way: the password from the environment (no file is written then)
        command = [sys.executable, "-m", "ejoin", "fleet", "--config", str(config), "--port", str(port)]
        proc = subprocess.Popen(
            [*command, "--host", "0.0.0.0", "--password-file", "secret"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "EJOIN_PASSWORD": "pw"},
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 20
            while True:  # until it listens
                try:
                    answer = httpx.get(url + "/goip_get_status.html", params={"username": "root", "password": "pw"})
                    break
                except httpx.TransportError:
                    assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()  # type: ignore[union-attr]
                    time.sleep(0.05)
            assert [e["port"] for e in answer.json()["status"]] == ["3.01", "4.01"]
            # its own MAC (was all zeros): locally administered, the same at every start (from its ledger)
            mac = answer.json()["mac"]
            assert mac.startswith("02-") and len(mac.split("-")) == 6 and mac != "02-00-00-00-00-00"
            # the fleet's own clients may open the secure session of spec 3, as with a device
            with Client(url, "root", "pw", secure=True) as client:
                assert [p.port for p in client.status().status] == ["3.01", "4.01"]
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 0
        assert not (tmp_path / "fleet" / "secret").exists()
        said = proc.stderr.read().decode()  # type: ignore[union-attr]
        assert "open to anyone" not in said
        # a stop is told from a crash in the log
        assert "stopping (SIGTERM): pushing what waits, releasing the leases" in said and said.rstrip().endswith(
            "stopped"
        )


def test_a_database_it_cannot_open_is_said_without_its_password(tmp_path) -> None:
    config = tmp_path / "fleet.toml"
    config.write_text('[[member]]\nurl = "http://127.0.0.1:9"\nports = "1-2"\n')
    db = f"postgresql://fleet:hunter2@127.0.0.1:{free_port()}/fleet"  # nothing listens there
    proc = subprocess.run(
        [sys.executable, "-m", "ejoin", "fleet", "--config", str(config), "--db", db, "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "cannot open the fleet database 127.0.0.1:" in proc.stderr and "/fleet" in proc.stderr
    assert "hunter2" not in proc.stderr and "Traceback" not in proc.stderr


def test_the_fleet_serves_https_with_the_shared_tls_keys(tmp_path) -> None:
    from ..test_process import self_signed

    cert, key = self_signed(tmp_path)
    port = free_port()
    config = tmp_path / "fleet.toml"
    config.write_text(f'data = "{tmp_path / "fleet"}"\ntls_cert = "{cert}"\ntls_key = "{key}"\nlog_format = "json"\n')
    proc = subprocess.Popen(
        [sys.executable, "-m", "ejoin", "fleet", "--config", str(config), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:  # until it listens
            try:
                answer = httpx.get(
                    f"https://127.0.0.1:{port}/goip_get_status.html",
                    params={"username": "root", "password": "root"},
                    verify=False,
                )
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()  # type: ignore[union-attr]
                time.sleep(0.05)
        assert answer.json()["status"] == []
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    lines = proc.stderr.read().decode().splitlines()  # type: ignore[union-attr]
    # log_format = "json" (a shared key, new to the fleet): one JSON object a line
    started = [json.loads(line) for line in lines if line.startswith("{")]
    assert any(f"on https://127.0.0.1:{port}" in entry["msg"] for entry in started), lines
