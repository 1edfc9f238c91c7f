"""The fleet answers as one device: ports renumbered over members, commands routed."""

from __future__ import annotations

import httpx

from ejoin.testing import GatewayThread

from ..conftest import FleetThread, member

MEMBER_AUTH = {"username": "root", "password": "root"}


def member_status(g: GatewayThread) -> dict:
    return httpx.get(g.url + "/goip_get_status.html", params=MEMBER_AUTH).json()


def test_status_lists_every_member_port_renumbered(fleet: FleetThread, two_members) -> None:
    a, b = two_members
    status = fleet.get("/goip_get_status.html")
    assert status["type"] == "dev-status"
    assert status["max-ports"] == 8
    assert [e["port"] for e in status["status"]] == [f"{p}.01" for p in range(1, 9)]
    # fleet ports 5-8 are member b's 1-4: the same SIMs
    b_iccids = [e["iccid"] for e in member_status(b)["status"]]
    assert [e["iccid"] for e in status["status"][4:]] == b_iccids
    a_iccids = [e["iccid"] for e in member_status(a)["status"]]
    assert [e["iccid"] for e in status["status"][:4]] == a_iccids
    assert {e["status"] for e in status["status"]} == {"3 Registered"}  # the text of st, as a device's


def test_wrong_credentials_answer_as_a_device(fleet: FleetThread) -> None:
    answer = httpx.get(fleet.url + "/goip_get_status.html", params={"username": "fleet", "password": "no"}).json()
    assert answer == {"code": 1, "reason": "Invalid User"}


def test_a_member_down_shows_its_ports_as_module_timeout(tmp_path) -> None:
    a = GatewayThread(tmp_path / "a", ports=4, slots=2, seed=1).start()
    b = GatewayThread(tmp_path / "b", ports=4, slots=2, seed=2).start()
    fleet = FleetThread(tmp_path / "fleet", [member(a, "1-4", "a"), member(b, "5-8", "b")]).start()
    try:
        before = fleet.get("/goip_get_status.html")
        assert {e["st"] for e in before["status"][4:]} == {3}
        b.stop()
        status = fleet.get("/goip_get_status.html")
        assert [e["st"] for e in status["status"][4:]] == [16, 16, 16, 16]
        assert {e["status"] for e in status["status"][4:]} == {"16 Module response timeout"}
        assert {e["st"] for e in status["status"][:4]} == {3}
        assert [e["port"] for e in status["status"]] == [f"{p}.01" for p in range(1, 9)]
        # and the ports of a member never seen at all
        assert fleet.fleet.links["b"].status is not None
    finally:
        fleet.stop()
        a.stop()


def test_a_member_never_reached_still_has_its_ports(tmp_path) -> None:
    with GatewayThread(tmp_path / "a", ports=2, slots=2) as a:
        gone = {"name": "gone", "url": "http://127.0.0.1:9", "username": "u", "password": "p", "ports": "3-5"}
        fleet = FleetThread(tmp_path / "fleet", [member(a, "1-2", "a"), gone]).start()
        try:
            status = fleet.get("/goip_get_status.html")
        finally:
            fleet.stop()
    assert [(e["port"], e["st"]) for e in status["status"]] == [
        ("1.01", 3),
        ("2.01", 3),
        ("3.01", 16),
        ("4.01", 16),
        ("5.01", 16),
    ]


def test_a_command_goes_to_the_owning_member_in_its_numbers(fleet: FleetThread, two_members) -> None:
    a, b = two_members
    assert fleet.get("/goip_send_cmd.html", op="lock", ports="6") == {"code": 0, "reason": "OK"}
    b_status = {e["port"]: e["st"] for e in member_status(b)["status"]}
    assert b_status["2.01"] == 12  # user locked: b's port 2 is fleet port 6
    assert {e["st"] for e in member_status(a)["status"]} == {3}
    fleet_status = {e["port"]: e["st"] for e in fleet.get("/goip_get_status.html")["status"]}
    assert fleet_status["6.01"] == 12 and fleet_status["2.01"] == 3
    # a singular port, as some clients send it
    assert fleet.post("/goip_send_cmd.html", {"op": "unlock", "port": 6}) == {"code": 0, "reason": "OK"}
    assert fleet.get("/goip_send_cmd.html", op="lock", port="7") == {"code": 0, "reason": "OK"}
    b_status = {e["port"]: e["st"] for e in member_status(b)["status"]}
    assert b_status["2.01"] != 12 and b_status["3.01"] == 12


def test_a_command_over_two_members_is_split(fleet: FleetThread, two_members) -> None:
    a, b = two_members
    body = {"type": "command", "op": "lock", "ports": "4-5"}
    assert fleet.post("/goip_send_cmd.html", body) == {"code": 0, "reason": "OK"}
    assert {e["port"]: e["st"] for e in member_status(a)["status"]}["4.01"] == 12
    assert {e["port"]: e["st"] for e in member_status(b)["status"]}["1.01"] == 12


def test_a_port_outside_the_fleet_is_refused_as_a_device_does(fleet: FleetThread) -> None:
    answer = fleet.get("/goip_send_cmd.html", op="lock", ports="9")
    assert answer["code"] == 2 and "port 9 does not exist" in answer["reason"]
    # a member's parameters are not the fleet's: only where it pushes is
    refused = fleet.get("/goip_send_cmd.html", op="get", **{"sim_imei(1)": ""})
    assert refused["code"] == 400 and "other parameters are a member device's" in refused["reason"]
