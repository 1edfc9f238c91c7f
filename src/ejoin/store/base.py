"""What the device keeps on disk: one narrow interface per role, ``Store`` all of them.

Writes return a future that resolves once the write is committed, so a caller
that must not acknowledge before durability awaits it, and one that only needs
eventual durability (a state change) does not.  Each part of the device asks for
the role it uses (the outbox an ``OutboxStore``, the send engine a ``TaskStore``
...), so another implementation (PostgreSQL for fleets) can provide roles one at
a time.  SQLite is the embedded implementation of them all.
"""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..protocol.ports import DeviceSize


@dataclass(slots=True)
class SlotRecord:
    """A slot's persistent part: what the device knows of the card in it, and its settings."""

    port: int
    slot: int
    present: bool = False
    iccid: str = ""
    imsi: str = ""
    number: str = ""
    operator: str = ""
    balance: float | None = 0.0  # None: nobody has read it (a real module without a balance code)
    imei: str = ""
    locked: bool = False
    seq: int = 0
    esim: bool = False  # the card is an eSIM profile (written through goip_write_esims)
    esim_ac: str = ""
    esim_cc: str = ""
    esim_provider: str = ""


@dataclass(slots=True)
class PortRecord:
    port: int
    active_slot: int = 1
    led: bool = True


@dataclass(slots=True)
class OutboxItem:
    id: int
    dest: str
    kind: str
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    attempts: int = 0
    next_at: float = 0.0
    created: float = 0.0


@dataclass(slots=True)
class PushQueueSummary:
    """One destination's pushes as stored: waiting ones (the head's retry state) and dead-letter ones."""

    dest: str
    queued: int = 0
    oldest_queued: float | None = None  # when the oldest waiting push was queued
    attempts: int = 0  # failed tries of the head
    next_at: float | None = None  # when the head is tried next (None: at once)
    last_error: str = ""  # the head's last failure, else the last dead push's
    dead: int = 0
    oldest_dead: float | None = None  # when the oldest dead push was queued
    last_died: float | None = None


@dataclass(slots=True)
class TaskRecord:
    """A send task as stored: the validated spec (msgpack) and its progress."""

    id: int
    tid: int
    spec: bytes
    n: int
    request: bytes
    state: int = 0  # a TaskState (protocol/task_states.py)
    reported_seq: int = 0
    # derived from job rows when loading
    sent: int = 0
    failed: int = 0
    done_seq: int = 0
    lane_jobs: dict[int, list[int]] = field(default_factory=dict)  # lane -> [count, max idx]


@dataclass(slots=True)
class JobRecord:
    task_id: int
    lane: int
    idx: int
    number: str
    port: str
    state: int  # a JobState (protocol/task_states.py)
    ts: int
    reason: str = ""
    carrier: str = ""
    done_seq: int | None = None
    # Sent after all: this outcome replaces a failure of unknown outcome counted at ``ts``'s minute
    # (a delivery report proved it went out); the statistics move it from failed to sent.
    confirmed: bool = False


@dataclass(slots=True)
class InboxRecord:
    """A received SMS or delivery report; ``content`` is as pushed (base64 of UTF-8, or "code scts")."""

    flag: int
    port: str
    ts: int
    sender: str
    recipient: str
    content: str
    incomplete: str = ""  # "2/3": parts that arrived of a concatenated SMS that never completed
    id: int = 0


@dataclass(slots=True)
class RawRecord:
    """A received message kept as the module gave it: ``pdu`` in hex, and why it is not an SMS."""

    port: str  # the slot that received it ("1.01")
    ts: int
    pdu: str
    reason: str
    id: int = 0


@dataclass(slots=True)
class PushMarks:
    """What a push delivers, marked in the same commit that queues it."""

    reported: list[tuple[int, int]] = field(default_factory=list)  # (task id, done_seq)
    inbox: list[int] = field(default_factory=list)  # inbox ids now pushed


@dataclass(slots=True)
class PartRecord:
    port: str
    sender: str
    ref: int
    total: int
    seq: int
    text: str
    ts: float


SMS_COUNTERS = ("received", "sent_ok", "sent_failed")
CALL_COUNTERS = ("calls", "alerted", "connected", "failed", "pdd_sum", "duration", "billed")


@dataclass(slots=True)
class CallRecord:
    """A finished call, counted in the minute it ended."""

    port: int
    slot: int
    ts: float
    alerted: bool
    connected: bool
    pdd: float
    duration: int  # seconds connected


class DeviceStateStore(Protocol):
    """Settings, the inventory of ports and slots, and what a driver keeps of its own."""

    # settings (values are JSON-able)
    @abstractmethod
    async def load_settings(self) -> dict[str, Any]: ...

    @abstractmethod
    def save_settings(self, values: dict[str, Any]) -> asyncio.Future[None]: ...

    # device inventory
    @abstractmethod
    async def load_slots(self) -> list[SlotRecord]: ...

    @abstractmethod
    def save_slot(self, record: SlotRecord) -> asyncio.Future[None]: ...

    # what a driver keeps of its own (JSON-able values by key; the simulator's world)
    @abstractmethod
    async def load_driver_state(self, driver: str) -> dict[str, Any]: ...

    @abstractmethod
    def save_driver_state(self, driver: str, key: str, value: Any) -> asyncio.Future[None]:
        """Keep ``value`` under ``key`` for ``driver``; None forgets the key."""

    @abstractmethod
    async def load_ports(self) -> list[PortRecord]: ...

    @abstractmethod
    def save_port(self, record: PortRecord) -> asyncio.Future[None]: ...


class OutboxStore(Protocol):
    """The durable push outbox and its dead-letter table."""

    @abstractmethod
    def outbox_add(
        self,
        dest: str,
        kind: str,
        content_type: str,
        body: bytes,
        headers: dict[str, str],
        created: float,
        marks: PushMarks | None = None,
    ) -> asyncio.Future[int]:
        """Queue a push; ``marks`` are recorded in the same commit."""

    @abstractmethod
    async def outbox_destinations(self) -> list[str]: ...

    @abstractmethod
    async def outbox_head(self, dest: str, limit: int) -> list[OutboxItem]: ...

    @abstractmethod
    def outbox_delete(self, item_id: int) -> asyncio.Future[None]: ...

    @abstractmethod
    def outbox_retry(self, item_id: int, attempts: int, next_at: float, error: str) -> asyncio.Future[None]: ...

    @abstractmethod
    async def outbox_count(self) -> int: ...

    @abstractmethod
    def outbox_kill(self, dest: str, created_before: float, died: float, error: str, keep: int) -> asyncio.Future[int]:
        """Move ``dest``'s pushes queued at or before ``created_before`` to the dead-letter table; how many.

        Those never tried get ``error`` (the destination's) as their last error.  Only the newest
        ``keep`` dead pushes of ``dest`` are kept.
        """

    @abstractmethod
    def outbox_revive(self, dest: str | None, now: float) -> asyncio.Future[dict[str, int]]:
        """Dead pushes (of ``dest``, or all) back into the outbox, queued anew at ``now``; count per destination."""

    @abstractmethod
    def outbox_drop(self, dest: str | None, queued: bool) -> asyncio.Future[dict[str, tuple[int, int]]]:
        """Delete dead pushes (and with ``queued`` the waiting ones) of ``dest`` or all; (dead, queued) per dest."""

    @abstractmethod
    async def outbox_summary(self) -> list[PushQueueSummary]: ...


# Outcomes as jobs_finish takes them: the jobs, the (port, slot) of each, failures in a row per slot.
Finished = tuple[list[JobRecord], list[tuple[int, int]], dict[tuple[int, int], int]]


class TaskStore(Protocol):
    """Send tasks, their recipients in chunks, and a job row per SMS."""

    @abstractmethod
    def tasks_add(self, tasks: list[tuple[int, bytes, int, bytes, float, list[str]]]) -> asyncio.Future[list[int]]:
        """(tid, spec, n, request, created, chunks) each; returns their ids, in order."""

    @abstractmethod
    async def tasks_open(self) -> list[TaskRecord]:
        """Tasks not finished, and finished ones with progress not yet reported."""

    @abstractmethod
    async def tasks_closed(self, tids: list[int]) -> list[TaskRecord]:
        """Tasks with these tids that are finished or removed and still kept (not pruned), oldest first."""

    @abstractmethod
    async def tasks_by_id(self, ids: list[int]) -> list[TaskRecord]:
        """The tasks with these store ids that are still kept, with their progress, oldest first."""

    @abstractmethod
    async def task_chunk(self, task_id: int, chunk: int) -> list[str]: ...

    @abstractmethod
    def tasks_state(self, changes: list[tuple[int, int]]) -> asyncio.Future[None]:
        """(task id, state) each, in order (a later change of a task wins)."""

    @abstractmethod
    def tasks_reported(self, marks: list[tuple[int, int]]) -> asyncio.Future[None]: ...

    @abstractmethod
    def jobs_start(self, jobs: list[JobRecord], finished: Finished | None = None) -> asyncio.Future[None]:
        """Jobs now in a module; ``finished`` (as ``jobs_finish`` takes them): outcomes written with them,
        in the same piece of work."""

    @abstractmethod
    def jobs_finish(
        self,
        jobs: list[JobRecord],
        slots: list[tuple[int, int]] | None = None,
        con_failed: dict[tuple[int, int], int] | None = None,
    ) -> asyncio.Future[None]:
        """Complete jobs; with ``slots`` (one per job) their outcomes are counted per slot and minute."""

    @abstractmethod
    async def jobs_interrupted(self, ts: int, reason: str) -> list[JobRecord]:
        """Jobs that were in a module at a crash become failed; returns them."""

    @abstractmethod
    async def jobs_done_since(self, task_id: int, after_seq: int) -> list[JobRecord]: ...

    @abstractmethod
    async def jobs_failed_for(self, reasons: list[str]) -> list[JobRecord]:
        """Failed jobs of kept tasks with one of these reasons, oldest first."""

    @abstractmethod
    async def jobs_of_lane(self, task_id: int, lane: int) -> list[int]: ...

    @abstractmethod
    async def tasks_prune(self, finished_before: float) -> int:
        """Delete tasks finished and fully reported, created before the time given; how many."""


class InboxStore(Protocol):
    """Received SMS and delivery reports, and parts of long SMS still waiting for the rest."""

    @abstractmethod
    def inbox_add(
        self, records: list[InboxRecord], parts_done: list[tuple[str, str, int]]
    ) -> asyncio.Future[list[int]]:
        """Store received SMS (ids assigned), drop the parts they were joined from, count them."""

    @abstractmethod
    async def inbox_unpushed(self) -> list[InboxRecord]: ...

    @abstractmethod
    async def inbox_recent_reports(self, limit: int) -> list[InboxRecord]:
        """The newest ``limit`` delivery reports kept, newest first."""

    @abstractmethod
    def inbox_mark_pushed(self, ids: list[int]) -> asyncio.Future[None]: ...

    @abstractmethod
    async def inbox_page(self, first_id: int, limit: int, delete: bool) -> tuple[list[InboxRecord], int]:
        """Records from ``first_id`` (at most ``limit``, 0 = all), and the next id."""

    @abstractmethod
    def inbox_prune(self, keep: int) -> asyncio.Future[int]:
        """Delete the oldest already-pushed SMS beyond the newest ``keep``; how many.  Raw messages beyond
        the newest ``keep`` go too."""

    @abstractmethod
    def raw_add(self, record: RawRecord) -> asyncio.Future[int]:
        """Keep a raw received message; its id (the id it already has if this slot's module gave the
        same PDU before: a message read again after a crash is kept once)."""

    @abstractmethod
    async def raw_page(self, first_id: int, limit: int) -> tuple[list[RawRecord], int]:
        """Raw messages from ``first_id`` (at most ``limit``), and the next id."""

    @abstractmethod
    def raw_drop(self, ids: list[int] | None) -> asyncio.Future[int]:
        """Delete these raw messages (None: all); how many."""

    @abstractmethod
    def part_add(self, part: PartRecord) -> asyncio.Future[None]: ...

    @abstractmethod
    async def parts_waiting(self) -> list[PartRecord]: ...


class StatsStore(Protocol):
    """Per-minute counters of SMS and calls."""

    @abstractmethod
    async def sms_counts(self, since_minute: int | None) -> dict[tuple[int, int], dict[str, int]]:
        """Per (port, slot): received/sent_ok/sent_failed since a minute (None: ever) and con_failed."""

    @abstractmethod
    async def sms_per_minute(self, since_minute: int, size: DeviceSize) -> dict[int, tuple[int, int, int]]:
        """Per minute since ``since_minute`` (the minutes with any): (sent_ok, sent_failed, received)
        summed over every slot of a device of ``size``."""

    @abstractmethod
    def call_add(self, call: CallRecord) -> asyncio.Future[None]: ...

    @abstractmethod
    async def call_counts(self, since_minute: int | None) -> dict[tuple[int, int], dict[str, float]]: ...

    @abstractmethod
    def stats_prune(self, before_minute: int) -> asyncio.Future[None]: ...


class Store(DeviceStateStore, OutboxStore, TaskStore, InboxStore, StatsStore, Protocol):
    """Every role, and the store's own life cycle."""

    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...
