"""Received SMS pushed: members push theirs to the fleet; the fleet pushes each SMS once to the platform."""

from __future__ import annotations

import base64

import httpx
import pytest

from ejoin.testing import PushCollector

from ..api.test_inbox import MEMBER, receive
from ..conftest import FleetThread


def recv_rows(platform: PushCollector) -> list[list]:
    return [row for p in platform.of_type("recv-sms") for row in p["sms"]]


def text(row: list) -> str:
    return base64.b64decode(row[5]).decode()


@pytest.fixture
def fleet_db(both_stores: str) -> str:
    return both_stores  # every test here runs on the embedded SQLite store and on PostgreSQL


def test_a_members_sms_is_pushed_to_the_platform_once_in_fleet_numbers(
    fleet: FleetThread, two_members, platform: PushCollector
) -> None:
    _, b = two_members
    assert fleet.get("/goip_send_cmd.html", op="set", sms_url=platform.url) == {"code": 0, "reason": "OK", "par_set": 1}
    assert fleet.get("/goip_send_cmd.html", op="get", sms_url="")["data"] == {"sms_url": platform.url}
    fleet.tick()  # members subscribed (status and SMS)
    receive(b, "3", "13911110009", "pushed")
    push = platform.wait_for(lambda p: p["type"] == "recv-sms")
    assert push["sms_num"] == 1
    [row] = push["sms"]
    assert (row[1], row[3], text(row)) == ("7.01", "13911110009", "pushed")  # b's port 3 is fleet port 7
    # the inbox has it under a fleet id; the pull that follows finds it is the same SMS
    inbox = fleet.get("/goip_get_sms.html")
    assert [(r[1], text(r)) for r in inbox["data"]] == [("7.01", "pushed")]
    assert fleet.get("/goip_get_sms.html")["sms_num"] == 1
    assert len(recv_rows(platform)) == 1


def test_an_sms_the_pull_took_first_is_not_taken_again_from_the_members_push(
    fleet: FleetThread, two_members, platform: PushCollector
) -> None:
    a, _ = two_members
    # the platform gives its receive URL in a send request, as to a device
    body = {"type": "send-sms", "sms_url": platform.url, "tasks": [{"tid": 1, "to": ["13800000001"], "sms": "x"}]}
    assert fleet.post("/goip_post_sms.html", body)["status"][0]["status"] == "0 OK"
    receive(a, "1", "13911110010", "pulled")  # a is not subscribed yet: nothing pushed
    pulled = fleet.get("/goip_get_sms.html")
    assert [text(r) for r in pulled["data"]] == ["pulled"]
    platform.wait_for(lambda p: p["type"] == "recv-sms")  # what the pull took is pushed too, as a device pushes
    # now the member's own push of that SMS arrives (late): the same row, known already
    fleet.tick()
    url = httpx.get(a.url + "/goip_send_cmd.html", params={**MEMBER, "op": "get", "sms_url": ""}).json()["data"]
    assert url["sms_url"].startswith(fleet.url + "/fleet/sms/a/")
    row = list(pulled["data"][0])
    row[1] = "1.01"  # in the member's numbers, as it pushes
    late = httpx.post(url["sms_url"], json={"type": "recv-sms", "sms_num": 1, "sms": [row]})
    assert late.json()["code"] == 0
    assert fleet.get("/goip_get_sms.html")["sms_num"] == 1
    assert len(recv_rows(platform)) == 1
    # a second SMS with the very same content is another SMS: taken
    receive(a, "1", "13911110010", "pulled")
    platform.wait_for(lambda p: len(recv_rows(platform)) == 2)
    assert fleet.get("/goip_get_sms.html")["sms_num"] == 2


def test_unknown_parameters_and_bad_urls_are_refused(fleet: FleetThread) -> None:
    bad = fleet.get("/goip_send_cmd.html", op="set", sms_url="ftp://x")
    assert bad["code"] == 400 and "http://" in bad["reason"]
    assert fleet.get("/goip_send_cmd.html", op="set", sr_url="http://x")["code"] == 400
    wrong = httpx.post(fleet.url + "/fleet/sms/a/nope", json={"type": "recv-sms", "sms": []})
    assert wrong.status_code == 403


def test_an_sms_taken_in_but_never_handed_to_the_outbox_is_pushed_at_the_next_start(
    tmp_path, fleet_db, two_members, platform: PushCollector
) -> None:
    import asyncio

    from ..conftest import ledger_of, member, unforwarded

    a, b = two_members
    members = [member(a, "1-4", "a"), member(b, "5-8", "b")]
    FleetThread(tmp_path / "fleet", members, db=fleet_db).start().stop()

    async def crashed_between() -> None:  # the ledger took it in; the process died before the push
        ledger = ledger_of(tmp_path / "fleet", fleet_db)
        await ledger.open()
        await ledger.set_setting("sms_url", platform.url)
        await ledger.inbox_pushed("b", [[0, "6.01", 1700000000, "13911110011", "", "aGk="]])
        await ledger.close()

    asyncio.run(crashed_between())
    again = FleetThread(tmp_path / "fleet", members, db=fleet_db).start()
    try:
        push = platform.wait_for(lambda p: p["type"] == "recv-sms")
        assert push["sms"] == [[0, "6.01", 1700000000, "13911110011", "", "aGk="]]
    finally:
        again.stop()

    assert unforwarded(tmp_path / "fleet", fleet_db) == []  # handed to the outbox once: nothing left
