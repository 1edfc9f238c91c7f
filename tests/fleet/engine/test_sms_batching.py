"""Received SMS batched for the platform as a device batches them: a push every ``sms_cnt`` SMS or
``sms_prd`` seconds after the first waiting (each at once when ``sms_cnt`` <= 1); none lost across a
restart; with replicas, one batcher (the status role's holder) for what any replica takes in."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ejoin.testing import GatewayThread, PushCollector

from ..api.test_inbox import receive
from ..conftest import FleetThread, member, unforwarded
from .test_replica_features import Pair, until

DAY = 86_400


@pytest.fixture
def fleet_db(both_stores: str) -> str:
    return both_stores  # every test here runs on the embedded SQLite store and on PostgreSQL


def texts(push: dict[str, Any]) -> list[str]:
    return [base64.b64decode(r[5]).decode() for r in push["sms"]]


def pushes(platform: PushCollector) -> list[dict[str, Any]]:
    return platform.of_type("recv-sms")


def start(tmp_path: Path, members: tuple[GatewayThread, GatewayThread], db: str) -> FleetThread:
    """A fleet on a virtual clock whose poll never runs on its own: members are not subscribed, so what
    they receive reaches the fleet by its inbox pulls only, when the test asks."""
    a, b = members
    return FleetThread(
        tmp_path / "fleet", [member(a, "1-4", "a"), member(b, "5-8", "b")], db=db, virtual=True, status_poll=DAY
    ).start()


@pytest.fixture
def vfleet(tmp_path: Path, two_members: tuple[GatewayThread, GatewayThread], fleet_db: str) -> Iterator[FleetThread]:
    f = start(tmp_path, two_members, fleet_db)
    try:
        yield f
    finally:
        f.stop()


def take_in(f: FleetThread) -> None:
    """The fleet takes in what its members received (an inbox pull), and batches it."""
    f.get("/goip_get_sms.html")
    f.idle()


def test_a_push_every_sms_cnt_sms_or_sms_prd_seconds_after_the_first_waiting(
    vfleet: FleetThread, two_members: tuple[GatewayThread, GatewayThread], platform: PushCollector
) -> None:
    a, b = two_members
    answer = vfleet.get("/goip_send_cmd.html", op="set", sms_url=platform.url, sms_cnt="3", sms_prd="20")
    assert answer == {"code": 0, "reason": "OK", "par_set": 3}
    got = vfleet.get("/goip_send_cmd.html", op="get", sms_cnt="", sms_prd="")
    assert got["data"] == {"sms_cnt": 3, "sms_prd": 20}
    receive(a, "1", "13911110001", "m1")
    receive(b, "2", "13911110002", "m2")
    take_in(vfleet)
    assert vfleet.fleet.inbound.waiting == 2
    receive(a, "3", "13911110003", "m3")
    take_in(vfleet)
    first = platform.wait_for(lambda p: p["type"] == "recv-sms")
    # the first push holds all three: none of the first two went on its own before
    assert first["sms_num"] == 3 and texts(first)[2] == "m3"  # (a and b are pulled at once: either first)
    where = sorted(zip(texts(first), [r[1] for r in first["sms"]], strict=True))
    assert where == [("m1", "1.01"), ("m2", "6.01"), ("m3", "3.01")]  # in fleet port numbers
    assert vfleet.fleet.inbound.waiting == 0

    receive(b, "1", "13911110004", "m4")
    take_in(vfleet)
    vfleet.advance(19)
    vfleet.idle()
    assert vfleet.fleet.inbound.waiting == 1  # the period counts from the first SMS waiting
    vfleet.advance(1)
    platform.wait_for(lambda p: len(pushes(platform)) == 2)
    second = pushes(platform)[1]
    assert texts(second) == ["m4"] and second["sms_num"] == 1
    assert len(pushes(platform)) == 2


def test_with_sms_cnt_1_each_sms_is_its_own_push_and_the_send_request_sets_them(
    vfleet: FleetThread, two_members: tuple[GatewayThread, GatewayThread], platform: PushCollector
) -> None:
    a, _ = two_members
    task = {"tid": 1, "to": ["13800000001"], "sms": "x"}
    body = {"type": "send-sms", "sms_url": platform.url, "sms_cnt": 5, "sms_prd": 40, "tasks": [task]}
    assert vfleet.post("/goip_post_sms.html", body)["status"][0]["status"] == "0 OK"
    got = vfleet.get("/goip_send_cmd.html", op="get")["data"]  # every parameter the fleet has
    assert (got["sms_url"], got["sms_cnt"], got["sms_prd"]) == (platform.url, 5, 40)
    # as a device's default; op and the parameter in a JSON body, as on a device
    assert vfleet.post("/goip_send_cmd.html", {"op": "set", "sms_cnt": 1}) == {"code": 0, "reason": "OK", "par_set": 1}
    for n in range(3):
        receive(a, "1", f"1391111001{n}", f"n{n}")
    take_in(vfleet)  # one pull takes the three at once
    platform.wait_for(lambda p: len(pushes(platform)) == 3)
    assert [texts(p) for p in pushes(platform)] == [["n0"], ["n1"], ["n2"]]
    # a request-level count that is no count refuses every task of the request, as a device does
    bad = {"type": "send-sms", "sms_cnt": "many", "tasks": [{**task, "tid": 2}]}
    [status] = vfleet.post("/goip_post_sms.html", bad)["status"]
    assert status["status"].startswith("15") and "sms_cnt" in status.get("reason", status["status"])
    assert vfleet.get("/goip_send_cmd.html", op="set", sms_prd="-1")["code"] == 400
    # the device's own parsers: nobody's intent, and what waits behind them would never be pushed
    refused = vfleet.get("/goip_send_cmd.html", op="set", sms_prd="99999999999999999999")
    assert refused["code"] == 400 and "at most 86400 seconds" in refused["reason"]
    refused = vfleet.get("/goip_send_cmd.html", op="set", status_url="http://platform.test/\r\nX-Evil: 1")
    assert refused["code"] == 400 and "control character" in refused["reason"]
    refused = vfleet.get("/goip_get_status.html", period="99999999999999999999")
    assert refused["code"] == 400 and "period must be at most 86400" in refused["reason"]
    bad_url = {"type": "send-sms", "sr_url": "http://platform.test/\nsr", "tasks": [{**task, "tid": 3}]}
    [status] = vfleet.post("/goip_post_sms.html", bad_url)["status"]
    assert status["status"].startswith("15") and "control character" in status["reason"]
    assert vfleet.get("/goip_send_cmd.html", op="get", sms_prd="")["data"] == {"sms_prd": 40}


def test_sms_waiting_in_the_batch_at_a_restart_are_pushed_after_it(
    tmp_path: Path, two_members: tuple[GatewayThread, GatewayThread], fleet_db: str, platform: PushCollector
) -> None:
    a, _ = two_members
    f = start(tmp_path, two_members, fleet_db)
    try:
        assert f.get("/goip_send_cmd.html", op="set", sms_url=platform.url, sms_cnt="5", sms_prd="30")["code"] == 0
        receive(a, "2", "13911110021", "kept 1")
        receive(a, "2", "13911110022", "kept 2")
        take_in(f)
        assert f.fleet.inbound.waiting == 2
    finally:
        f.stop()  # as a crash: the batch is in memory only
    again = start(tmp_path, two_members, fleet_db)
    try:
        assert again.fleet.inbound.waiting == 2  # unforwarded in the ledger: batched again at start
        assert pushes(platform) == []
        again.advance(30)
        push = platform.wait_for(lambda p: p["type"] == "recv-sms")
        assert texts(push) == ["kept 1", "kept 2"]
    finally:
        again.stop()

    assert unforwarded(tmp_path / "fleet", fleet_db) == []  # handed to the outbox once: nothing left
    assert len(pushes(platform)) == 1


def test_with_replicas_the_status_role_holder_batches_what_any_replica_takes_in(
    tmp_path: Path, two_members: tuple[GatewayThread, GatewayThread], pg_url: str
) -> None:
    a, _ = two_members
    with PushCollector() as platform:
        pair = Pair(tmp_path, pg_url, [member(a, "1-4", "a")], status_poll=DAY)
        try:
            r1, r2 = pair.replicas
            leader, other = (r1, r2) if r1.fleet.status_push.leading else (r2, r1)
            pair.balancer.backends = [other.url]  # a's pushes land on the replica that does not batch
            set_ = other.get("/goip_send_cmd.html", op="set", sms_url=platform.url, sms_cnt="2", sms_prd="30")
            assert set_["code"] == 0
            receive(a, "1", "13911110031", "x1")
            other.get("/goip_get_sms.html")
            until(lambda: leader.fleet.inbound.waiting == 1)  # the holder was told (NOTIFY) and batches it
            assert other.fleet.inbound.waiting == 0
            receive(a, "2", "13911110032", "x2")
            other.get("/goip_get_sms.html")
            first = platform.wait_for(lambda p: p["type"] == "recv-sms")
            assert texts(first) == ["x1", "x2"]

            # the holder stops with an SMS in its batch: the next holder pushes it, once
            receive(a, "3", "13911110033", "x3")
            other.get("/goip_get_sms.html")
            until(lambda: leader.fleet.inbound.waiting == 1)
            pair.stop_one(leader)
            until(lambda: other.fleet.status_push.leading and other.fleet.inbound.waiting == 1)
            other.advance(30)
            platform.wait_for(lambda p: len(pushes(platform)) == 2)
            assert texts(pushes(platform)[1]) == ["x3"]
            assert sorted(t for p in pushes(platform) for t in texts(p)) == ["x1", "x2", "x3"]
        finally:
            pair.stop()
