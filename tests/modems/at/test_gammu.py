"""Gammu, a third-party AT tool, against ``ejoin modem-emulator``: identify, networkinfo and sendsms work.

A real process on kernel pseudo-terminals, and Gammu's own waits (about a second each at start): slow."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

GAMMU = shutil.which("gammu")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(GAMMU is None, reason="needs Debian's gammu (.ci/run installs it)"),
]


@pytest.fixture
def emulator(tmp_path: Path):
    """Two emulated Quectel modules on ptys: their paths and numbers, as the command prints them."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ejoin", "modem-emulator", "--profile", "quectel", "--count", "2"]
        + ["--dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    modems = []
    for _ in range(2):
        line = proc.stdout.readline()  # printed once the module is up: no waiting on a clock
        found = re.match(r"(\S+)\s+\(quectel, number (\d+), IMSI (\d+)\)", line)
        assert found, line
        modems.append(found.groups())
    yield modems
    proc.send_signal(signal.SIGTERM)
    proc.wait(10)
    assert not list(tmp_path.glob("modem*")), "the links go with the emulator"


def gammu(tmp_path: Path, device: str, *args: str) -> str:
    rc = tmp_path / f"gammurc-{Path(device).name}"
    rc.write_text(f"[gammu]\ndevice = {device}\nconnection = at\n")
    env = {**os.environ, "LC_ALL": "C"}
    done = subprocess.run([GAMMU or "gammu", "-c", str(rc), *args], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_gammu_identifies_reads_the_network_and_sends_an_sms(emulator, tmp_path):
    (one, number1, imsi1), (two, number2, _imsi2) = emulator
    started = time.monotonic()
    identity = gammu(tmp_path, one, "identify")
    assert re.search(r"Manufacturer\s+: Quectel", identity)
    assert re.search(rf"SIM IMSI\s+: {imsi1}", identity)
    assert re.search(r"IMEI\s+: \d{15}", identity)

    network = gammu(tmp_path, one, "networkinfo")
    assert re.search(r"^Network state\s+: home network", network, re.M)
    assert re.search(r"^Packet network state\s+: home network", network, re.M)
    assert re.search(rf"^Network\s+: {imsi1[:3]} {imsi1[3:5]}", network, re.M)

    sent = gammu(tmp_path, one, "sendsms", "TEXT", number2, "-text", "hello from gammu")
    assert "OK, message reference=" in sent
    inbox = gammu(tmp_path, two, "getallsms")
    assert "hello from gammu" in inbox and number1 in inbox
    print(f"gammu identify, networkinfo, sendsms, getallsms: {time.monotonic() - started:.1f} s")
