"""USSD, AT and eSIM through the fleet: answered by the owning member, ports renumbered both ways."""

from __future__ import annotations

import httpx

from ejoin.testing import GatewayThread

from ..conftest import FleetThread, member

MEMBER = {"username": "root", "password": "root"}
AC = "LPA:1$smdp.example.com$MATCH-0001"


def on(g: GatewayThread, path: str, **params: str) -> dict:
    return httpx.get(g.url + path, params={**MEMBER, **params}, timeout=20).json()


def test_ussd_goes_to_the_owning_member_and_answers_in_fleet_numbers(fleet: FleetThread, two_members) -> None:
    _, b = two_members
    answer = fleet.get("/goip_send_ussd.html", port="6", ussd="*100#")
    direct = on(b, "/goip_send_ussd.html", port="2", ussd="*100#")
    assert answer["code"] == 0 and answer["port"] == "6.01" and answer["session"] == direct["session"]
    assert answer["resp"] == direct["resp"] and answer["resp"]  # b's port 2 answered, its balance
    refused = fleet.get("/goip_send_ussd.html", port="9", ussd="*100#")
    assert refused["code"] == 2 and refused["reason"].startswith("2 Invalid Port")
    assert fleet.get("/goip_send_ussd.html", port="6", ussd="*100#", timeout="999")["code"] == 400


def test_at_goes_to_the_owning_member(fleet: FleetThread, two_members) -> None:
    a, _ = two_members
    answer = fleet.post("/goip_send_at.html", {"port": "2", "at": "AT+CCID"})
    iccid = on(a, "/goip_get_status.html")["status"][1]["iccid"]
    assert answer["code"] == 0 and answer["port"] == "2.01"
    assert iccid in answer["resp"] and answer["resp"].endswith("OK")
    assert fleet.get("/goip_send_at.html", port="7", AT="AT+CSQ")["port"] == "7.01"

    # what a member would refuse, the fleet refuses with the member's own answer, and never forwards:
    # a 9,000-character line in a member's query string got its web server's plain-text 400, and the
    # member was taken for down (all its ports 16) on that one answer
    long_line = {"port": "2", "at": "AT+" + "X" * 9000}
    refused = fleet.post("/goip_send_at.html", long_line)
    direct = httpx.post(a.url + "/goip_send_at.html", params=MEMBER, json=long_line, timeout=20).json()
    assert refused == direct and refused["code"] == 15 and "at most 512 characters" in refused["reason"]
    ussd = {"port": "6", "ussd": "*" * 200 + "#"}
    refused = fleet.post("/goip_send_ussd.html", ussd)
    assert refused["code"] == 3 and "at most 182 characters" in refused["reason"]
    refused = fleet.post("/goip_send_at.html", {"port": "2", "at": "AT+CSQ\r\nATE1"})
    assert refused["code"] == 15 and "control characters" in refused["reason"]
    assert all(link.up for link in fleet.fleet.links.values())


def test_a_member_down_answers_as_a_silent_module(tmp_path) -> None:
    with GatewayThread(tmp_path / "a", ports=2, slots=1) as a:
        b = GatewayThread(tmp_path / "b", ports=2, slots=1).start()
        fleet = FleetThread(tmp_path / "fleet", [member(a, "1-2", "a"), member(b, "3-4", "b")]).start()
        try:
            b.stop()
            # not known down yet: the request finds out
            at = fleet.get("/goip_send_at.html", port="3", at="AT+CSQ")
            assert at["code"] == 6 and at["reason"] == "6 Timeout: member b does not answer"
            ussd = fleet.get("/goip_send_ussd.html", port="4", ussd="*100#")  # known down now
            assert ussd["code"] == 5 and ussd["reason"] == "5 SIM Unregistered: member b does not answer"
            assert fleet.get("/goip_send_ussd.html", port="1", ussd="*100#")["code"] == 0
            esims = fleet.get("/goip_get_esims.html")
            assert [p["port"] for p in esims["ports"]] == [1, 2]  # b's ports are left out
            write = fleet.post("/goip_write_esims.html", [{"port": 3, "slot": 1, "ac": AC}])
            assert write["ports"] == [{"port": 3, "slot": 1, "status": 3}]
        finally:
            fleet.stop()


def test_esims_are_read_and_written_on_the_owning_member(fleet: FleetThread, two_members) -> None:
    a, b = two_members
    esims = fleet.get("/goip_get_esims.html", ports="4-5")
    assert esims["code"] == 200 and esims["ports"] == esims["stats"]
    assert [(p["port"], p["eid"]) for p in esims["ports"]] == [
        (4, on(a, "/goip_get_esims.html", ports="4")["ports"][0]["eid"]),
        (5, on(b, "/goip_get_esims.html", ports="1")["ports"][0]["eid"]),
    ]
    items = [{"port": 6, "slot": 2, "ac": AC, "cc": ""}, {"port": 99, "slot": 1, "ac": AC}, {"port": 1, "slot": 2}]
    write = fleet.post("/goip_write_esims.html", items)
    assert write["ports"] == [
        {"port": 6, "slot": 2, "status": 1},  # submitted on b's port 2
        {"port": 99, "slot": 1, "status": 3},  # no such port: failed, as on a device
        {"port": 1, "slot": 2, "status": 1},
    ]
    # the write ran on b's port 2, slot 2 (the fast clock finishes it at once), and on a's port 1 only
    b_profile = on(b, "/goip_get_esims.html", ports="2")["ports"][0]["profiles"][1]
    assert (b_profile["ac"], b_profile["exist"]) == (AC, 1)
    untouched = on(a, "/goip_get_esims.html", ports="2")["ports"][0]["profiles"][1]
    assert untouched["ac"] == ""
