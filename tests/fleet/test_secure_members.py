"""A member with ``secure = true``: the fleet reaches it through spec 3 sessions, never sending its password."""

from __future__ import annotations

import asyncio

from ejoin.testing import GatewayThread, PushCollector

from .conftest import FleetThread, member
from .test_sending import NUMBERS, final, send


def secure(g: GatewayThread, ports: str, name: str, password: str = "root") -> dict:
    return {**member(g, ports, name), "secure": True, "password": password}


def test_a_secure_member_serves_status_commands_sends_and_ussd(tmp_path, platform: PushCollector) -> None:
    with GatewayThread(tmp_path / "a", ports=2, slots=1) as a, GatewayThread(tmp_path / "b", ports=2, slots=1) as b:
        fleet = FleetThread(tmp_path / "fleet", [secure(a, "1-2", "a"), member(b, "3-4", "b")]).start()
        try:
            assert [(e["port"], e["st"]) for e in fleet.get("/goip_get_status.html")["status"]] == [
                ("1.01", 3),
                ("2.01", 3),
                ("3.01", 3),
                ("4.01", 3),
            ]
            assert a.gateway is not None and len(a.gateway.sessions) >= 1  # it was reached through a session
            assert b.gateway is not None and len(b.gateway.sessions) == 0
            assert fleet.get("/goip_send_cmd.html", op="lock", ports="2") == {"code": 0, "reason": "OK"}
            assert fleet.get("/goip_send_ussd.html", port="1", ussd="*100#")["code"] == 0
            # a POST with a body (the sub-tasks) goes through the session too
            task = {"tid": 8001, "to": NUMBERS[:4], "sms": "x", "from": "1", "sr_cnt": 1000}
            assert send(fleet, platform, task)["status"][0]["status"] == "0 OK"
            report = final(platform, 8001)
            assert (report["sent"], report["failed"]) == (4, 0)
        finally:
            fleet.stop()


def test_sessions_run_side_by_side_and_a_lost_one_is_reopened(tmp_path) -> None:
    with GatewayThread(tmp_path / "a", ports=2, slots=1) as a:
        fleet = FleetThread(tmp_path / "fleet", [secure(a, "1-2", "a")]).start()
        try:
            link = fleet.fleet.links["a"]
            answers = fleet.run(  # several requests in flight at once: a session each
                _gather(*(link.call("/goip_get_status.html") for _ in range(5)))
            )
            assert all(isinstance(x, dict) and x.get("type") == "dev-status" for x in answers)
            assert a.gateway is not None
            a.gateway.sessions.clear()  # the member restarted: it knows none of them
            assert fleet.get("/goip_get_status.html")["status"][0]["st"] == 3
        finally:
            fleet.stop()


async def _gather(*coros):
    return await asyncio.gather(*coros)


def test_a_secure_member_with_a_wrong_password_is_down(tmp_path) -> None:
    with GatewayThread(tmp_path / "a", ports=2, slots=1) as a:
        fleet = FleetThread(tmp_path / "fleet", [secure(a, "1-2", "a", password="wrong")]).start()
        try:
            assert [e["st"] for e in fleet.get("/goip_get_status.html")["status"]] == [16, 16]
            assert not fleet.fleet.links["a"].up
        finally:
            fleet.stop()
