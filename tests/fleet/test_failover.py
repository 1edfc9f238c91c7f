"""A member down longer than ``failover_after``: its unsent recipients finish on other members, counts exact."""

from __future__ import annotations

import httpx
import pytest

from ejoin.testing import GatewayThread, PushCollector

from .conftest import FleetThread, free_port, member
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
