"""The merged inbox: what every member received, under the fleet's ids and ssrc, in fleet port numbers."""

from __future__ import annotations

import base64

import httpx
import pytest

from ejoin.testing import GatewayThread

from ..conftest import FleetThread

MEMBER = {"username": "root", "password": "root"}


@pytest.fixture
def fleet_db(both_stores: str) -> str:
    return both_stores  # every test here runs on the embedded SQLite store and on PostgreSQL


def receive(g: GatewayThread, port: str, sender: str, text: str) -> None:
    answer = httpx.post(g.url + "/sim/inbound", params=MEMBER, json={"port": port, "sender": sender, "text": text})
    assert answer.status_code == 200, answer.text


def text(row: list) -> str:
    return base64.b64decode(row[5]).decode()  # a device's inbox rows carry the content in base64


def test_the_inbox_merges_members_with_fleet_ids_and_ports(fleet: FleetThread, two_members) -> None:
    a, b = two_members
    receive(a, "2", "13911110001", "to a")
    receive(b, "1", "13911110002", "to b")
    first = fleet.get("/goip_get_sms.html")
    assert first["code"] == 0 and first["sms_num"] == 2 and first["next_sms"] == 3
    assert sorted((r[1], r[3], text(r)) for r in first["data"]) == [
        ("2.01", "13911110001", "to a"),
        ("5.01", "13911110002", "to b"),
    ]
    receive(b, "4", "13911110003", "later")
    later = fleet.get("/goip_get_sms.html", sms_id=first["next_sms"])
    assert [(r[1], text(r)) for r in later["data"]] == [("8.01", "later")] and later["next_sms"] == 4
    assert later["ssrc"] == first["ssrc"]
    # asked again: the same ids, nothing taken twice
    again = fleet.get("/goip_get_sms.html")
    assert [text(r) for r in again["data"]] == [text(r) for r in first["data"]] + ["later"]


def test_deleting_from_the_fleet_inbox_keeps_the_ids_going(fleet: FleetThread, two_members) -> None:
    a, _ = two_members
    receive(a, "1", "13911110004", "one")
    page = fleet.get("/goip_get_sms.html", sms_del="1")
    assert [text(r) for r in page["data"]] == ["one"]
    empty = fleet.get("/goip_get_sms.html")
    assert empty["data"] == [] and empty["next_sms"] == page["next_sms"]
    receive(a, "1", "13911110005", "two")
    assert text(fleet.get("/goip_get_sms.html", sms_id=empty["next_sms"])["data"][0]) == "two"


def test_gaps_in_a_members_ids_are_read_one_by_one(fleet: FleetThread, two_members) -> None:
    a, _ = two_members
    for n in range(3):
        receive(a, "1", f"1391111002{n}", f"m{n}")
    # another client of the member deletes its second SMS: ids 1 and 3 are left
    httpx.get(a.url + "/goip_get_sms.html", params={**MEMBER, "sms_id": 2, "sms_num": 1, "sms_del": 1})
    page = fleet.get("/goip_get_sms.html")
    assert [text(r) for r in page["data"]] == ["m0", "m2"]
