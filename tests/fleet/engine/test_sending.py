"""Sending through the fleet: tasks split over members, reports merged back in fleet numbers."""

from __future__ import annotations

from typing import Any

import pytest

from ejoin.testing import GatewayThread, PushCollector

from ..conftest import FleetThread, member

NUMBERS = [f"1380000{i:04d}" for i in range(1, 41)]


@pytest.fixture
def fleet_db(both_stores: str) -> str:
    return both_stores  # every test here runs on the embedded SQLite store and on PostgreSQL


def final(platform: PushCollector, tid: Any) -> dict[str, Any]:
    def done(p: dict[str, Any]) -> bool:
        return any(r["tid"] == tid and r["sending"] == 0 and r["unsent"] == 0 for r in p.get("rpts", []))

    push = platform.wait_for(done, timeout=20)
    return next(r for r in push["rpts"] if r["tid"] == tid)


def reports(platform: PushCollector, tid: Any) -> list[dict[str, Any]]:
    return [r for p in platform.of_type("status-report") for r in p["rpts"] if r["tid"] == tid]


def send(fleet: FleetThread, platform: PushCollector, task: dict[str, Any], **request: Any) -> dict[str, Any]:
    # request-level sr_prd 0: each report pushed at once (a device's default batches them for 30 s)
    body = {"type": "send-sms", "sr_url": platform.url, "sr_prd": 0, "tasks": [task], **request}
    return fleet.post("/goip_post_sms.html", body)


def test_a_group_send_is_spread_over_both_members(fleet: FleetThread, platform: PushCollector) -> None:
    answer = send(fleet, platform, {"tid": 9001, "to": NUMBERS, "sms": "hello", "sdr": 1, "sr_cnt": 1000})
    assert answer == {"code": 200, "reason": "OK", "type": "task-status", "status": [{"tid": 9001, "status": "0 OK"}]}
    report = final(platform, 9001)
    assert (report["sent"], report["failed"], report["sending"], report["unsent"]) == (40, 0, 0, 0)
    rows = [r for rep in reports(platform, 9001) for r in rep["sdr"]]
    # every recipient once, at its index in the fleet task, with a fleet port number
    assert sorted((r[0], r[1]) for r in rows) == list(enumerate(NUMBERS))
    ports = {int(r[2].split(".")[0]) for r in rows}
    assert ports == set(range(1, 9))  # least busy: all eight ports of both members


def test_tasks_accepted_together_share_the_members_evenly(tmp_path, platform: PushCollector, fleet_db) -> None:
    # Four tasks of one request are dispatched at once: each plan must see the units the others gave
    # the ports, or they pile onto the same member (one left with far more than its share, the other idle).
    with (
        GatewayThread(tmp_path / "a", clock="virtual", ports=4, slots=1) as a,
        GatewayThread(tmp_path / "b", clock="virtual", ports=4, slots=1) as b,
    ):
        a.advance(30)
        b.advance(30)
        fleet = FleetThread(tmp_path / "fleet", [member(a, "1-4", "a"), member(b, "5-8", "b")], db=fleet_db).start()
        try:
            tasks = [{"tid": 9010 + t, "to": NUMBERS[t * 10 : t * 10 + 10], "sms": "x", "sdr": 1} for t in range(4)]
            answer = fleet.post(
                "/goip_post_sms.html", {"type": "send-sms", "sr_url": platform.url, "sr_prd": 0, "tasks": tasks}
            )
            assert [s["status"] for s in answer["status"]] == ["0 OK"] * 4
            fleet.idle()  # every task dispatched while the members send nothing yet (their clocks stand)
            a.advance(300)
            b.advance(300)
            for t in range(4):
                final(platform, 9010 + t)
            fleet.idle()
        finally:
            fleet.stop()
    ports = [int(r[2].split(".")[0]) for t in range(4) for rep in reports(platform, 9010 + t) for r in rep["sdr"]]
    assert len(ports) == 40
    assert (sum(p <= 4 for p in ports), sum(p > 4 for p in ports)) == (20, 20)


def test_from_in_fleet_ports_goes_to_the_owner_of_those_ports(fleet: FleetThread, platform: PushCollector) -> None:
    task = {"tid": 9002, "to": NUMBERS[:6], "sms": "hi", "from": "6", "sdr": 1}
    assert send(fleet, platform, task)["status"][0]["status"] == "0 OK"
    report = final(platform, 9002)
    assert report["sent"] == 6
    rows = [r for rep in reports(platform, 9002) for r in rep["sdr"]]
    assert {r[2] for r in rows} == {"6.01"}


def test_to_all_every_listed_port_sends_to_every_recipient(fleet: FleetThread, platform: PushCollector) -> None:
    task = {"tid": 9003, "to": NUMBERS[:3], "sms": "hi", "from": "2,7", "to_all": 1, "sdr": 1}
    assert send(fleet, platform, task)["status"][0]["status"] == "0 OK"
    report = final(platform, 9003)
    assert (report["sent"], report["failed"], report["unsent"]) == (6, 0, 0)
    rows = [r for rep in reports(platform, 9003) for r in rep["sdr"]]
    assert sorted((r[0], r[2]) for r in rows) == sorted((i, p) for i in range(3) for p in ("2.01", "7.01"))


def test_reports_follow_sr_cnt_with_exact_counts(fleet: FleetThread, platform: PushCollector) -> None:
    task = {"tid": 9004, "to": NUMBERS[:20], "sms": "hi", "sdr": 1, "sr_cnt": 5}
    assert send(fleet, platform, task)["status"][0]["status"] == "0 OK"
    final(platform, 9004)
    fleet.idle()
    seen = reports(platform, 9004)
    done = [r["sent"] + r["failed"] for r in seen]
    assert done == sorted(done) and done[-1] == 20  # counts never go backwards
    assert all(len(r["sdr"]) >= 5 for r in seen[:-1])  # no report before sr_cnt more are done
    assert sum(len(r["sdr"]) for r in seen) == 20  # each row reported once


def test_what_a_member_refuses_is_reported_failed_with_its_reason(tmp_path, platform: PushCollector, fleet_db) -> None:
    # the fleet gives this member ports 1-4, but it has only 2: its refusal becomes fdr rows
    with GatewayThread(tmp_path / "small", ports=2, slots=2) as small:
        fleet = FleetThread(tmp_path / "fleet", [member(small, "1-4", "small")], db=fleet_db).start()
        try:
            task = {"tid": 9005, "to": NUMBERS[:2], "sms": "hi", "from": "3", "to_all": 1}
            assert send(fleet, platform, task)["status"][0]["status"] == "0 OK"
            report = final(platform, 9005)
        finally:
            fleet.stop()
    assert (report["sent"], report["failed"], report["unsent"]) == (0, 2, 0)
    assert [r[0] for r in report["fdr"]] == [0, 1]
    assert all(r[2] == "3" and "refused by member small: 2 Invalid Port" in r[4] for r in report["fdr"])


def test_bad_tasks_get_the_devices_codes(fleet: FleetThread, platform: PushCollector) -> None:
    body = {
        "type": "send-sms",
        "tasks": [{"tid": 1, "to": "13800000001"}, {"tid": 2, "sms": "x", "to": "1", "from": "99"}],
    }
    answer = fleet.post("/goip_post_sms.html", body)
    assert [s["status"] for s in answer["status"]] == ["8 SMS expected", "2 Invalid Port"]
    wrong = fleet.post("/goip_post_sms.html", body, password="no")
    assert [s["status"] for s in wrong["status"]] == ["1 Invalid User", "1 Invalid User"]


@pytest.mark.parametrize(("policy", "ports"), [("least-busy", ["1.01"] * 3), ("round-robin", ["1.01", "2.01", "3.01"])])
def test_the_routing_policy_picks_the_port(
    tmp_path, two_members, platform: PushCollector, policy, ports, fleet_db
) -> None:
    a, b = two_members
    fleet = FleetThread(
        tmp_path / "fleet", [member(a, "1-4", "a"), member(b, "5-8", "b")], policy=policy, db=fleet_db
    ).start()
    try:
        used = []
        for n in range(3):  # one after the other: each done before the next
            assert (
                send(fleet, platform, {"tid": 9100 + n, "to": NUMBERS[n], "sms": "x", "sdr": 1})["status"][0]["status"]
                == "0 OK"
            )
            used.append(final(platform, 9100 + n)["sdr"][0][2])
            fleet.idle()
    finally:
        fleet.stop()
    assert used == ports
