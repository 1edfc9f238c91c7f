"""``ejoin send``: following a task, stopping, failures and the flags for reports."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import httpx

from ..threaded import ServerThread


def _param(server, name: str):
    answer = httpx.get(
        f"{server.url}/goip_send_cmd.html", params={"username": "root", "password": "root", "op": "get", name: ""}
    ).json()
    return answer["data"][name]


def test_following_leaves_no_device_setting_behind(run, server):
    before = _param(server, "sr_url")
    r = run("send", "--to", "13800000001", "--text", "hello")
    assert r.exit_code == 0, r.output
    assert _param(server, "sr_url") == before == ""  # the report URL was the request's own


def test_failed_numbers_are_listed_with_their_reasons(run):
    r = run("send", "--to", "13800000003,9990004,9990005", "--text", "x", "--from", "1")
    assert r.exit_code == 3
    failed = [line for line in r.stdout.splitlines() if line.startswith("failed: ")]
    assert len(failed) == 2 and "9990004 (port 1." in failed[0] and "rejected" in failed[0]
    assert "sent 1, failed 2" in r.stdout


def test_json_has_every_row_of_every_report(run):
    numbers = [f"1380000{i:04d}" for i in range(90)] + [f"999000{i:04d}" for i in range(30)]
    # 120 recipients: a report every 2 done, so many reports, each with only its own rows
    r = run("send", "--to", ",".join(numbers), "--text", "x", "--sdr", "--json")
    assert r.exit_code == 3
    result = json.loads(r.stdout)
    report = result["report"]
    assert result["finished"] is True and result["stopped"] is None
    assert (report["sent"], report["failed"], report["unsent"]) == (90, 30, 0)
    assert sorted(row[1] for row in report["sdr"]) == sorted(numbers[:90])
    assert sorted(row[1] for row in report["fdr"]) == sorted(numbers[90:])


def test_without_sdr_no_success_rows_are_asked_for(run):
    r = run("send", "--to", "13800000001,13800000002", "--text", "x", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["report"]["sdr"] == []


def test_dr_asks_for_delivery_reports(run):
    r = run("send", "--to", "13800000777", "--text", "x", "--dr")
    assert r.exit_code == 0, r.output
    inbox = run("inbox")
    assert "delivery report for 13800000777: delivered" in inbox.stdout


def test_progress_shows_rate_and_eta_on_a_terminal(run, cli_env):
    r = run("send", "--to", "13800000001,13800000002", "--text", "x")
    assert r.exit_code == 0 and "accepted; following" in r.stderr
    assert "ETA" not in r.stderr  # no bar in a pipe or a log
    assert re.search(r"task \d+: sent 2, failed 0, unsent 0 \(\d+\.\d s, [\d,]+ SMS/s\)", r.stdout)
    cli_env.setenv("TTY_COMPATIBLE", "1")
    r = run("send", "--to", "13800000001,13800000002", "--text", "x")
    assert r.exit_code == 0 and "SMS/s" in r.stderr and "ETA" in r.stderr


def test_timeout_says_the_task_goes_on_and_exits_non_zero(run):
    r = run("send", "--to", "13800000001", "--text", "x", "--tid", "9191", "--timeout", "0")
    assert r.exit_code == 5
    assert "stopped following task 9191" in r.stderr and "goes on on the device" in r.stderr
    assert "ejoin pause 9191" in r.stderr and "ejoin remove 9191" in r.stderr
    r = run("send", "--to", "13800000001", "--text", "x", "--tid", "9192", "--timeout", "0", "--json")
    assert r.exit_code == 5 and json.loads(r.stdout)["stopped"] == "--timeout 0 s passed"


def test_a_locked_from_port_is_said_not_waited_on(run):
    assert run("cmd", "lock", "3").exit_code == 0
    try:
        r = run("send", "--to", "1", "--text", "x", "--from", "3")
        assert r.exit_code == 1 and "12 User locked" in r.stderr and "--no-wait" in r.stderr
        r = run("send", "--to", "1", "--text", "x", "--from", "3", "--no-wait", "--tid", "9393")
        assert r.exit_code == 0 and "the task waits on the device for ports that cannot send now" in r.stderr
        assert run("remove", "9393").exit_code == 0
    finally:
        run("cmd", "unlock", "3")


def test_a_slot_that_is_not_active_is_said(run):
    r = run("send", "--to", "1", "--text", "x", "--from", "1.02")
    assert r.exit_code == 1 and "1.02: not the active slot (1.01 is)" in r.stderr


def test_every_named_port_must_be_able_to_send(run):
    assert run("cmd", "lock", "3").exit_code == 0
    try:
        r = run("send", "--to", "1", "--text", "x", "--from", "1,3")  # each named port sends to each recipient
        assert r.exit_code == 1 and "3.01: 12 User locked" in r.stderr and "1.01" not in r.stderr
        assert run("send", "--to", "1", "--text", "x").exit_code == 0  # any port may: the others can
    finally:
        run("cmd", "unlock", "3")


def test_a_port_outside_the_device_is_named(run):
    r = run("send", "--to", "1", "--text", "x", "--from", "9")
    assert r.exit_code == 2 and "port 9 does not exist (the device has 4 ports)" in r.stderr


def test_ctrl_c_says_the_task_goes_on(tmp_path):
    slow = {"card_detect": 0, "register_min": 0, "register_max": 0, "send_min": 60, "send_max": 60}
    server = ServerThread(str(tmp_path / "d"), fast=False, timing=slow, shutdown_grace=0.1).start()
    env = {**os.environ, "EJOIN_URL": server.url, "EJOIN_PROFILES": str(tmp_path / "none.toml")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ejoin", "send", "--to", "13800000001", "--text", "x", "--tid", "4711"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert "accepted; following" in proc.stderr.readline()  # the SMS takes 60 s: still following
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=20)
        assert proc.returncode == 130
        assert "stopped following task 4711: interrupted" in stderr and "ejoin remove 4711" in stderr
        assert "Traceback" not in stderr
        # its report URL is gone: the gateway was asked to drop what waits for it and what the task,
        # going on, queues for it later (it used to be retried for 3 days, and alert)
        gw = server.gateway
        assert gw is not None
        [gone] = server.call(lambda: gw.outbox.forgotten)
        assert gone.endswith("/ejoin-cli")

        def listed() -> list[str]:
            pushes = httpx.get(f"{server.url}/ejoin/pushes", params={"username": "root", "password": "root"})
            return [d["url"] for d in pushes.json()["destinations"]]

        # (a report the task queues every 2 s is dropped as it comes: looked for, bounded)
        deadline = time.monotonic() + 10
        while gone in listed():
            assert time.monotonic() < deadline, f"{gone} still listed"
    finally:
        if proc.poll() is None:
            proc.kill()
        server.stop()


def test_a_port_locked_while_following_stops_the_wait(tmp_path, cli_env, monkeypatch):
    from click.testing import CliRunner

    from ejoin.cli import main
    from ejoin.client import follow

    slow = {"card_detect": 0, "register_min": 0, "register_max": 0, "send_min": 60, "send_max": 60}
    server = ServerThread(str(tmp_path / "d"), fast=False, timing=slow, shutdown_grace=0.1).start()
    checks = []

    def lock_on_first_check(st, from_):
        if not checks:  # the task is on its way: now someone locks its only port
            httpx.post(
                f"{server.url}/goip_send_cmd.html",
                params={"username": "root", "password": "root"},
                json={"type": "command", "op": "lock", "ports": "2"},
            )
        checks.append(from_)
        return port_problem(st, from_)

    port_problem = follow.port_problem
    monkeypatch.setattr(follow, "port_problem", lock_on_first_check)
    # Longer than the task's report period (2 s): reports that say nothing new must not hide the stall.
    monkeypatch.setattr(follow, "STALL_CHECK", 2.5)
    cli_env.setenv("EJOIN_URL", server.url)
    try:
        r = CliRunner().invoke(
            main, ["send", "--to", "1,2", "--text", "x", "--from", "2", "--tid", "5151", "--timeout", "30"]
        )
    finally:
        server.stop()
    assert r.exit_code == 5, r.output
    assert "stopped following task 5151: it waits for ports that cannot send now (2.01: 12 User locked)" in r.stderr
    assert checks == ["2", "2"]


def test_report_host_names_where_the_device_reaches_the_cli(run):
    # 127.0.0.2 is this machine too, but not the loopback address the receiver would otherwise bind alone
    r = run("send", "--to", "13800000001", "--text", "x", "--report-host", "127.0.0.2", "--timeout", "20")
    assert r.exit_code == 0, r.output
