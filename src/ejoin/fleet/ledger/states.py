"""States of the ledger's units, dispatches and tasks, as stored, and every change allowed.

The one place these numbers are written (as ``gateway/sending/states.py`` for the device): the
ledger's statements guard each change with the states it may come from (``from_states``), so a
change the tables do not allow finds no row and changes nothing (a post answered after a failover
took its units back leaves the dispatch withdrawn; a unit done stays done).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from typing import TypeVar


class UnitState(IntEnum):
    """One SMS the fleet owes: a recipient (and, for ``to_all`` tasks, one of the listed ports)."""

    PENDING = 0  # with no member
    DISPATCHED = 1  # in a dispatch to a member, no outcome yet
    SENT = 2
    FAILED = 3


class DispatchState(IntEnum):
    """A sub-task posted to a member, recorded (with its units) before it is posted."""

    RECORDED = 0  # the post may or may not have reached the member
    POSTED = 1  # the member took it
    REFUSED = 2  # the member refused it: its units are free again
    WITHDRAWN = 3  # failover took its units back; to be removed on the member when it answers
    REMOVED = 4  # removed on the member after a withdrawal


class Hold(IntEnum):
    """A task's hold (goip_pause_sms, goip_resume_sms, goip_remove_sms)."""

    RUNNING = 0
    PAUSED = 1
    REMOVED = 4  # the number dispatches use for removed: the two were one constant before


UNIT_TRANSITIONS: dict[UnitState, frozenset[UnitState]] = {
    # dispatched; or settled without a member: a removed task, its ports gone, a late report of it
    UnitState.PENDING: frozenset({UnitState.DISPATCHED, UnitState.SENT, UnitState.FAILED}),
    # an outcome; or free again (its dispatch refused, or withdrawn at a failover)
    UnitState.DISPATCHED: frozenset({UnitState.SENT, UnitState.FAILED, UnitState.PENDING}),
    UnitState.SENT: frozenset(),
    UnitState.FAILED: frozenset(),
}

DISPATCH_TRANSITIONS: dict[DispatchState, frozenset[DispatchState]] = {
    DispatchState.RECORDED: frozenset({DispatchState.POSTED, DispatchState.REFUSED, DispatchState.WITHDRAWN}),
    DispatchState.POSTED: frozenset({DispatchState.WITHDRAWN}),
    DispatchState.REFUSED: frozenset(),
    # A post answered after a failover took its units back stays withdrawn (to be removed on the member).
    DispatchState.WITHDRAWN: frozenset({DispatchState.REMOVED}),
    DispatchState.REMOVED: frozenset(),
}

HOLD_TRANSITIONS: dict[Hold, frozenset[Hold]] = {
    Hold.RUNNING: frozenset({Hold.PAUSED, Hold.REMOVED}),
    Hold.PAUSED: frozenset({Hold.RUNNING, Hold.REMOVED}),
    Hold.REMOVED: frozenset(),
}

DONE = (UnitState.SENT, UnitState.FAILED)
LIVE = (DispatchState.RECORDED, DispatchState.POSTED)  # dispatches whose units a member may be sending


E = TypeVar("E", bound=IntEnum)


def from_states(table: Mapping[E, frozenset[E]], new: E) -> tuple[int, ...]:
    """The states that may become ``new`` (setting a state again is no change, so not ``new`` itself)."""
    return tuple(sorted(int(old) for old, allowed in table.items() if new in allowed))


def sql_in(states: tuple[int, ...]) -> str:
    """States as a literal SQL list (``(0, 1)``): a partial index on a state is used only for a literal."""
    return "(" + ", ".join(str(int(s)) for s in states) + ")"
