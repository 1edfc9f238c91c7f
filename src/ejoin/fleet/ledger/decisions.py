"""What the ledger decides, apart from how it reads and writes: pure functions, no database."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from .records import Counts


def port_forms(port: str | None) -> tuple[None, str, str]:
    """A reported fleet port and the port alone: a unit names the port (``5``) or its slot (``5.01``)."""
    name = port or ""
    return None, name, name.split(".")[0]


def match_outcomes(
    waiting: Iterable[tuple[int, int, int, str | None]], rows: list[tuple[int, str | None, int, list[Any]]]
) -> list[tuple[int, int, list[Any]]]:
    """Outcomes ``(sub_idx, fleet port, state, member's row)`` of a dispatch, matched with its units still
    waiting ``(unit id, sub_idx, idx, port)``: ``(unit id, state, row)`` of each outcome new to the record,
    its row carrying the fleet task's own index.

    A unit already done is not waiting, so a report pushed twice counts once; the units of one recipient
    of a ``to_all`` task share its sub_idx, and the reported port tells them apart."""
    by_sub: dict[int, list[tuple[int, int, str | None]]] = {}
    for unit_id, sub, idx, port in waiting:
        by_sub.setdefault(sub, []).append((unit_id, idx, port))
    out = []
    for sub_idx, port, state, row in rows:
        candidates = by_sub.get(sub_idx)
        if not candidates:
            continue  # not ours, or already done (a report pushed again)
        forms = port_forms(port)
        for i, (unit_id, idx, unit_port) in enumerate(candidates):
            if unit_port in forms:
                del candidates[i]
                out.append((unit_id, state, [idx, *row[1:]]))
                break
    return out


def done_before(done: set[tuple[int, str | None]], sub_idx: int, port: str | None) -> bool:
    """A late report's row whose unit had its outcome before the withdrawal (it was applied then)."""
    return any((sub_idx, p) in done for p in port_forms(port))


def counts(total: int, sent: int, failed: int, dispatched: int, reported: int, sending: int) -> Counts:
    """A task's counts: what members say they are sending, but never more than is dispatched to them."""
    return Counts(int(total), int(sent), int(failed), min(int(sending), int(dispatched)), int(reported))


def pinned_within(rows: Iterable[tuple[Any, ...]], ports: tuple[int, int]) -> list[tuple[Any, ...]]:
    """Rows whose last field is a fleet port (``5`` or ``5.02``) within ``ports`` (first, last)."""
    first, last = ports
    return [r for r in rows if first <= int(str(r[-1]).split(".")[0]) <= last]


def tid_keys(tid: Any) -> tuple[str, str]:
    """How a tid the platform names is stored: a tid sent as "5002" in a list or form names the task sent
    as 5002 too (the one key twice when there is no other)."""
    key = json.dumps(tid)
    if isinstance(tid, str) and tid.strip().lstrip("-").isdigit():
        return key, json.dumps(int(tid))
    return key, key


def next_inbox_id(found: list[tuple[Any, ...]], first: int, last_given: int) -> int:
    """The next id a client asks for after a page of the inbox: past the page, or past every id given."""
    if found:
        return int(found[-1][0]) + 1
    return max(first, last_given + 1)
