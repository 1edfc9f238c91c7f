"""What the fleet acknowledged survives a restart; reports keep their rules while members are away."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from ejoin.fleet.ledger import Unit
from ejoin.testing import GatewayThread, PushCollector

from ..conftest import Balancer, FleetThread, free_port, ledger_of, member
from .test_sending import NUMBERS, final, reports, send

MEMBER = {"username": "root", "password": "root"}


def test_a_task_accepted_while_no_member_answers_is_sent_after_a_restart(tmp_path, platform: PushCollector) -> None:
    port = free_port()
    away = member(f"http://127.0.0.1:{port}", "1-4", "a")
    first = FleetThread(tmp_path / "fleet", [away]).start()
    try:
        task = {"tid": 7001, "to": NUMBERS[:10], "sms": "later", "sdr": 1, "sr_cnt": 100}
        assert send(first, platform, task)["status"][0]["status"] == "0 OK"
        first.idle()
        # same tid again while the first is open: refused as a device does
        assert send(first, platform, task)["status"][0]["status"] == "13 Duplicated TaskId"
    finally:
        first.stop()
    assert platform.of_type("status-report") == []
    with GatewayThread(tmp_path / "a", ports=4, slots=2, port=port):
        second = FleetThread(tmp_path / "fleet", [away]).start()
        try:
            report = final(platform, 7001)
            second.idle()
        finally:
            second.stop()
    assert (report["sent"], report["failed"], report["unsent"]) == (10, 0, 0)
    rows = [r for rep in reports(platform, 7001) for r in rep["sdr"]]
    assert sorted(r[0] for r in rows) == list(range(10))  # each once


def test_periodic_reports_say_what_waits_while_members_are_down(tmp_path, platform: PushCollector) -> None:
    away = member(f"http://127.0.0.1:{free_port()}", "1-4", "a")
    fleet = FleetThread(tmp_path / "fleet", [away], virtual=True).start()
    try:
        task = {"tid": 7002, "to": NUMBERS[:3], "sms": "x", "sr_prd": 60}
        assert send(fleet, platform, task)["status"][0]["status"] == "0 OK"
        fleet.idle()
        fleet.advance(59)
        assert reports(platform, 7002) == []
        fleet.advance(1)
        first = platform.wait_for(lambda p: p.get("type") == "status-report")
        fleet.advance(60)
        platform.wait_for(lambda p: p is not first and p.get("type") == "status-report")
    finally:
        fleet.stop()
    seen = reports(platform, 7002)
    assert [(r["sent"], r["failed"], r["sending"], r["unsent"]) for r in seen] == [(0, 0, 0, 3)] * 2


@pytest.mark.parametrize("arrived", [False, True], ids=["post-lost", "answer-lost"])
def test_a_dispatch_recorded_and_never_answered_is_posted_again_under_its_tid(
    tmp_path, platform: PushCollector, both_stores: str, arrived: bool
) -> None:
    """A crash between recording a dispatch and the member's answer: the post may or may not have
    arrived.  At the next start (or on the replica taking over) it is posted again with the same
    member tid: a member holding it answers 13 and sends it once; one that never got it takes it."""
    recipients = NUMBERS[:6]
    with GatewayThread(tmp_path / "a", clock="virtual", ports=2, slots=1) as a:
        a.advance(30)  # SIMs registered; nothing leaves before its clock moves again
        front = Balancer([], port=free_port()).start()  # the fleet's address, known before it runs
        secret, tid = asyncio.run(_crashed_after_recording(tmp_path, both_stores, platform.url, recipients))
        if arrived:
            sub = {"tid": tid, "to": recipients, "sms": "later", "from": "1", "sdr": 1, "fdr": 1, "sr_cnt": 100}
            body = {"type": "send-sms", "sr_url": f"{front.url}/fleet/reports/a/{secret}", "sr_cnt": 1, "tasks": [sub]}
            answer = httpx.post(a.url + "/goip_post_sms.html", params=MEMBER, json=body).json()
            assert answer["status"][0]["status"] == "0 OK"
        fleet = FleetThread(tmp_path / "fleet", [member(a, "1-2", "a")], db=both_stores, public_url=front.url)
        fleet.start()
        front.backends.append(fleet.url)
        try:
            fleet.idle()
            queued = httpx.get(a.url + "/goip_get_tasks.html", params={**MEMBER, "port": 1}).json()
            assert [t["tid"] for t in queued["tasks"]] == [tid]  # held once, whichever post it came from
            a.advance(120)
            report = final(platform, 7101)
            sent = httpx.get(a.url + "/goip_get_sms_stat.html", params=MEMBER).json()["stats"]
        finally:
            fleet.stop()
            front.stop()
    assert (report["sent"], report["failed"], report["unsent"]) == (6, 0, 0)
    assert sum(r["sent_ok"] for r in sent) == 6  # what the network sent: each recipient once


async def _crashed_after_recording(tmp_path, db: str, sr_url: str, recipients: list[str]) -> tuple[str, int]:
    """The store as a fleet leaves it when killed after recording a dispatch: (its secret, the member tid)."""
    ledger = ledger_of(tmp_path / "fleet", db)
    await ledger.open()
    try:
        rules = {"sr_url": sr_url, "sr_cnt": 100, "sr_prd": 0, "sdr": True, "fdr": True}
        task = {"tid": 7101, "to": recipients, "sms": "later", "fleet_lanes": [[]]}
        units = [Unit(i, n, None) for i, n in enumerate(recipients)]
        (task_id,) = await ledger.add_tasks([(7101, task, rules, units)])
        assert task_id is not None
        _, tid = await ledger.record_dispatch(task_id, "a", [(u, "1.01", u.idx) for u in units])
        await ledger.release()  # (PostgreSQL) as if its lease had expired
        return await ledger.secret(), tid
    finally:
        await ledger.close()


def test_a_dispatch_the_member_finished_but_never_reported_is_not_posted_again(
    tmp_path, platform: PushCollector, both_stores: str
) -> None:
    """The hole of a re-post: the member got the sub-task and finished it, and its reports could not
    reach the fleet (its report URL refusing) before the fleet went down.  At the restart the fleet
    asks the member first (goip_get_tasks, closed=1): it had it, so nothing is posted again, and its
    reports, which it keeps pushing, arrive once the fleet answers."""
    recipients = NUMBERS[:6]
    with GatewayThread(tmp_path / "a", clock="virtual", ports=2, slots=1) as a:
        a.advance(30)
        front = Balancer([], port=free_port()).start()  # no replica behind it yet: 502 to every push
        secret, tid = asyncio.run(_crashed_after_recording(tmp_path, both_stores, platform.url, recipients))
        sub = {"tid": tid, "to": recipients, "sms": "later", "from": "1", "sdr": 1, "fdr": 1, "sr_cnt": 100}
        body = {"type": "send-sms", "sr_url": f"{front.url}/fleet/reports/a/{secret}", "sr_cnt": 1, "tasks": [sub]}
        answer = httpx.post(a.url + "/goip_post_sms.html", params=MEMBER, json=body).json()
        assert answer["status"][0]["status"] == "0 OK"
        a.advance(120)  # all sent; every report push refused meanwhile
        stats = httpx.get(a.url + "/goip_get_sms_stat.html", params=MEMBER).json()["stats"]
        assert sum(r["sent_ok"] for r in stats) == 6
        assert a.gateway is not None and a.gateway.sending.task_count() == 0  # finished: its tid is free
        fleet = FleetThread(tmp_path / "fleet", [member(a, "1-2", "a")], db=both_stores, public_url=front.url)
        fleet.start()
        front.backends.append(fleet.url)
        try:
            fleet.idle()
            assert a.gateway.sending.task_count() == 0  # not posted again
            a.advance(600)  # the member's outbox tries again (back-off up to 300 s): the reports arrive
            report = final(platform, 7101)
            stats = httpx.get(a.url + "/goip_get_sms_stat.html", params=MEMBER).json()["stats"]
        finally:
            fleet.stop()
            front.stop()
    assert (report["sent"], report["failed"], report["unsent"]) == (6, 0, 0)
    assert sum(r["sent_ok"] for r in stats) == 6  # each recipient once, by the member's own count
    rows = [r for rep in reports(platform, 7101) for r in rep["sdr"]]
    assert sorted(r[1] for r in rows) == sorted(recipients)


def test_a_dispatch_left_unanswered_while_its_member_is_away_is_reconciled_when_it_answers(
    tmp_path, platform: PushCollector, both_stores: str
) -> None:
    """The member does not answer at the restart (nor for less than failover_after): the dispatch waits,
    and the first poll that finds the member answering asks it and posts the sub-task it never got."""
    recipients = NUMBERS[:4]
    port = free_port()
    _, tid = asyncio.run(_crashed_after_recording(tmp_path, both_stores, platform.url, recipients))
    fleet = FleetThread(
        tmp_path / "fleet", [member(f"http://127.0.0.1:{port}", "1-2", "a")], virtual=True, db=both_stores
    ).start()
    try:
        fleet.idle()
        assert fleet.fleet.dispatcher.unreconciled == {1}  # asked, no answer: asked again at the next poll
        with GatewayThread(tmp_path / "a", clock="virtual", ports=2, slots=1, port=port) as a:
            a.advance(30)
            fleet.tick()
            fleet.idle()
            queued = httpx.get(a.url + "/goip_get_tasks.html", params={**MEMBER, "port": 1}).json()
            assert [t["tid"] for t in queued["tasks"]] == [tid]
            assert fleet.fleet.dispatcher.unreconciled == set()
            a.advance(120)
            report = final(platform, 7101)
            sent = httpx.get(a.url + "/goip_get_sms_stat.html", params=MEMBER).json()["stats"]
    finally:
        fleet.stop()
    assert (report["sent"], report["failed"], report["unsent"]) == (4, 0, 0)
    assert sum(r["sent_ok"] for r in sent) == 4
