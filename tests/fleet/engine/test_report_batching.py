"""Several tasks' status reports in one push, as a device batches them: a cache per (sr_url,
request-level sr_cnt, request-level sr_prd), pushed when it holds sr_cnt reports or sr_prd seconds
after its first one; its units marked reported only once the push is in the outbox."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from ejoin.testing import GatewayThread, PushCollector

from ..conftest import FleetThread, ledger_of, member, until
from .test_replica_features import Pair
from .test_sending import NUMBERS

DAY = 86_400


@pytest.fixture
def fleet_db(both_stores: str) -> str:
    return both_stores  # every test here runs on the embedded SQLite store and on PostgreSQL


def start(tmp_path: Path, members: tuple[GatewayThread, GatewayThread], db: str) -> FleetThread:
    """The fleet's timers on a virtual clock (the members send in real time): no cache is pushed by
    its period unless the test advances it."""
    a, b = members
    return FleetThread(
        tmp_path / "fleet", [member(a, "1-4", "a"), member(b, "5-8", "b")], db=db, virtual=True, status_poll=DAY
    ).start()


def tasks(first: int, n: int) -> list[dict[str, Any]]:
    # task sr_cnt above its size: each task reports once, at its end
    return [{"tid": first + i, "to": NUMBERS[2 * i : 2 * i + 2], "sms": "x", "sr_cnt": 100} for i in range(n)]


def status_reports(platform: PushCollector) -> list[dict[str, Any]]:
    return platform.of_type("status-report")


def test_reports_wait_for_the_request_level_period_and_go_in_one_push(
    tmp_path: Path, two_members: tuple[GatewayThread, GatewayThread], fleet_db: str, platform: PushCollector
) -> None:
    fleet = start(tmp_path, two_members, fleet_db)
    try:
        # a device's defaults: request-level sr_cnt 100, sr_prd 30
        body = {"type": "send-sms", "sr_url": platform.url, "tasks": tasks(10, 2)}
        assert {s["status"] for s in fleet.post("/goip_post_sms.html", body)["status"]} == {"0 OK"}
        until(lambda: fleet.fleet.reports.waiting == 2)  # both tasks done, their last reports cached

        async def unreported() -> int:  # units done and not marked reported, of both tasks (ids 1, 2)
            return len(await fleet.fleet.ledger.unreported(1)) + len(await fleet.fleet.ledger.unreported(2))

        assert fleet.run(unreported()) == 4  # not marked reported while they wait
        assert len(fleet.run(fleet.fleet.ledger.open_tasks())) == 2
        fleet.advance(29)
        fleet.idle()
        assert fleet.fleet.reports.waiting == 2
        fleet.advance(1)
        push = platform.wait_for(lambda p: p["type"] == "status-report")
        assert push["rpt_num"] == 2 and sorted(r["tid"] for r in push["rpts"]) == [10, 11]
        assert all((r["sent"], r["unsent"], r["sending"]) == (2, 0, 0) for r in push["rpts"])
        # the last reports finish their tasks once the outbox holds them
        until(lambda: fleet.run(fleet.fleet.ledger.open_tasks()) == [])
        assert len(status_reports(platform)) == 1
    finally:
        fleet.stop()


def test_a_push_when_the_cache_holds_the_request_level_count(
    tmp_path: Path, two_members: tuple[GatewayThread, GatewayThread], fleet_db: str, platform: PushCollector
) -> None:
    fleet = start(tmp_path, two_members, fleet_db)
    try:
        body = {"type": "send-sms", "sr_url": platform.url, "sr_cnt": 2, "sr_prd": 40, "tasks": tasks(20, 3)}
        assert {s["status"] for s in fleet.post("/goip_post_sms.html", body)["status"]} == {"0 OK"}
        first = platform.wait_for(lambda p: p["type"] == "status-report")
        assert first["rpt_num"] == 2
        until(lambda: fleet.fleet.reports.waiting == 1)  # the third, alone, waits for the period
        fleet.advance(40)
        platform.wait_for(lambda p: len(status_reports(platform)) == 2)
        second = status_reports(platform)[1]
        assert second["rpt_num"] == 1
        assert sorted(r["tid"] for p in status_reports(platform) for r in p["rpts"]) == [20, 21, 22]
    finally:
        fleet.stop()


def test_reports_lost_from_the_cache_are_made_again_at_the_next_start(
    tmp_path: Path, two_members: tuple[GatewayThread, GatewayThread], fleet_db: str, platform: PushCollector
) -> None:
    fleet = start(tmp_path, two_members, fleet_db)
    try:
        body = {"type": "send-sms", "sr_url": platform.url, "tasks": tasks(30, 2)}
        assert {s["status"] for s in fleet.post("/goip_post_sms.html", body)["status"]} == {"0 OK"}
        until(lambda: fleet.fleet.reports.waiting == 2)

        async def lost() -> None:  # what a kill -9 does to the cache: memory only
            fleet.fleet.reports._caches.clear()

        fleet.run(lost())
    finally:
        fleet.stop()
    assert status_reports(platform) == []
    again = start(tmp_path, two_members, fleet_db)
    try:
        until(lambda: again.fleet.reports.waiting == 2)  # reported again at start, under the same rules
        again.advance(30)
        push = platform.wait_for(lambda p: p["type"] == "status-report")
        assert sorted((r["tid"], r["sent"]) for r in push["rpts"]) == [(30, 2), (31, 2)]
        assert all(r.get("fdr", []) == [] for r in push["rpts"])  # fdr on by default: no failures
    finally:
        again.stop()

    async def open_tasks() -> int:
        ledger = ledger_of(tmp_path / "fleet", fleet_db)
        await ledger.open()
        try:
            return len(await ledger.open_tasks())
        finally:
            await ledger.close()

    assert asyncio.run(open_tasks()) == 0  # finished: reported to the end


def test_with_replicas_a_tasks_owner_batches_its_reports_whichever_replica_hears_the_members(
    tmp_path: Path, two_members: tuple[GatewayThread, GatewayThread], pg_url: str, platform: PushCollector
) -> None:
    a, b = two_members
    pair = Pair(tmp_path, pg_url, [member(a, "1-4", "a"), member(b, "5-8", "b")], status_poll=DAY)
    try:
        r1, r2 = pair.replicas
        # members' reports go through the balancer: half of them land on r2, which tells r1 (NOTIFY)
        body = {"type": "send-sms", "sr_url": platform.url, "sr_cnt": 3, "sr_prd": 40, "tasks": tasks(40, 3)}
        assert {s["status"] for s in r1.post("/goip_post_sms.html", body)["status"]} == {"0 OK"}
        push = platform.wait_for(lambda p: p["type"] == "status-report")
        assert push["rpt_num"] == 3 and sorted(r["tid"] for r in push["rpts"]) == [40, 41, 42]
        assert all((r["sent"], r["unsent"]) == (2, 0) for r in push["rpts"])
        assert r2.fleet.reports.waiting == 0 and len(status_reports(platform)) == 1
    finally:
        pair.stop()
