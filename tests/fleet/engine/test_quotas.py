"""Per-SIM quotas: the fleet gives no SIM more than its share per rolling hour; the rest waits, then goes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from ejoin.testing import GatewayThread, PushCollector

from ..conftest import FleetThread, member
from .test_sending import NUMBERS, final, reports, send


@pytest.fixture
def fleet_db(both_stores: str) -> str:
    return both_stores  # every test here runs on the embedded SQLite store and on PostgreSQL


@pytest.fixture
def fleet(tmp_path, fleet_db) -> Iterator[FleetThread]:
    """Two members of two ports (one SIM each); the fleet gives each SIM 3 SMS per rolling hour."""
    with (
        GatewayThread(tmp_path / "a", ports=2, slots=1, seed=1) as a,
        GatewayThread(tmp_path / "b", ports=2, slots=1, seed=2) as b,
    ):
        fleet = FleetThread(
            tmp_path / "fleet",
            [member(a, "1-2", "a"), member(b, "3-4", "b")],
            virtual=True,
            sim_hour_quota=3,
            db=fleet_db,
        ).start()
        try:
            yield fleet
        finally:
            fleet.stop()


def test_no_sim_gets_more_than_its_hourly_quota(fleet: FleetThread, platform: PushCollector) -> None:
    task = {"tid": 4001, "to": NUMBERS[:20], "sms": "x", "sdr": 1, "sr_cnt": 12}
    assert send(fleet, platform, task)["status"][0]["status"] == "0 OK"
    first = platform.wait_for(lambda p: any(r["sent"] == 12 for r in p.get("rpts", [])))["rpts"][0]
    assert (first["sent"], first["unsent"]) == (12, 8)  # 4 SIMs x 3; the other 8 wait for quota
    assert Counter(r[2] for r in first["sdr"]) == {"1.01": 3, "2.01": 3, "3.01": 3, "4.01": 3}
    fleet.advance(1800)
    fleet.tick()
    fleet.idle()
    # half an hour on: still nothing more (periodic reports, sr_prd 60, say so)
    assert {(r["sent"], r["unsent"]) for r in reports(platform, 4001)} == {(12, 8)}
    fleet.advance(1801)  # the first twelve are more than an hour old
    fleet.tick()
    report = final(platform, 4001)
    assert (report["sent"], report["unsent"]) == (20, 0)
    rows = [r for rep in reports(platform, 4001) for r in rep["sdr"]]
    assert sorted(r[0] for r in rows) == list(range(20))
    second_hour = Counter(r[2] for r in rows[12:])
    assert sum(second_hour.values()) == 8 and max(second_hour.values()) <= 3


def test_ports_the_platform_names_itself_keep_their_sims_quotas_too(
    fleet: FleetThread, platform: PushCollector
) -> None:
    # fleet ports 2 (a's) and 3 (b's) each send to all five recipients: ten SMS, two SIMs
    task = {"tid": 4002, "to": NUMBERS[:5], "sms": "x", "from": "2,3", "to_all": 1, "sdr": 1, "sr_cnt": 6}
    assert send(fleet, platform, task)["status"][0]["status"] == "0 OK"
    first = platform.wait_for(lambda p: any(r["sent"] == 6 for r in p.get("rpts", [])))["rpts"][0]
    assert (first["sent"], first["unsent"]) == (6, 4)  # 3 per SIM; the rest wait for the window
    assert Counter(r[2] for r in first["sdr"]) == {"2.01": 3, "3.01": 3}
    # a task the fleet routes finds those SIMs spent: it goes through the other two ports only
    other = {"tid": 4003, "to": NUMBERS[10:16], "sms": "y", "sdr": 1, "sr_cnt": 100}
    assert send(fleet, platform, other)["status"][0]["status"] == "0 OK"
    routed = final(platform, 4003)
    assert Counter(r[2] for r in routed["sdr"]) == {"1.01": 3, "4.01": 3}
    fleet.advance(3601)  # the first six are more than an hour old
    fleet.tick()
    report = final(platform, 4002)
    assert (report["sent"], report["unsent"]) == (10, 0)
    rows = [r for rep in reports(platform, 4002) for r in rep["sdr"]]
    assert sorted((r[2], r[1]) for r in rows) == sorted((p, n) for p in ("2.01", "3.01") for n in NUMBERS[:5])
