"""The fleet's dev-status: every member's ports in fleet numbers; a member down shows 16 on all its ports."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from ...protocol.codes import PortState, port_state_label
from ...protocol.messages import DevStatus, PortStatusEntry
from ...protocol.operations import GET_STATUS
from ...protocol.ports import PortAddress
from .members import MemberDown, MemberLink
from .numbering import PortMap


def _blank(port: str) -> PortStatusEntry:
    return PortStatusEntry(
        port=port,
        sim="",
        seq=0,
        st=int(PortState.MODULE_TIMEOUT),
        status=PortState.MODULE_TIMEOUT.label,
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


def member_entries(link: MemberLink, ports: PortMap, status: dict[str, Any] | None = None) -> list[PortStatusEntry]:
    """The member's entries in fleet numbers: of ``status`` (an answer of its own) or its last status."""
    m = link.config
    seen = ((link.status if status is None else status) or {}).get("status") or []
    out: list[PortStatusEntry] = []
    covered: set[int] = set()
    for raw in seen:
        if not isinstance(raw, dict):
            continue
        try:
            # status: the text of st, whatever the member sent (a device that sends none, or another st)
            entry = msgspec.convert({**raw, "status": ""}, PortStatusEntry, strict=False)
            fleet = ports.to_fleet(m, PortAddress.parse(entry.port))
        except (msgspec.ValidationError, ValueError):
            continue
        if fleet is None:
            continue
        entry.port = fleet.dotted
        if not link.up:
            entry.st = int(PortState.MODULE_TIMEOUT)
        entry.status = port_state_label(entry.st)
        covered.add(fleet.port)
        out.append(entry)
    if not link.up:
        # never seen, or ports it stopped listing: still the fleet's ports, and timed out
        out.extend(_blank(PortAddress(p, 1).dotted) for p in range(m.first, m.last + 1) if p not in covered)
    return out


async def every_slot(links: list[MemberLink], which: str) -> dict[str, dict[str, Any]]:
    """Each member that is up asked for its status with ``which`` (``all_sims`` or ``all_slots``) 1:
    member name -> its answer.  Kept apart from the members' last status (their active slots, whose
    changes are pushed); a member that does not answer is down, and shows as down."""

    async def ask(link: MemberLink) -> dict[str, Any] | None:
        try:
            answer = await link.call(GET_STATUS.path, params={which: "1"})
        except MemberDown:
            return None
        return answer if isinstance(answer, dict) and isinstance(answer.get("status"), list) else None

    up = [link for link in links if link.up]
    answers = await asyncio.gather(*(ask(link) for link in up))
    return {link.name: answer for link, answer in zip(up, answers, strict=True) if answer is not None}


def dev_status(
    links: list[MemberLink],
    ports: PortMap,
    *,
    mac: str,
    ip: str,
    ver: str,
    slots: int,
    seq: int,
    expires: int = 0,
    answers: dict[str, dict[str, Any]] | None = None,
) -> DevStatus:
    """``answers``: members' own answers to show instead of their last status (``every_slot``)."""
    entries: list[PortStatusEntry] = []
    for link in sorted(links, key=lambda link: link.config.first):
        answer = (answers or {}).get(link.name) if link.up else None
        entries.extend(member_entries(link, ports, answer))
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
