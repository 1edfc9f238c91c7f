"""Status pushes: members push theirs to the fleet; the fleet pushes its own, renumbered, as a device."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ejoin.testing import GatewayThread, PushCollector

from ..conftest import FleetThread, member

MEMBER = {"username": "root", "password": "root"}


@pytest.fixture
def still(tmp_path, two_members) -> Iterator[FleetThread]:
    """A fleet on a virtual clock that the test never moves: no poll happens unless the test asks."""
    a, b = two_members
    f = FleetThread(tmp_path / "fleet", [member(a, "1-4", "a"), member(b, "5-8", "b")], virtual=True).start()
    try:
        yield f
    finally:
        f.stop()


def port_status(platform: PushCollector, port: str, st: int) -> dict:
    return platform.wait_for(lambda p: p["type"] == "port-status" and p["port"] == port and p["st"] == st)


def test_a_members_port_change_reaches_the_platform_renumbered_without_a_poll(
    still: FleetThread, two_members, platform: PushCollector
) -> None:
    _, b = two_members
    status = still.get("/goip_get_status.html", url=platform.url, period="60")
    assert status["expires"] == 60
    first = platform.wait_for(lambda p: p["type"] == "dev-status")
    assert [e["port"] for e in first["status"]] == [f"{p}.01" for p in range(1, 9)]
    # another client locks b's port 2 on b itself: b pushes to the fleet, the fleet to the platform
    assert httpx.get(b.url + "/goip_send_cmd.html", params={**MEMBER, "op": "lock", "ports": "2"}).json()["code"] == 0
    push = port_status(platform, "6.01", 12)
    assert push["status"].startswith("12 ")
    # the fleet's own view changed with it, no poll needed
    assert {e.port: e.st for e in still.fleet.dev_status().status}["6.01"] == 12
    # nothing else was pushed as a change
    assert {p["port"] for p in platform.of_type("port-status")} == {"6.01"}


def test_a_member_down_pushes_module_timeout_for_its_ports(tmp_path, platform: PushCollector) -> None:
    with GatewayThread(tmp_path / "a", ports=2, slots=1) as a:
        b = GatewayThread(tmp_path / "b", ports=2, slots=1).start()
        fleet = FleetThread(tmp_path / "fleet", [member(a, "1-2", "a"), member(b, "3-4", "b")], virtual=True).start()
        try:
            fleet.get("/goip_get_status.html", url=platform.url)
            b.stop()
            fleet.tick()  # the poll, the fallback: b does not answer
            for port in (3, 4):
                assert port_status(platform, f"{port}.01", 16)["status"].startswith("16 ")
            assert {p["port"] for p in platform.of_type("port-status")} == {"3.01", "4.01"}
        finally:
            fleet.stop()


def test_dev_status_is_pushed_every_period_and_the_url_survives_a_restart(
    tmp_path, two_members, platform: PushCollector
) -> None:
    a, b = two_members
    members = [member(a, "1-4", "a"), member(b, "5-8", "b")]
    fleet = FleetThread(tmp_path / "fleet", members, virtual=True, status_poll=1000).start()
    try:
        fleet.get("/goip_get_status.html", url=platform.url, period="10")  # the minimum is 60, as a device's
        platform.wait_for(lambda p: p["type"] == "dev-status")
        fleet.advance(59)
        assert len(platform.of_type("dev-status")) == 1
        fleet.advance(1)
        platform.wait_for(
            lambda p: p["type"] == "dev-status" and p["expires"] == 60 and len(platform.of_type("dev-status")) == 2
        )
    finally:
        fleet.stop()
    again = FleetThread(tmp_path / "fleet", members, virtual=True, status_poll=1000).start()
    try:
        again.advance(60)
        # the new process's first dev-status (its seq starts again at 1, as a device's after a restart)
        platform.wait_for(lambda p: 1 in [p["seq"] for p in platform.of_type("dev-status")[2:]])
        # period 0 cancels the periodic pushes (the outbox may deliver a push again: at least once)
        again.get("/goip_get_status.html", period="0")
        assert again.get("/goip_send_cmd.html", op="get", status_period="")["data"] == {"status_period": 0}
        assert not again.fleet.status_push.periodic
    finally:
        again.stop()


def test_members_are_subscribed_to_the_fleets_secret_url(still: FleetThread, two_members) -> None:
    a, _ = two_members
    still.tick()
    url = httpx.get(a.url + "/goip_send_cmd.html", params={**MEMBER, "op": "get", "status_url": ""}).json()
    assert url["data"]["status_url"].startswith(still.url + "/fleet/status/a/")
    wrong = httpx.post(still.url + "/fleet/status/a/not-the-secret", json={"type": "dev-status", "status": []})
    assert wrong.status_code == 403
    assert still.fleet.links["a"].status["status"]  # a wrong secret changed nothing


def test_a_member_whose_pushes_stop_is_subscribed_again_by_the_poll(still: FleetThread, two_members) -> None:
    a, _ = two_members
    still.tick()
    mine = httpx.get(a.url + "/goip_send_cmd.html", params={**MEMBER, "op": "get", "status_url": ""}).json()
    # another client takes a's status pushes: the fleet hears nothing more from it
    taken = {**MEMBER, "op": "set", "status_url": "http://127.0.0.1:9/elsewhere", "status_period": "0"}
    assert httpx.get(a.url + "/goip_send_cmd.html", params=taken).json()["code"] == 0
    still.advance(120)
    still.tick()  # silent for two periods: not yet
    now = httpx.get(a.url + "/goip_send_cmd.html", params={**MEMBER, "op": "get", "status_url": ""}).json()
    assert now["data"]["status_url"] == "http://127.0.0.1:9/elsewhere"
    still.advance(61)
    still.tick()
    again = httpx.get(a.url + "/goip_send_cmd.html", params={**MEMBER, "op": "get", "status_url": ""}).json()
    assert again["data"] == mine["data"]
