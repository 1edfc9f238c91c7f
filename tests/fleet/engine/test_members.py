"""Members at run time: `ejoin fleet member add/remove/list`, kept in the ledger across restarts."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from ejoin.cli import main
from ejoin.testing import GatewayThread, PushCollector

from ..conftest import AUTH, FleetThread, free_port, member
from .test_sending import NUMBERS, final, reports, send

MEMBER = {"username": "root", "password": "root"}


def cli(fleet: FleetThread, *args: str) -> Any:
    result = CliRunner().invoke(
        main,
        ["fleet", "member", *args, "--url", fleet.url, "--username", "fleet", "--password", "secret", "--json"],
        catch_exceptions=False,
    )
    return result.exit_code, json.loads(result.output)


def ports_of(fleet: FleetThread) -> list[tuple[str, int]]:
    return [(e["port"], e["st"]) for e in fleet.get("/goip_get_status.html")["status"]]


@pytest.fixture
def fleet_db(both_stores: str) -> str:
    return both_stores  # every test here runs on the embedded SQLite store and on PostgreSQL


def test_a_member_added_at_run_time_serves_its_ports_and_survives_a_restart(tmp_path, fleet_db) -> None:
    with GatewayThread(tmp_path / "a", ports=2, slots=1) as a, GatewayThread(tmp_path / "b", ports=2, slots=1) as b:
        fleet = FleetThread(tmp_path / "fleet", [member(a, "1-2", "a")], db=fleet_db).start()
        try:
            code, added = cli(fleet, "add", "b", b.url, "--ports", "5-6")
            assert code == 0 and (added["name"], added["ports"], added["up"]) == ("b", "5-6", True)
            assert "password" not in added
            assert ports_of(fleet) == [("1.01", 3), ("2.01", 3), ("5.01", 3), ("6.01", 3)]
            code, listed = cli(fleet, "list")
            assert [(m["name"], m["ports"], m["up"], m["registered"]) for m in listed] == [
                ("a", "1-2", True, 2),
                ("b", "5-6", True, 2),
            ]
            # a command on a port of the new member reaches it in its own numbers
            assert fleet.get("/goip_send_cmd.html", op="lock", ports="6") == {"code": 0, "reason": "OK"}
            b_status = httpx.get(b.url + "/goip_get_status.html", params=MEMBER).json()["status"]
            assert [e["st"] for e in b_status] == [3, 12]
        finally:
            fleet.stop()
        # the file still lists only a: b comes back from the ledger
        again = FleetThread(tmp_path / "fleet", [member(a, "1-2", "a")], db=fleet_db).start()
        try:
            assert sorted(again.fleet.links) == ["a", "b"]
            assert [p for p, _ in ports_of(again)] == ["1.01", "2.01", "5.01", "6.01"]
        finally:
            again.stop()


def test_overlapping_ports_and_a_taken_name_are_refused_with_a_reason(fleet: FleetThread, two_members) -> None:
    a, _ = two_members
    code, answer = cli(fleet, "add", "c", a.url, "--ports", "7-10")
    assert code != 0 and answer["code"] == 400
    assert answer["reason"] == "ports 7-10 overlap member b (5-8): ports 7-8 would be both's"
    code, answer = cli(fleet, "add", "a", a.url, "--ports", "20-21")
    assert code != 0 and "a member named a exists already" in answer["reason"]
    code, answer = cli(fleet, "add", "bad/name", a.url, "--ports", "20-21")
    assert code != 0 and "letters, digits" in answer["reason"]
    code, answer = cli(fleet, "add", "c", "ftp://x", "--ports", "20-21")
    assert code != 0 and "http:// or https://" in answer["reason"]
    code, answer = cli(fleet, "remove", "nobody")
    assert code != 0 and answer["code"] == 404 and answer["reason"] == "no member named nobody"
    assert sorted(fleet.fleet.links) == ["a", "b"]


def test_the_admin_endpoints_need_the_fleets_credentials(fleet: FleetThread) -> None:
    bad = {"username": "fleet", "password": "wrong"}
    assert httpx.get(fleet.url + "/ejoin/fleet/members", params=bad).json() == {"code": 1, "reason": "Invalid User"}
    body = {"member": {"name": "c", "url": "http://127.0.0.1:9", "ports": "20-21"}}
    answer = httpx.post(fleet.url + "/ejoin/fleet/members/add", params=bad, json=body).json()
    assert answer["code"] == 1 and "c" not in fleet.fleet.links
    answer = httpx.post(fleet.url + "/ejoin/fleet/members/add", params=AUTH, content=b"[1").json()
    assert answer["code"] == 400


def test_a_member_removed_stays_removed_though_the_file_lists_it(tmp_path, fleet_db, two_members) -> None:
    a, b = two_members
    members = [member(a, "1-4", "a"), member(b, "5-8", "b")]
    fleet = FleetThread(tmp_path / "fleet", members, db=fleet_db).start()
    try:
        code, answer = cli(fleet, "remove", "b")
        assert (code, answer) == (0, {"name": "b", "withdrawn": 0})
        assert [p for p, _ in ports_of(fleet)] == [f"{p}.01" for p in range(1, 5)]
        # its ports are no longer the fleet's
        assert fleet.get("/goip_send_cmd.html", op="lock", ports="6")["code"] == 2
    finally:
        fleet.stop()
    again = FleetThread(tmp_path / "fleet", members, db=fleet_db).start()
    try:
        assert sorted(again.fleet.links) == ["a"]
        # and it may be added again, on other ports
        code, added = cli(again, "add", "b", b.url, "--ports", "9-12")
        assert code == 0 and added["ports"] == "9-12"
    finally:
        again.stop()


def test_removing_a_member_with_unsent_sms_is_refused_unless_forced(
    tmp_path, fleet_db, platform: PushCollector
) -> None:
    # a's clock never moves: what it is given waits in its queue
    with (
        GatewayThread(tmp_path / "a", clock="virtual", ports=4, slots=1) as a,
        GatewayThread(tmp_path / "b", ports=4, slots=1, seed=2) as b,
    ):
        a.advance(30)  # its SIMs register
        fleet = FleetThread(tmp_path / "fleet", [member(a, "1-4", "a"), member(b, "5-8", "b")], db=fleet_db).start()
        try:
            task = {"tid": 7001, "to": NUMBERS[:10], "sms": "x", "sdr": 1, "sr_cnt": 1000}
            assert send(fleet, platform, task)["status"][0]["status"] == "0 OK"
            fleet.idle()
            held = httpx.get(a.url + "/goip_get_tasks.html", params={**MEMBER, "port": 1}).json()
            assert held["total_num"] > 0
            code, answer = cli(fleet, "remove", "a")
            assert code != 0 and answer["code"] == 400
            assert answer["reason"].startswith("member a holds ") and "force" in answer["reason"]
            assert "a" in fleet.fleet.links
            code, answer = cli(fleet, "remove", "a", "--force")
            assert code == 0 and answer["withdrawn"] > 0
            report = final(platform, 7001)
            # what a held is removed on it: it sends none of it when its clock moves
            left = httpx.get(a.url + "/goip_get_tasks.html", params={**MEMBER, "port": 1}).json()
            assert left["total_num"] == 0
        finally:
            fleet.stop()
            a.advance(60)  # what its modules hold ends now: a gateway stopping waits for SMS in a module
    assert (report["sent"], report["failed"], report["unsent"]) == (10, 0, 0)
    rows = [r for rep in reports(platform, 7001) for r in rep["sdr"]]
    assert sorted(r[0] for r in rows) == list(range(10))  # each recipient once
    assert {int(r[2].split(".")[0]) for r in rows} <= {5, 6, 7, 8}


def test_sms_a_task_bound_to_a_removed_members_ports_fail_at_a_forced_removal(
    tmp_path, fleet_db, platform: PushCollector
) -> None:
    with GatewayThread(tmp_path / "b", ports=2, slots=1) as b:
        gone = {"name": "a", "url": f"http://127.0.0.1:{free_port()}", "ports": "1-2"}
        fleet = FleetThread(tmp_path / "fleet", [gone, member(b, "3-4", "b")], db=fleet_db).start()
        try:
            task = {"tid": 7002, "to": NUMBERS[:2], "sms": "x", "from": "1,3", "to_all": 1, "sdr": 1, "fdr": 1}
            assert send(fleet, platform, task)["status"][0]["status"] == "0 OK"
            fleet.idle()
            code, answer = cli(fleet, "remove", "a")
            assert code != 0 and answer["reason"].startswith("member a holds 2 unsent SMS")
            code, answer = cli(fleet, "remove", "a", "--force")
            assert code == 0
            report = final(platform, 7002)
        finally:
            fleet.stop()
    assert (report["sent"], report["failed"], report["unsent"]) == (2, 2, 0)
    rows = [r for rep in reports(platform, 7002) for r in rep["fdr"]]
    assert sorted((r[0], r[2], r[4], r[5]) for r in rows) == [
        (i, "1", "1 Send failed", "ports 1-2 left the fleet with member a") for i in range(2)
    ]


def test_the_member_list_for_a_person(fleet: FleetThread) -> None:
    result = CliRunner().invoke(
        main, ["fleet", "member", "list", "--url", fleet.url, "--username", "fleet", "--password", "secret"]
    )
    assert result.exit_code == 0
    lines = result.output.splitlines()  # in a pipe: a title, a header, tab-separated rows
    assert lines[:2] == ["# 2 members", "name\tfleet ports\turl\tstate\tregistered\tsecure\tsent twice"]
    assert [line.split("\t")[:2] + line.split("\t")[3:] for line in lines[2:]] == [
        ["a", "1-4", "up", "4", "no", "0"],
        ["b", "5-8", "up", "4", "no", "0"],
    ]
    refused = CliRunner().invoke(main, ["fleet", "member", "list", "--url", fleet.url, "--password", "wrong"])
    assert refused.exit_code == 1 and "wrong username or password" in refused.output
    both = CliRunner().invoke(main, ["fleet", "--port", "1", "member", "list"])
    assert both.exit_code == 2 and "without a subcommand" in both.output


def test_a_file_member_overlapping_one_added_at_run_time_is_not_used(tmp_path, fleet_db, two_members, caplog) -> None:
    a, b = two_members
    fleet = FleetThread(tmp_path / "fleet", [member(a, "1-4", "a")], db=fleet_db).start()
    try:
        assert cli(fleet, "add", "b", b.url, "--ports", "5-8")[0] == 0
    finally:
        fleet.stop()
    # the file is edited meanwhile: a new member on ports b holds
    again = FleetThread(tmp_path / "fleet", [member(a, "1-4", "a"), member(b, "6-9", "c")], db=fleet_db).start()
    try:
        assert sorted(again.fleet.links) == ["a", "b"]
        assert [p for p, _ in ports_of(again)] == [f"{p}.01" for p in range(1, 9)]
    finally:
        again.stop()
    assert "member c is not used: ports 6-9 overlap member b (5-8)" in caplog.text
