"""What the fleet works out of a member's last status follows every change of it."""

from __future__ import annotations

from ejoin.clock import VirtualClock
from ejoin.fleet.config import MemberConfig
from ejoin.fleet.engine.members import MemberLink
from ejoin.fleet.engine.status_push import merge_port_status


def entry(port: str, st: int, iccid: str = "") -> dict[str, object]:
    return {"port": port, "st": st, "iccid": iccid}


def test_registered_ports_follow_pushed_statuses_also_when_folded_into_the_last_one() -> None:
    link = MemberLink(MemberConfig("a", "http://a", "root", "root", 1, 4), VirtualClock(), 5.0)
    assert link.registered() == ()  # nothing heard yet
    link.heard({"type": "dev-status", "status": [entry("1.01", 3, "8986001"), entry("2.01", 3), entry("3.01", 2)]})
    assert link.registered() == (("1.01", "8986001"), ("2.01", "a:2.01"))
    assert link.registered() is link.registered()  # worked out once per status heard
    # a port-status push changes the last dev-status in place: port 1 loses its network
    merge_port_status(link.status or {}, {"type": "port-status", "port": "1.01", "st": 6})
    link.heard(link.status or {})
    assert link.registered() == (("2.01", "a:2.01"),)
    merge_port_status(link.status or {}, {"type": "port-status", "port": "3.01", "st": 3, "iccid": "8986003"})
    link.heard(link.status or {})
    assert link.registered() == (("2.01", "a:2.01"), ("3.01", "8986003"))
