"""The fleet's dev-status: every member's ports in fleet numbers; a member down shows 16 on all its ports."""

from __future__ import annotations

import msgspec

from ..protocol.codes import PortState
from ..protocol.messages import DevStatus, PortStatusEntry
from ..protocol.ports import PortAddress
from .members import MemberLink
from .numbering import PortMap


def _blank(port: str) -> PortStatusEntry:
    return PortStatusEntry(
        port=port,
        sim="",
        seq=0,
        st=int(PortState.MODULE_TIMEOUT),
        imei="",
        iccid="",
        imsi="",
        sn="",
        opr="",
        bal="",
        sig=0,
        active=1,
        inserted=0,
        slot_active=1,
        led=0,
    )


def member_entries(link: MemberLink, ports: PortMap) -> list[PortStatusEntry]:
    m = link.config
    seen = (link.status or {}).get("status") or []
    out: list[PortStatusEntry] = []
    covered: set[int] = set()
    for raw in seen:
        if not isinstance(raw, dict):
            continue
        try:
            entry = msgspec.convert(raw, PortStatusEntry, strict=False)
            fleet = ports.to_fleet(m, PortAddress.parse(entry.port))
        except (msgspec.ValidationError, ValueError):
            continue
        if fleet is None:
            continue
        entry.port = fleet.dotted
        if not link.up:
            entry.st = int(PortState.MODULE_TIMEOUT)
        covered.add(fleet.port)
        out.append(entry)
    if not link.up:
        # never seen, or ports it stopped listing: still the fleet's ports, and timed out
        out.extend(_blank(PortAddress(p, 1).dotted) for p in range(m.first, m.last + 1) if p not in covered)
    return out


def dev_status(
    links: list[MemberLink], ports: PortMap, *, mac: str, ip: str, ver: str, slots: int, seq: int, expires: int = 0
) -> DevStatus:
    entries: list[PortStatusEntry] = []
    for link in sorted(links, key=lambda link: link.config.first):
        entries.extend(member_entries(link, ports))
    entries.sort(key=lambda e: PortAddress.parse(e.port))
    max_slot = max((int((link.status or {}).get("max-slot", 1) or 1) for link in links), default=1)
    return DevStatus(
        type="dev-status",
        seq=seq,
        expires=expires,  # the period of the fleet's dev-status pushes, as a device's status_period
        mac=mac,
        ip=ip,
        ver=ver,
        max_ports=ports.members[-1].last if ports.members else 0,
        max_slot=min(max_slot, slots),
        max_slots=slots,
        status=entries,
    )
