"""Statistics of the fleet: each member's rows for its ports, renumbered; bad selections refused as a device does."""

from __future__ import annotations

import httpx

from ejoin.testing import PushCollector

from ..conftest import FleetThread
from ..engine.test_sending import NUMBERS, final, send

MEMBER = {"username": "root", "password": "root"}


def test_sms_statistics_are_the_members_rows_in_fleet_numbers(
    fleet: FleetThread, two_members, platform: PushCollector
) -> None:
    _, b = two_members
    assert send(fleet, platform, {"tid": 3001, "to": NUMBERS[:24], "sms": "x"})["status"][0]["status"] == "0 OK"
    final(platform, 3001)
    every = fleet.get("/goip_get_sms_stat.html")
    assert every["count"] == 8 and [r["port"] for r in every["stats"]] == list(range(1, 9))
    assert sum(r["sent_ok"] for r in every["stats"]) == 24
    on_b = httpx.get(b.url + "/goip_get_sms_stat.html", params={**MEMBER, "ports": "2"}).json()["stats"]
    fleet_6 = fleet.get("/goip_get_sms_stat.html", ports="6")["stats"]
    assert fleet_6 == [{**on_b[0], "port": 6}] and on_b[0]["sent_ok"] > 0
    both = fleet.get("/goip_get_sms_stat.html", ports="4-5", slots="1-2")
    assert [(r["port"], r["slot"]) for r in both["stats"]] == [(4, 1), (4, 2), (5, 1), (5, 2)]


def test_bad_selections_are_refused(fleet: FleetThread) -> None:
    assert fleet.get("/goip_get_sms_stat.html", ports="9")["code"] == 2
    assert fleet.get("/goip_get_call_stat.html", ports="1", type="7")["code"] == 400
    assert fleet.get("/goip_get_call_stat.html", ports="1")["stats"][0]["port"] == 1
