"""goip_get_status with all_sims / all_slots: passed on to the members that are up, their answers in
fleet port numbers; a member down shows its ports as module timeout, as in the plain status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from ejoin.protocol.ports import PortAddress
from ejoin.testing import GatewayThread

from ..conftest import FleetThread, member

MEMBER = {"username": "root", "password": "root"}


@pytest.fixture
def fleet_db(both_stores: str) -> str:
    return both_stores  # every test here runs on the embedded SQLite store and on PostgreSQL


def members_answer(g: GatewayThread, first: int, **params: str) -> list[tuple[str, str]]:
    """(port in fleet numbers, ICCID) of each entry the member itself answers, its port 1 fleet port ``first``."""
    entries = httpx.get(g.url + "/goip_get_status.html", params={**MEMBER, **params}, timeout=20).json()["status"]
    out = []
    for e in entries:
        addr = PortAddress.parse(e["port"])
        out.append((PortAddress(addr.port + first - 1, addr.slot).dotted, e["iccid"]))
    return out


def shown(status: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["port"], e["iccid"]) for e in status["status"]]


@pytest.mark.parametrize("which", ["all_sims", "all_slots"])
def test_all_sims_and_all_slots_are_answered_by_the_members_in_fleet_numbers(
    fleet: FleetThread, two_members: tuple[GatewayThread, GatewayThread], which: str
) -> None:
    a, b = two_members
    status = fleet.get("/goip_get_status.html", **{which: "1"})
    assert status["type"] == "dev-status"
    expected = members_answer(a, 1, **{which: "1"}) + members_answer(b, 5, **{which: "1"})
    assert shown(status) == expected  # a's then b's, each in port and slot order
    ports = {p for p, _ in expected}
    if which == "all_slots":  # one entry per slot of every port, empty ones included
        assert ports == {f"{p}.{s:02d}" for p in range(1, 9) for s in (1, 2)}
    else:  # one per slot holding a SIM: more than the active slots, as these members have second SIMs
        assert len(ports) > 8 and all(iccid for _, iccid in expected)
    # without them, one entry per port (its active slot), as before
    assert [e["port"].split(".")[0] for e in fleet.get("/goip_get_status.html")["status"]] == [
        str(p) for p in range(1, 9)
    ]
    # a value that is no flag is refused as a device refuses it
    assert fleet.get("/goip_get_status.html", **{which: "2"})["code"] != 0


def test_a_member_down_shows_its_ports_as_module_timeout_with_all_slots(tmp_path: Path, fleet_db: str) -> None:
    with GatewayThread(tmp_path / "a", ports=4, slots=2, seed=1) as a:
        b = GatewayThread(tmp_path / "b", ports=4, slots=2, seed=2).start()
        fleet = FleetThread(tmp_path / "fleet", [member(a, "1-4", "a"), member(b, "5-8", "b")], db=fleet_db).start()
        try:
            assert len(fleet.get("/goip_get_status.html", all_slots="1")["status"]) == 16
            b.stop()
            status = fleet.get("/goip_get_status.html", all_slots="1")
            of_b = [e for e in status["status"] if int(e["port"].split(".")[0]) >= 5]
            assert [e["port"] for e in of_b] == ["5.01", "6.01", "7.01", "8.01"]  # what the fleet knows of b
            assert {e["st"] for e in of_b} == {16}
            assert shown(status)[:8] == members_answer(a, 1, all_slots="1")
            assert fleet.fleet.links["b"].up is False
        finally:
            fleet.stop()
