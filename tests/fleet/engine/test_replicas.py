"""Replicas of one fleet on one PostgreSQL database: a shared task stream with exact counts, per-SIM
quotas that hold across replicas, and a replica killed -9 mid-send whose work another one finishes."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ejoin.testing import GatewayThread, PushCollector

from ..conftest import AUTH, Balancer, FleetThread, free_port, member
from .test_sending import reports

MEMBER = {"username": "root", "password": "root"}


def numbers(tid: int, n: int) -> list[str]:
    return [f"139{tid:04d}{i:04d}" for i in range(n)]


def network_sent(*members: GatewayThread) -> dict[tuple[str, int], int]:
    """What the members' simulated networks sent, per (member, port): their own statistics."""
    out = {}
    for g in members:
        for row in httpx.get(g.url + "/goip_get_sms_stat.html", params=MEMBER, timeout=20).json()["stats"]:
            out[(g.url, row["port"])] = row["sent_ok"]
    return out


def wait_final(platform: PushCollector, tids: set[int], timeout: float = 60) -> dict[int, dict[str, Any]]:
    finals: dict[int, dict[str, Any]] = {}

    def done(push: dict[str, Any]) -> bool:
        for r in push.get("rpts", []):
            if r["tid"] in tids and r["sending"] == 0 and r["unsent"] == 0:
                finals[r["tid"]] = r
        return set(finals) == tids

    for push in platform.of_type("status-report"):
        done(push)
    if set(finals) != tids:
        platform.wait_for(done, timeout=timeout)
    return finals


@pytest.fixture
def members(tmp_path: Path) -> Iterator[tuple[GatewayThread, GatewayThread]]:
    with (
        GatewayThread(tmp_path / "a", ports=4, slots=1, seed=1) as a,
        GatewayThread(tmp_path / "b", ports=4, slots=1, seed=2) as b,
    ):
        yield a, b


def replicas(tmp_path: Path, pg_url: str, fleet_members: list[dict[str, Any]], **settings: Any) -> list[FleetThread]:
    started = [FleetThread(tmp_path / f"r{i}", fleet_members, db=pg_url, lease=2, **settings).start() for i in range(2)]
    return started


def post(url: str, task: dict[str, Any], sr_url: str) -> str:
    body = {"type": "send-sms", "sr_url": sr_url, "sr_prd": 0, "tasks": [task]}  # reports pushed at once
    answer = httpx.post(url + "/goip_post_sms.html", params=AUTH, json=body, timeout=20).json()
    return str(answer["status"][0]["status"])


def test_two_replicas_share_a_task_stream_with_exact_counts(
    tmp_path: Path, members: tuple[GatewayThread, GatewayThread], platform: PushCollector, pg_url: str
) -> None:
    a, b = members
    r1, r2 = replicas(tmp_path, pg_url, [member(a, "1-4", "a"), member(b, "5-8", "b")])
    balancer = Balancer([r1.url, r2.url]).start()
    for r in (r1, r2):
        r.fleet.public_url = balancer.url  # members' reports land on either replica
    tids = set(range(2001, 2011))
    try:
        answers: dict[int, str] = {}

        def send(tid: int) -> None:
            replica = (r1, r2)[tid % 2]
            task = {"tid": tid, "to": numbers(tid, 30), "sms": "x", "sdr": 1, "fdr": 1, "sr_cnt": 7}
            answers[tid] = post(replica.url, task, platform.url)

        threads = [threading.Thread(target=send, args=(tid,)) for tid in sorted(tids)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert set(answers.values()) == {"0 OK"}
        finals = wait_final(platform, tids)
        sent = network_sent(a, b)
    finally:
        r1.stop()
        r2.stop()
        balancer.stop()
    assert sum(sent.values()) == 300  # every recipient once on the networks
    for tid in tids:
        assert (finals[tid]["sent"], finals[tid]["failed"]) == (30, 0)
        seen = reports(platform, tid)
        rows = [row for rep in seen for row in rep["sdr"]]
        assert sorted(row[0] for row in rows) == list(range(30))  # each in exactly one report, none repeated
        done = [rep["sent"] + rep["failed"] for rep in seen]
        assert done == sorted(done)  # one stream per task: counts never go backwards


def test_per_sim_quotas_hold_across_replicas(
    tmp_path: Path, members: tuple[GatewayThread, GatewayThread], platform: PushCollector, pg_url: str
) -> None:
    a, b = members
    r1, r2 = replicas(tmp_path, pg_url, [member(a, "1-2", "a"), member(b, "3-4", "b")], sim_hour_quota=3)
    try:
        barrier = threading.Barrier(2)

        def send(replica: FleetThread, first: int) -> None:
            # ten tasks in one request: each replica picks SIMs for ten tasks at once, both at the same moment
            tasks = [
                {"tid": t, "to": numbers(t, 2), "sms": "x", "sdr": 1, "sr_cnt": 1} for t in range(first, first + 10)
            ]
            barrier.wait()
            body = {"type": "send-sms", "sr_url": platform.url, "sr_prd": 0, "tasks": tasks}
            answer = httpx.post(replica.url + "/goip_post_sms.html", params=AUTH, json=body, timeout=20).json()
            assert {s["status"] for s in answer["status"]} == {"0 OK"}

        threads = [threading.Thread(target=send, args=(r, tid)) for r, tid in ((r1, 3001), (r2, 3101))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        def given() -> int:
            latest = {r["tid"]: r["sent"] for p in platform.of_type("status-report") for r in p["rpts"]}
            return sum(latest.values())

        platform.wait_for(lambda _: given() == 12)  # 4 SIMs x 3
        for r in (r1, r2):
            r.tick()  # a dispatch round on each: the SIMs are at their quota
            r.idle()
        sent = network_sent(a, b)
    finally:
        r1.stop()
        r2.stop()
    assert sorted(n for (url, port), n in sent.items() if port <= 2) == [3, 3, 3, 3]
    assert given() == 12


def test_a_task_held_by_one_replica_is_removed_and_paused_through_another(
    tmp_path: Path, platform: PushCollector, pg_url: str
) -> None:
    gone = member(f"http://127.0.0.1:{free_port()}", "1-4", "gone")  # no member answers: units stay pending
    r1, r2 = replicas(tmp_path, pg_url, [gone])
    try:
        for tid in (5101, 5102):
            task = {"tid": tid, "to": numbers(tid, 3), "sms": "x", "fdr": 1}
            assert post(r1.url, task, platform.url) == "0 OK"
        r1.idle()
        answer = r2.get("/goip_remove_sms.html", tids="5101")
        assert answer["results"] == [{"tid": "5101", "status": "0 OK"}]
        report = wait_final(platform, {5101})[5101]  # emitted by r1, the task's owner, woken by r2's change
        assert r2.get("/goip_pause_sms.html", tids="5102")["results"] == [{"tid": "5102", "status": "0 OK"}]
        assert r1.get("/goip_resume_sms.html", tids="5102")["results"] == [{"tid": "5102", "status": "0 OK"}]
        # one inbox behind every replica: one ssrc (a device's changes only when its ids restart)
        assert r1.get("/goip_get_sms.html")["ssrc"] == r2.get("/goip_get_sms.html")["ssrc"]
    finally:
        r1.stop()
        r2.stop()
    assert (report["sent"], report["failed"], report["unsent"]) == (0, 3, 0)
    assert [(r[0], r[4]) for r in report["fdr"]] == [(i, "8 Removed") for i in range(3)]
    assert [r for r in reports(platform, 5101)] == [report]  # one stream: r2 did not report it too


def test_a_replica_stopping_hands_its_tasks_over_at_once(tmp_path: Path, platform: PushCollector, pg_url: str) -> None:
    port = free_port()
    away = member(f"http://127.0.0.1:{port}", "1-4", "a")  # not up yet: the task waits, pending
    r1, r2 = (FleetThread(tmp_path / f"r{i}", [away], db=pg_url, lease=600).start() for i in range(2))
    try:
        task = {"tid": 6101, "to": numbers(6101, 5), "sms": "x", "sdr": 1}
        assert post(r1.url, task, platform.url) == "0 OK"
        r1.idle()
    finally:
        r1.stop()  # SIGTERM: its leases released, not left to expire (600 s)
    try:
        with GatewayThread(tmp_path / "a", ports=4, slots=1, port=port):
            r2.tick()  # the member is up; r2 takes the released task and dispatches it
            report = wait_final(platform, {6101})[6101]
    finally:
        r2.stop()
    assert (report["sent"], report["failed"]) == (5, 0)


def start_replica(config: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "ejoin", "fleet", "--config", str(config), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/goip_get_status.html", params=AUTH, timeout=10)
            return proc
        except httpx.TransportError:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)


@pytest.mark.slow
def test_a_replica_killed_9_mid_send_is_finished_by_another_once(
    tmp_path: Path, members: tuple[GatewayThread, GatewayThread], platform: PushCollector, pg_url: str
) -> None:
    a, b = members
    port, lb_port = free_port(), free_port()
    config = tmp_path / "fleet.toml"
    config.write_text(
        f'data = "{tmp_path / "killed"}"\ndb = "{pg_url}"\nlease = 1\npublic_url = "http://127.0.0.1:{lb_port}"\n'
        'username = "fleet"\npassword = "secret"\n'
        f'[[member]]\nname = "a"\nurl = "{a.url}"\nports = "1-4"\n'
        f'[[member]]\nname = "b"\nurl = "{b.url}"\nports = "5-8"\n'
    )
    killed = start_replica(config, port, tmp_path / "killed.log")
    survivor = FleetThread(
        tmp_path / "survivor", [member(a, "1-4", "a"), member(b, "5-8", "b")], db=pg_url, lease=1
    ).start()
    balancer = Balancer([f"http://127.0.0.1:{port}", survivor.url], port=lb_port).start()
    survivor.fleet.public_url = balancer.url
    tids = list(range(4001, 4031))
    try:
        acked = threading.Event()
        answers: dict[int, str] = {}

        def platform_client() -> None:
            """Posts the stream to the first replica; when it stops answering, to the other (same tids)."""
            target = f"http://127.0.0.1:{port}"
            for n, tid in enumerate(tids):
                task = {"tid": tid, "to": numbers(tid, 40), "sms": "x", "sdr": 1, "sr_cnt": 10}
                try:
                    answers[tid] = post(target, task, platform.url)
                except httpx.TransportError:
                    target = survivor.url
                    answers[tid] = post(target, task, platform.url)  # 13 when the dead one committed it
                if n == 8:
                    acked.set()

        client = threading.Thread(target=platform_client)
        client.start()
        assert acked.wait(30)
        killed.send_signal(signal.SIGKILL)  # mid-stream: dispatches recorded, posted, answered or not
        killed.wait(10)
        client.join(60)
        assert set(answers) == set(tids) and set(answers.values()) <= {"0 OK", "13 Duplicated TaskId"}
        finals = wait_final(platform, set(tids), timeout=90)
        survivor.idle()
        sent = network_sent(a, b)
    finally:
        if killed.poll() is None:
            killed.kill()
            killed.wait(10)
        survivor.stop()
        balancer.stop()
    assert sum(sent.values()) == 40 * len(tids)  # 0 lost, 0 sent twice: what the networks sent
    for tid in tids:
        assert (finals[tid]["sent"], finals[tid]["failed"]) == (40, 0), tid
        rows = {row[0] for rep in reports(platform, tid) for row in rep["sdr"]}
        assert rows == set(range(40))  # every recipient reported (a push in flight at the kill may repeat)
