"""What the fleet acknowledged survives a restart; reports keep their rules while members are away."""

from __future__ import annotations

from ejoin.testing import GatewayThread, PushCollector

from .conftest import FleetThread, free_port, member
from .test_sending import NUMBERS, final, reports, send


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
