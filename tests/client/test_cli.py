"""The ejoin CLI against a running gateway: output, --json, and exit codes."""

from __future__ import annotations

import json
import time

import httpx
from click.testing import CliRunner

from ejoin.cli import main
from ejoin.client import cli


def test_status_table_and_json(run):
    r = run("status")
    assert r.exit_code == 0 and "1.01" in r.output and "Registered" in r.output
    r = run("status", "--json")
    data = json.loads(r.output)
    assert data["type"] == "dev-status" and data["max-ports"] == 4 and len(data["status"]) == 4
    assert len(json.loads(run("status", "--json", "--all-slots").output)["status"]) == 16


def test_send_follows_the_reports_to_the_end(run):
    r = run("send", "--to", "13800000001,13800000002", "--text", "hello", "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.output.strip().splitlines()[-1])["report"]
    assert (report["sent"], report["failed"], report["unsent"]) == (2, 0, 0)


def test_send_exit_code_when_some_fail(run, tmp_path):
    numbers = tmp_path / "numbers.txt"
    numbers.write_text("# list\n13800000003\n9990004, 13800000005\n")
    r = run("send", "--to-file", str(numbers), "--text", "x", "--from", "1")
    assert r.exit_code == 3 and "sent 2, failed 1" in r.output


def test_send_without_waiting(run):
    r = run("send", "--to", "1", "--text", "fire and forget", "--no-wait", "--tid", "4242")
    assert r.exit_code == 0 and "task 4242: 0 OK" in r.output


def test_send_mms(run, tmp_path):
    pic = tmp_path / "p.jpg"
    pic.write_bytes(b"\xff\xd8\xff")
    r = run("send", "--to", "1", "--attach", str(pic), "--subject", "hi", "--json")
    assert r.exit_code == 0 and json.loads(r.output.strip().splitlines()[-1])["report"]["sent"] == 1


def test_send_usage_errors(run):
    assert run("send", "--text", "x").exit_code == 2
    assert run("send", "--to", "1").exit_code == 2


def test_cmd_get_set_and_ops(run):
    assert run("cmd", "lock", "3.01").exit_code == 0
    assert "12" in run("status").output
    assert run("cmd", "unlock", "3").exit_code == 0
    r = run("cmd", "set", "sim_number(0)=+15550123", "sms_url=http://127.0.0.1:9/x")
    assert r.exit_code == 0 and "2 set" in r.output
    r = run("cmd", "get", "sim_number(0)", "sms_url", "--json")
    assert json.loads(r.output) == {"sim_number(0)": "+15550123", "sms_url": "http://127.0.0.1:9/x"}
    r = run("cmd", "lock", "99")
    assert r.exit_code == 1 and "port 99 does not exist" in r.output
    assert run("cmd", "set", "novalue").exit_code == 2


def test_tasks_pause_resume_remove(run):
    run("cmd", "lock", "2")
    assert run("send", "--to", "1,2", "--text", "queued", "--from", "2", "--tid", "77", "--no-wait").exit_code == 0
    r = run("tasks", "--port", "2", "--content")
    assert "77" in r.output and "queued" in r.output
    assert "77: 0 OK" in run("pause", "77").output
    assert json.loads(run("tasks", "--port", "2", "--json").output)["tasks"][0]["state"] == 1
    assert "every task" in run("resume", "--all").output
    r = run("remove", "77", "12345")
    assert r.exit_code == 1 and "12345: no such task (11 TID Expected)" in r.output
    assert json.loads(run("tasks", "--port", "2", "--json").output)["total_num"] == 0
    run("cmd", "unlock", "2")


def test_without_tids_pause_resume_and_remove_refuse_unless_all(run, server, cli_env):
    run("cmd", "lock", "3")
    assert run("send", "--to", "5", "--text", "kept", "--from", "3", "--tid", "88", "--no-wait").exit_code == 0
    for op in ("pause", "resume", "remove"):
        r = run(op)
        assert r.exit_code == 2 and f"give --all to {op} every task" in r.output
    assert run("remove", "88", "--all").exit_code == 2
    assert json.loads(run("tasks", "--port", "3", "--json").output)["tasks"][0]["state"] == 0  # untouched

    cli_env.setattr(cli, "_stdin_is_terminal", lambda: True)  # a person at a terminal is asked
    asked = CliRunner().invoke(main, ["remove", "--all"], input="n\n")
    assert asked.exit_code == 130 and "Remove every task of" in asked.stderr and "never be sent" in asked.stderr
    assert "Aborted." in asked.stderr
    assert json.loads(run("tasks", "--port", "3", "--json").output)["total_num"] == 1  # said no: kept
    r = run("remove", "--all", "--yes")
    assert r.exit_code == 0 and "every task" in r.output
    assert json.loads(run("tasks", "--port", "3", "--json").output)["total_num"] == 0
    run("cmd", "unlock", "3")


def test_inbox(run, server):
    httpx.get(
        f"{server.url}/sim/inbound",
        params={"username": "root", "password": "root", "port": "1.01", "sender": "10086", "text": "code 1234"},
    )
    r = run("inbox")
    assert r.exit_code == 0 and "from 10086: code 1234" in r.output
    rows = [json.loads(line) for line in run("inbox", "--json").output.splitlines()]
    assert rows[-1]["text"] == "code 1234"


def test_stats(run):
    r = run("stats", "sms", "--ports", "1", "--type", "3", "--json")
    assert json.loads(r.output)[0]["port"] == 1
    assert run("stats", "calls").exit_code == 0
    assert run("stats", "sms", "--type", "9").exit_code == 2


def test_esim(run):
    assert "port" in run("esim", "list", "--ports", "4").output
    assert run("esim", "write", "4", "2", "LPA:1$smdp.example.com$A1").output.startswith("submitted")
    r = run("esim", "write", "9", "1", "LPA:1$smdp.example.com$A2")
    assert r.exit_code == 2 and "port 9 does not exist (the device has 4 ports)" in r.stderr
    r = run("esim", "delete", "1", "5")
    assert r.exit_code == 2 and "slot 5 does not exist (each port has 4 slots)" in r.stderr
    data = json.loads(run("esim", "list", "--ports", "4", "--json").output)
    assert data[0]["profiles"][1]["provider"] == "smdp.example.com"  # --fast: written at once
    assert run("esim", "delete", "4", "2").output.startswith("submitted")


def test_profiles_and_exit_codes(run, tmp_path, server, monkeypatch):
    monkeypatch.delenv("EJOIN_URL")
    (tmp_path / "profiles.toml").write_text(f'[lab]\nurl = "{server.url}"\nusername = "root"\npassword = "root"\n')
    assert run("status", "--profile", "lab", "--json").exit_code == 0
    assert run("status", "--profile", "nope").exit_code == 2
    assert run("status", "--url", "http://127.0.0.1:1").exit_code == 4
    r = run("status", "--profile", "lab", "--password", "bad")
    assert r.exit_code == 1 and "Invalid User" in r.output
    assert run("status", "--profile", "lab", "--secure", "--json").exit_code == 0


def test_receive_command_prints_and_stores_pushes(tmp_path):
    import base64
    import socket
    import sqlite3
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = tmp_path / "pushes.sqlite3"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ejoin", "receive", "--port", str(port), "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        body = {
            "type": "recv-sms",
            "sms_num": 1,
            "sms": [[0, "1.01", 1767225600, "10086", "13800000000", base64.b64encode(b"hi there").decode()]],
        }
        for _ in range(200):  # until it listens (deadline 10 s)
            try:
                r = httpx.post(f"http://127.0.0.1:{port}/", json=body, timeout=2)
                break
            except httpx.ConnectError:
                time.sleep(0.05)
        assert r.json() == {"code": 0, "reason": "OK"}
        line = proc.stdout.readline()
        assert "1.01 from 10086: hi there" in line
    finally:
        proc.terminate()
        proc.wait(10)
    assert sqlite3.connect(db).execute("SELECT text FROM sms").fetchall() == [("hi there",)]
