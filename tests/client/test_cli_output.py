"""What the CLI prints: the device's own JSON, pipes, colours, arrays, the inbox, the push receiver."""

from __future__ import annotations

import base64
import json
import logging
import socket
import subprocess
import sys
import time

import httpx

from ejoin import logs
from ejoin.client import cli as client_cli
from ejoin.protocol import crypt

from ..threaded import ServerThread


def test_status_json_is_the_devices_own_answer(run, server):
    r = run("status", "--json", "--all-slots")
    ours = json.loads(r.stdout)
    theirs = httpx.get(
        f"{server.url}/goip_get_status.html", params={"username": "root", "password": "root", "all_slots": "1"}
    ).json()
    assert set(ours) == set(theirs) and {"max-slot", "max-slots", "mac", "ip"} <= set(ours)
    assert [set(e) for e in ours["status"]] == [set(e) for e in theirs["status"]]
    assert [e["iccid"] for e in ours["status"]] == [e["iccid"] for e in theirs["status"]]


def test_piped_tables_are_neither_wrapped_nor_cut(run, cli_env):
    cli_env.setenv("COLUMNS", "30")
    lines = run("status").stdout.splitlines()
    assert lines[1].split("\t") == ["port", "status", "operator", "number", "signal", "balance", "imei", "iccid"]
    row = lines[2].split("\t")
    assert row[0] == "1.01" and row[1] == "3 Registered" and len(row[7]) >= 19  # a whole ICCID
    assert "\x1b[" not in run("status").stdout  # no colour codes in a pipe


def test_states_are_coloured_on_a_terminal(run, cli_env):
    cli_env.setenv("FORCE_COLOR", "1")
    output = run("status").stdout
    assert "\x1b[32m3 Registered" in output  # green: can send
    assert "┃" in output or "│" in output  # a table for people


def test_cmd_get_prints_arrays_one_per_line(run):
    lines = run("cmd", "get", "sim_number").stdout.splitlines()
    assert lines[0] == "name\tvalue"
    assert [line.split("\t")[0] for line in lines[1:]] == [f"sim_number({i})" for i in range(16)]


def test_inbox_says_no_messages(run):
    r = run("inbox", "--from-id", "100000")
    assert r.exit_code == 0 and r.stdout == "" and "no messages" in r.stderr


def test_inbox_follow_says_it_waits_and_ctrl_c_exits_0(run, monkeypatch):
    def interrupted(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(client_cli.time, "sleep", interrupted)
    r = run("inbox", "--follow", "--from-id", "100000")
    assert r.exit_code == 0 and "waiting for new messages (Ctrl-C to stop)" in r.stderr


def test_inbox_follow_rides_out_a_device_that_is_down(run, cli_env, monkeypatch, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cli_env.setenv("EJOIN_URL", f"http://127.0.0.1:{port}")
    started = []
    polls = []

    def next_poll(seconds):
        polls.append(seconds)
        if not started:  # the device comes (back) up, and an SMS arrives
            started.append(ServerThread(str(tmp_path / "d"), port=port).start())  # a device booting at its address
            httpx.get(
                f"http://127.0.0.1:{port}/sim/inbound",
                params={"username": "root", "password": "root", "port": "1.01", "sender": "10086", "text": "back"},
            )
        elif len(polls) > 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(client_cli.time, "sleep", next_poll)
    try:
        r = run("inbox", "--follow", "--interval", "0.5")
    finally:
        for s in started:
            s.stop()
    assert r.exit_code == 0, r.output
    assert "cannot reach" in r.stderr and "retrying every 0.5 s" in r.stderr and "is back" in r.stderr
    assert "from 10086: back" in r.stdout
    assert polls[0] == 0.5


def _receiver(tmp_path, *extra):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "ejoin", "receive", "--port", str(port), "--db", str(tmp_path / "p.sqlite3"), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert "receiving pushes on" in proc.stderr.readline()  # it listens from here on
    return proc, f"http://127.0.0.1:{port}/"


def test_receive_prints_readable_lines_and_says_what_it_rejects(tmp_path):
    proc, url = _receiver(tmp_path, "--secret", "s3cret")
    try:
        r = httpx.post(url, json={"type": "recv-sms", "sms_num": 0, "sms": []})
        assert r.status_code == 401
        assert "rejected a push from 127.0.0.1: missing or wrong push signature" in proc.stderr.readline()
        body = json.dumps(
            {
                "type": "recv-sms",
                "sms_num": 2,
                "sms": [
                    [1, "1.01", 1767225600, "", "13800000001", "0 260101120000+08"],
                    [0, "1.02", 1767225600, "10086", "", base64.b64encode(b"hi").decode()],
                ],
            }
        ).encode()
        ts = int(time.time())
        headers = {"X-Ejoin-Timestamp": str(ts), "X-Ejoin-Signature": crypt.sign_push("s3cret", ts, body)}
        assert httpx.post(url, content=body, headers=headers).json()["code"] == 0
        report = proc.stdout.readline()
        assert "1.01 delivery report for 13800000001: delivered, at 260101120000+08" in report
        assert "1.02 from 10086: hi" in proc.stdout.readline()
    finally:
        proc.terminate()
        proc.wait(10)


def test_gateway_log_format_json(capsys):
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        logs.configure("info", "json")
        logging.getLogger("ejoin.sending").info("sent %s", "1.01")
        logging.getLogger("ejoin.sending").debug("not shown")
        lines = capsys.readouterr().err.splitlines()
        assert len(lines) == 1
        entry = json.loads(lines[0])
        assert entry["level"] == "info" and entry["logger"] == "ejoin.sending" and entry["msg"] == "sent 1.01"
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])


def test_inbox_follow_does_not_repeat_what_a_restarted_device_replays(run, cli_env, monkeypatch, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    servers = [ServerThread(str(tmp_path / "d"), port=port).start()]

    def inbound(text):
        params = {"username": "root", "password": "root", "port": "1.01", "sender": "10086", "text": text}
        assert httpx.get(f"{url}/sim/inbound", params=params).json()["code"] == 0

    inbound("before")
    polls = []

    def next_poll(seconds):
        polls.append(seconds)
        if len(polls) == 1:  # the device restarts on the same data (a new ssrc), then an SMS comes
            servers[-1].stop()
            servers.append(ServerThread(str(tmp_path / "d"), port=port).start())
            inbound("after")
        else:
            raise KeyboardInterrupt

    monkeypatch.setattr(client_cli.time, "sleep", next_poll)
    cli_env.setenv("EJOIN_URL", url)
    try:
        r = run("inbox", "--follow")
    finally:
        servers[-1].stop()
    assert r.exit_code == 0, r.output
    texts = [line.rsplit(": ", 1)[1] for line in r.stdout.splitlines()]
    assert texts == ["before", "after"]
