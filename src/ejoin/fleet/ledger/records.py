"""What the ledger hands out (tasks, units, counts), and how rows and tasks are kept as text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from .states import Hold


@dataclass
class TaskRow:
    id: int
    tid_echo: Any
    task: dict[str, Any]  # the task as the platform sent it
    sr_url: str
    sr_cnt: int
    sr_prd: int
    sdr: bool
    fdr: bool
    hold: int = Hold.RUNNING  # goip_pause_sms / goip_remove_sms
    finished: bool = False  # done and reported to the end: never reported again


@dataclass
class Unit:
    idx: int
    number: str
    port: str | None  # the fleet port a to_all unit must go from; None: any


@dataclass
class Counts:
    total: int
    sent: int
    failed: int
    sending: int
    reported: int = 0  # units done and already in a report queued for the platform

    @property
    def done(self) -> int:
        return self.sent + self.failed

    @property
    def unsent(self) -> int:
        return self.total - self.done - self.sending


@dataclass(frozen=True)
class Figures:
    """The record at a glance (metrics, the dashboard): open tasks, their units by state, dispatches
    with units in flight."""

    tasks_open: int
    units: dict[str, int]  # pending, dispatched, sent, failed: units of open tasks
    dispatches_in_flight: int


class Conflict(Exception):
    """Units a dispatch was to take were no longer pending (another pass or replica took them)."""


# A member's tid: the fleet task and the dispatch number, so it is unique and says where it came from.
DISPATCH_SPAN = 100_000


def member_tid(task_id: int, no: int) -> int:
    return task_id * DISPATCH_SPAN + no


# Units' report rows and tasks as stored (JSON), written and read with msgspec: once per SMS (rows) and
# at every dispatch pass (a task, with all its recipients), at a fraction of the ``json`` module's cost.
# What is compared as text (a tid, an inbox row's fingerprint) stays ``json.dumps``: as ever stored.
_encode = msgspec.json.Encoder().encode
_decode_row = msgspec.json.Decoder(list[Any]).decode
_decode_task = msgspec.json.Decoder(dict[str, Any]).decode


def row_text(row: list[Any]) -> str:
    return _encode(row).decode()


def row_of(text: str | bytes) -> list[Any]:
    return _decode_row(text)


def task_text(task: dict[str, Any]) -> str:
    return _encode(task).decode()


def task_of(text: str | bytes) -> dict[str, Any]:
    return _decode_task(text)
