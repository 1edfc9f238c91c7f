"""A member with ``secure = true``: the fleet reaches it through spec 3 sessions, never sending its password."""

from __future__ import annotations

import asyncio
import json

import pytest
from click.testing import CliRunner

from ejoin.cli import main
from ejoin.protocol import crypt
from ejoin.testing import GatewayThread, PushCollector

from ..conftest import FleetThread, member
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


@pytest.fixture
def fleet_db(both_stores: str) -> str:
    return both_stores


def test_a_member_with_crypt_gets_its_post_bodies_encrypted(
    tmp_path, platform: PushCollector, fleet_db, monkeypatch
) -> None:
    decrypted: list[bytes] = []
    real = crypt.decrypt

    def seen(key: bytes, body: bytes) -> bytes:  # the member's endpoint decrypting what arrived
        plain = real(key, body)
        decrypted.append(plain)
        return plain

    monkeypatch.setattr(crypt, "decrypt", seen)
    with GatewayThread(tmp_path / "a", ports=2, slots=1) as a:
        settings = {**member(a, "1-2", "a"), "crypt": "aes-ecb"}  # secure left out: crypt implies it
        fleet = FleetThread(tmp_path / "fleet", [settings], db=fleet_db).start()
        try:
            assert [e["st"] for e in fleet.get("/goip_get_status.html")["status"]] == [3, 3]
            task = {"tid": 8101, "to": NUMBERS[:3], "sms": "x", "sr_cnt": 1000}
            assert send(fleet, platform, task)["status"][0]["status"] == "0 OK"
            assert (final(platform, 8101)["sent"]) == 3
            assert a.gateway is not None
            sessions = list(a.gateway.sessions._sessions.values())
            assert sessions and {s.crypt for s in sessions} == {"aes-ecb"}
            # the sub-task reached the member as ciphertext: the member decrypted it into the task
            posted = [json.loads(p) for p in decrypted if b'"send-sms"' in p]
            assert [(t["tid"] % 100000, t["to"]) for p in posted for t in p["tasks"]] == [(1, NUMBERS[:3])]
            link = fleet.fleet.links["a"]
            assert link.config.crypt == "aes-ecb" and link.config.secure
        finally:
            fleet.stop()
        # kept in the ledger with the member: the same after a restart
        again = FleetThread(tmp_path / "fleet", [], db=fleet_db).start()
        try:
            assert again.fleet.links["a"].config.crypt == "aes-ecb"
        finally:
            again.stop()


def test_crypt_is_aes_ecb_or_nothing(tmp_path, fleet_db) -> None:
    with GatewayThread(tmp_path / "a", ports=2, slots=1) as a:
        fleet = FleetThread(tmp_path / "fleet", [], db=fleet_db).start()
        try:
            refused = fleet.post("/ejoin/fleet/members/add", {"member": {**member(a, "1-2", "a"), "crypt": "des"}})
            assert refused["code"] == 400
            assert refused["reason"] == "member a: crypt is \"aes-ecb\" (POST bodies encrypted) or absent, not 'des'"
            refused = fleet.post(
                "/ejoin/fleet/members/add",
                {"member": {**member(a, "1-2", "a"), "crypt": "aes-ecb", "secure": False}},
            )
            assert "crypt 'aes-ecb' needs a secure session" in refused["reason"]
            result = CliRunner().invoke(
                main,
                ["fleet", "member", "add", "a", a.url, "--ports", "1-2", "--member-crypt", "AES-ECB"]
                + ["--url", fleet.url, "--username", "fleet", "--password", "secret", "--json"],
            )
            assert result.exit_code == 0, result.output
            added = json.loads(result.output)
            assert (added["secure"], added["crypt"], added["up"]) == (True, "aes-ecb", True)
            assert fleet.get("/ejoin/fleet/members")["members"][0]["crypt"] == "aes-ecb"
        finally:
            fleet.stop()
