"""The fleet's dev-status: every member's ports in fleet numbers; a member down shows 16 on all its ports."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from weakref import WeakKeyDictionary

import msgspec

from ...protocol.codes import PortState, port_state_label
from ...protocol.messages import DevStatus, PortStatusEntry
from ...protocol.operations import GET_STATUS
from ...protocol.ports import PortAddress
from ..config import MemberConfig
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


@dataclass
class _WorkedOut:
    """A member's entries as worked out of its last status, and what they were worked out of."""

    status: Any  # its last status then (the object)
    heard: int
    up: bool
    ports: PortMap
    config: MemberConfig
    seen: list[Any]  # a copy of its entries as it sent them
    entries: list[PortStatusEntry]


# Every status request, status poll and push of the fleet reads every member's entries; they change
# only when its status or its being up does (a poll's answer is mostly the status it had).
_worked_out: WeakKeyDictionary[MemberLink, _WorkedOut] = WeakKeyDictionary()


def member_entries(link: MemberLink, ports: PortMap, status: dict[str, Any] | None = None) -> list[PortStatusEntry]:
    """The member's entries in fleet numbers: of ``status`` (an answer of its own) or its last status.
    Of its last status: the same list (not to be changed by the caller) until what the member sends,
    or its being up, changes."""
    if status is not None:
        return _entries(link, ports, status)
    last = _worked_out.get(link)
    same_member = last is not None and last.up == link.up and last.ports is ports and last.config is link.config
    if last is not None and same_member and last.status is link.status and last.heard == link.heard_count:
        return last.entries
    seen = _seen(link.status)
    if last is not None and same_member and seen == last.seen:  # a poll or push saying what it said before
        last.status, last.heard = link.status, link.heard_count
        return last.entries
    entries = _entries(link, ports, link.status)
    _worked_out[link] = _WorkedOut(link.status, link.heard_count, link.up, ports, link.config, seen, entries)
    return entries


def _seen(status: dict[str, Any] | None) -> list[Any]:
    """A copy of a status's entries, kept to compare with the next one (a port-status push is folded
    into the last status in place)."""
    return [dict(e) if isinstance(e, dict) else e for e in (status or {}).get("status") or []]


def _entries(link: MemberLink, ports: PortMap, status: dict[str, Any] | None) -> list[PortStatusEntry]:
    m = link.config
    seen = (status or {}).get("status") or []
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


@lru_cache(maxsize=4096)
def _address(name: str) -> PortAddress:
    return PortAddress.parse(name)


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
    entries.sort(key=lambda e: _address(e.port))
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
