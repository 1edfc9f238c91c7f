"""States of send tasks and of their jobs (one SMS to one recipient), as stored and as reported.

The one place these numbers are written: the engine, reports, the store's SQL
and the web handlers all use these enums.
"""

from __future__ import annotations

from enum import IntEnum


class TaskState(IntEnum):
    QUEUED = 0  # waiting or sending
    PAUSED = 1  # nothing new is handed to a module until resumed
    FINISHED = 2  # every SMS done
    REMOVED = 3  # taken off the queue by a client; what was never sent never will be

    @property
    def is_open(self) -> bool:
        return self < TaskState.FINISHED


class JobState(IntEnum):
    IN_MODULE = 1  # committed before the module got it; after a crash: failed, "interrupted by restart"
    SENT = 2
    FAILED = 3


# The task life cycle: every allowed change of state.  Pausing a paused task or
# resuming a queued one is no change (and answered OK); anything else is refused.
TASK_TRANSITIONS: dict[TaskState, frozenset[TaskState]] = {
    TaskState.QUEUED: frozenset({TaskState.PAUSED, TaskState.FINISHED, TaskState.REMOVED}),
    # A task paused while its last SMS was in a module finishes when that SMS is done.
    TaskState.PAUSED: frozenset({TaskState.QUEUED, TaskState.FINISHED, TaskState.REMOVED}),
    TaskState.FINISHED: frozenset(),
    TaskState.REMOVED: frozenset(),
}


class TransitionRefused(Exception):
    def __init__(self, tid: object, old: TaskState, new: TaskState) -> None:
        super().__init__(f"task {tid}: {old.name.lower()} cannot become {new.name.lower()}")
        self.old, self.new = old, new


def can_move(old: TaskState, new: TaskState) -> bool:
    return new in TASK_TRANSITIONS[old]
