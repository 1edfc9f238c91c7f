"""A member down longer than ``failover_after``: its unsent recipients finish on other members, counts exact."""

from __future__ import annotations

import httpx
import pytest

from ejoin.testing import GatewayThread, PushCollector

from ..conftest import Balancer, FleetThread, free_port, member, until
from .test_sending import NUMBERS, final, reports, send


@pytest.fixture
def fleet_db(both_stores: str) -> str:
    return both_stores  # every test here runs on the embedded SQLite store and on PostgreSQL


def test_a_member_killed_mid_task_has_its_unsent_recipients_finish_elsewhere(
    tmp_path, platform: PushCollector, fleet_db
) -> None:
    port = free_port()
    # member a's clock never moves: what it is given waits in its queue, as on a slow box that then dies
    a = GatewayThread(tmp_path / "a", clock="virtual", ports=4, slots=1, port=port).start()
    a.advance(30)  # its SIMs register; no SMS will leave it before its clock moves again
    with GatewayThread(tmp_path / "b", ports=4, slots=1, seed=2) as b:
        fleet = FleetThread(
            tmp_path / "fleet",
            [member(a, "1-4", "a"), member(b, "5-8", "b")],
            virtual=True,
            failover_after=60,
            db=fleet_db,
        ).start()
        try:
            task = {"tid": 6001, "to": NUMBERS[:10], "sms": "x", "sdr": 1, "sr_cnt": 1000}
            assert send(fleet, platform, task)["status"][0]["status"] == "0 OK"
            fleet.idle()
            on_a = httpx.get(a.url + "/goip_get_tasks.html", params={"username": "root", "password": "root", "port": 1})
            assert on_a.json()["total_num"] > 0  # a holds its share, unsent
            a.stop()  # killed
            fleet.tick()
            assert not fleet.fleet.links["a"].up
            fleet.advance(59)
            fleet.tick()
            assert reports(platform, 6001) == []  # not yet: down for less than failover_after
            fleet.advance(1)
            fleet.tick()
            report = final(platform, 6001)
            fleet.idle()

            # a comes back with its queue (its store kept it): the fleet removes what it withdrew
            a = GatewayThread(tmp_path / "a", clock="virtual", ports=4, slots=1, port=port).start()
            held = httpx.get(a.url + "/goip_get_tasks.html", params={"username": "root", "password": "root", "port": 1})
            assert held.json()["total_num"] > 0
            fleet.tick()
            left = httpx.get(a.url + "/goip_get_tasks.html", params={"username": "root", "password": "root", "port": 1})
            assert left.json()["total_num"] == 0
        finally:
            fleet.stop()
            a.stop()
    assert (report["sent"], report["failed"], report["sending"], report["unsent"]) == (10, 0, 0, 0)
    rows = [r for rep in reports(platform, 6001) for r in rep["sdr"]]
    assert sorted(r[0] for r in rows) == list(range(10))  # each recipient once
    assert {int(r[2].split(".")[0]) for r in rows} <= {5, 6, 7, 8}  # a sent nothing: all went out on b
    assert len(rows) == 10


MEMBER = {"username": "root", "password": "root"}


def _sent_by(g: GatewayThread) -> int:
    """What the member's network sent, by its own statistics."""
    return sum(r["sent_ok"] for r in httpx.get(g.url + "/goip_get_sms_stat.html", params=MEMBER).json()["stats"])


def test_a_member_cut_off_that_sends_what_was_withdrawn_is_counted_as_sent_twice(
    tmp_path, platform: PushCollector, fleet_db
) -> None:
    """The fleet loses a member (its link cut) that still holds its share: after the failover the share
    goes out through b; the member, alive all along, then sends it too.  Its late reports cannot undo
    that, but each such SMS is counted once (log, the member list) and the platform's counts stay exact."""
    with (
        GatewayThread(tmp_path / "a", clock="virtual", ports=4, slots=1) as a,
        GatewayThread(tmp_path / "b", ports=4, slots=1, seed=2) as b,
    ):
        a.advance(30)  # SIMs registered; nothing leaves a before its clock moves again
        link = Balancer([a.url]).start()  # the fleet's way to a
        fleet = FleetThread(
            tmp_path / "fleet",
            [member(link.url, "1-4", "a"), member(b, "5-8", "b")],
            virtual=True,
            failover_after=60,
            db=fleet_db,
        ).start()
        try:
            task = {"tid": 6101, "to": NUMBERS[:10], "sms": "x", "sdr": 1, "sr_cnt": 1000}
            assert send(fleet, platform, task)["status"][0]["status"] == "0 OK"
            fleet.idle()
            link.backends.clear()  # cut off: a answers nobody, but keeps its queue
            fleet.tick()
            fleet.advance(60)
            fleet.tick()  # failover: a's share goes to b
            report = final(platform, 6101)
            on_b = _sent_by(b)
            a.advance(120)  # a sends its share after all, and reports it
            twice = until(lambda: fleet.get("/ejoin/fleet/members")["members"][0]["sent_twice"])
            assert twice == _sent_by(a) > 0
            link.backends.append(a.url)
            fleet.tick()  # a answers again: nothing more of the task goes anywhere
            fleet.idle()
        finally:
            fleet.stop()
            link.stop()
    assert (report["sent"], report["failed"], report["unsent"]) == (10, 0, 0)
    rows = [r for rep in reports(platform, 6101) for r in rep["sdr"]]
    assert sorted(r[0] for r in rows) == list(range(10))  # the platform saw each recipient once
    assert on_b == 10


def test_what_a_member_sent_after_its_failover_is_not_sent_again_when_nobody_else_took_it(
    tmp_path, platform: PushCollector, fleet_db
) -> None:
    """The failover withdraws a's units, but no other member can take them: when a's late reports say
    it sent them, they are done (its outcome), and are not given to it again when it answers."""
    with GatewayThread(tmp_path / "a", clock="virtual", ports=2, slots=1) as a:
        a.advance(30)
        link = Balancer([a.url]).start()
        fleet = FleetThread(
            tmp_path / "fleet", [member(link.url, "1-2", "a")], virtual=True, failover_after=60, db=fleet_db
        ).start()
        try:
            task = {"tid": 6102, "to": NUMBERS[:6], "sms": "x", "sdr": 1, "sr_cnt": 1000}
            assert send(fleet, platform, task)["status"][0]["status"] == "0 OK"
            fleet.idle()
            link.backends.clear()
            fleet.tick()
            fleet.advance(60)
            fleet.tick()  # withdrawn: pending, with no member to go to
            a.advance(120)  # a sends them after all and reports them
            report = final(platform, 6102)
            link.backends.append(a.url)
            fleet.tick()
            fleet.idle()
            a.advance(120)
            sent = _sent_by(a)
            members = fleet.get("/ejoin/fleet/members")["members"]
        finally:
            fleet.stop()
            link.stop()
    assert (report["sent"], report["failed"], report["unsent"]) == (6, 0, 0)
    assert sent == 6  # each recipient once, by a's own count
    assert members[0]["sent_twice"] == 0


def test_a_member_back_from_a_failover_is_given_nothing_until_its_late_reports_are_in(
    tmp_path, platform: PushCollector, fleet_db
) -> None:
    """Cut off from the fleet both ways, a sends its queue (what the failover withdrew, with nowhere else
    to go) and cannot report it.  When it answers again the fleet gives it nothing for one status poll:
    its reports, pushed again meanwhile, settle those units, and they are not sent a second time."""
    with GatewayThread(tmp_path / "a", clock="virtual", ports=2, slots=1) as a:
        a.advance(30)
        link = Balancer([a.url]).start()
        front = Balancer([], port=free_port()).start()  # the fleet's address for a's pushes
        fleet = FleetThread(
            tmp_path / "fleet",
            [member(link.url, "1-2", "a")],
            virtual=True,
            failover_after=60,
            public_url=front.url,
            db=fleet_db,
        ).start()
        front.backends.append(fleet.url)
        try:
            task = {"tid": 6103, "to": NUMBERS[:6], "sms": "x", "sdr": 1, "sr_cnt": 1000}
            assert send(fleet, platform, task)["status"][0]["status"] == "0 OK"
            fleet.idle()
            link.backends.clear()
            front.backends.clear()
            fleet.tick()
            fleet.advance(60)
            fleet.tick()  # failover: withdrawn, with no member to go to
            a.advance(120)  # a sends its queue; its report pushes are refused
            assert _sent_by(a) == 6
            link.backends.append(a.url)
            front.backends.append(fleet.url)
            fleet.tick()  # a answers: what was withdrawn is removed on it (finished), nothing given to it
            fleet.idle()
            assert a.gateway is not None and a.gateway.sending.task_count() == 0
            a.advance(600)  # its outbox pushes the reports again
            report = final(platform, 6103)
            fleet.advance(10)
            fleet.tick()
            fleet.idle()
            a.advance(120)
            sent = _sent_by(a)
        finally:
            fleet.stop()
            link.stop()
            front.stop()
    assert (report["sent"], report["failed"], report["unsent"]) == (6, 0, 0)
    assert sent == 6
