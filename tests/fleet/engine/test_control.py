"""Pause, resume and remove on fleet tids reach the members' sub-tasks; removal is reported as a device does."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ejoin.testing import GatewayThread, PushCollector

from ..conftest import FleetThread, free_port, member
from .test_sending import NUMBERS, final, send

MEMBER = {"username": "root", "password": "root"}


@pytest.fixture
def fleet_db(both_stores: str) -> str:
    return both_stores  # every test here runs on the embedded SQLite store and on PostgreSQL


@pytest.fixture
def held(tmp_path, fleet_db) -> Iterator[tuple[FleetThread, GatewayThread]]:
    """A fleet (ports 3-4) whose one member registers its SIMs and then sends nothing (its clock stays still)."""
    with GatewayThread(tmp_path / "a", clock="virtual", ports=2, slots=1) as a:
        a.advance(30)
        fleet = FleetThread(tmp_path / "fleet", [member(a, "3-4", "a")], db=fleet_db).start()
        try:
            yield fleet, a
        finally:
            fleet.stop()
            a.advance(60)  # what its modules hold ends now: a gateway stopping waits for SMS in a module


def member_states(a: GatewayThread) -> list[int]:
    answer = httpx.get(a.url + "/goip_get_tasks.html", params={**MEMBER, "port": 1}).json()
    return [t["state"] for t in answer["tasks"]]


def test_remove_fails_what_was_not_sent_and_reports_it(held, platform: PushCollector) -> None:
    fleet, a = held
    task = {"tid": 5001, "to": NUMBERS[:4], "sms": "x", "sdr": 1}
    assert send(fleet, platform, task)["status"][0]["status"] == "0 OK"
    fleet.idle()
    assert member_states(a) == [0]
    answer = fleet.post("/goip_remove_sms.html", {"tids": [5001, 5999]})
    assert answer["results"] == [{"tid": 5001, "status": "0 OK"}, {"tid": 5999, "status": "11 TID Expected"}]
    a.advance(120)  # what the member's two modules already held goes out; the rest never will
    report = final(platform, 5001)
    assert (report["sent"], report["failed"], report["unsent"]) == (2, 2, 0)
    assert sorted(r[0] for r in report["sdr"] + report["fdr"]) == [0, 1, 2, 3]  # fleet indexes, each once
    assert {r[4] for r in report["fdr"]} == {"8 Removed"}
    assert member_states(a) == []
    # the tid is free again, as on a device once its task is gone
    assert send(fleet, platform, {"tid": 5001, "to": NUMBERS[:1], "sms": "x"})["status"][0]["status"] == "0 OK"


def test_pause_and_resume_reach_the_members_sub_tasks(held, platform: PushCollector) -> None:
    fleet, a = held
    assert send(fleet, platform, {"tid": 5002, "to": NUMBERS[:3], "sms": "x"})["status"][0]["status"] == "0 OK"
    fleet.idle()
    assert fleet.get("/goip_pause_sms.html", tids="5002")["results"] == [{"tid": "5002", "status": "0 OK"}]
    assert member_states(a) == [1]
    assert fleet.post("/goip_resume_sms.html", {"tids": [5002]})["results"] == [{"tid": 5002, "status": "0 OK"}]
    assert member_states(a) == [0]


def test_remove_of_a_task_no_member_took_fails_it_at_once(tmp_path, platform: PushCollector, fleet_db) -> None:
    fleet = FleetThread(
        tmp_path / "fleet", [member(f"http://127.0.0.1:{free_port()}", "1-4", "gone")], db=fleet_db
    ).start()
    try:
        task = {"tid": 5003, "to": NUMBERS[:3], "sms": "x"}
        assert send(fleet, platform, task)["status"][0]["status"] == "0 OK"
        fleet.idle()
        assert fleet.get("/goip_remove_sms.html", tids="5003")["results"] == [{"tid": "5003", "status": "0 OK"}]
        report = final(platform, 5003)
    finally:
        fleet.stop()
    assert (report["sent"], report["failed"], report["unsent"]) == (0, 3, 0)
    assert [(r[0], r[1], r[4]) for r in report["fdr"]] == [(i, NUMBERS[i], "8 Removed") for i in range(3)]


def test_the_queue_of_a_fleet_port_shows_fleet_tids_and_ports(held, platform: PushCollector) -> None:
    fleet, a = held
    assert send(fleet, platform, {"tid": 5004, "to": NUMBERS[:6], "sms": "x"})["status"][0]["status"] == "0 OK"
    fleet.idle()
    answer = fleet.get("/goip_get_tasks.html", port="3", has_content="1")
    assert answer["code"] == 200 and answer["task_num"] == 1
    queued = answer["tasks"][0]
    assert (queued["tid"], queued["state"], queued["sms"]) == (5004, 0, "x")
    assert set(queued["from"].split(",")) <= {"3.01", "4.01"}
    assert fleet.get("/goip_get_tasks.html", port="1")["code"] == 2  # not a port of this fleet
    assert fleet.get("/goip_get_tasks.html")["code"] == 400
