"""What the dashboard shows of a device, and the narrow interface a device kind gives it (``Board``).

The page handlers and the templates see only what is here: plain views of ports and slots, the
day's figures, the push queue and tasks, read through the ``Board`` Protocols.  A gateway's board
is ``gateway_board.GatewayBoard``; a fleet of gateways can give its own (its members' ports in
fleet numbers, each port's ``served_by`` naming the member) and every page works unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ...gateway.activity import TaskSummary
from ...protocol.codes import PortState
from ...protocol.ports import DeviceSize


@dataclass(frozen=True)
class StateClass:
    """A group of port state codes that look alike on a page (one colour, one count on the overview)."""

    key: str  # the CSS class (c-KEY) and the name tests and scripts use
    label: str
    codes: frozenset[int]
    meaning: str


# Every code of the 0-16 table (spec 4.1.4) in exactly one class; a code outside it (a fleet
# member's newer firmware) is "other".
STATE_CLASSES = (
    StateClass("registered", "Registered", frozenset({3, 4, 13, 14}), "on the network: sends and receives"),
    StateClass("starting", "Starting", frozenset({2, 11, 15}), "card read, registering"),
    StateClass("idle", "Idle", frozenset({1}), "a SIM that is not in use"),
    StateClass("nosim", "No SIM", frozenset({0}), "empty slot"),
    StateClass("locked", "Locked", frozenset({7, 8, 12}), "by the user, the device or the operator"),
    StateClass("failing", "Failing", frozenset({5, 6, 9}), "no balance, refused by the network, card error"),
    StateClass("lost", "Lost", frozenset({16}), "the module does not answer"),
)
OTHER_CLASS = StateClass("other", "Other", frozenset(), "a state code outside the table")
_CLASS_OF = {code: c for c in STATE_CLASSES for code in c.codes}


def state_class(code: int) -> StateClass:
    return _CLASS_OF.get(code, OTHER_CLASS)


def signal_bars(signal: int) -> int:
    """0-4 bars from the 0-31 signal (99: unknown), as phones show it."""
    if signal <= 0 or signal >= 99:
        return 0
    return min(4, 1 + signal // 8)


@dataclass(frozen=True)
class SlotView:
    name: str  # "1.02", as the device names it in pushes
    number: int  # the slot within its port
    state: int
    state_text: str
    active: bool
    present: bool
    locked: bool
    iccid: str
    imsi: str
    sim_number: str
    operator: str
    balance: str

    @property
    def cls(self) -> StateClass:
        return state_class(self.state)

    @property
    def locked_aside(self) -> bool:
        """Locked, though its state does not say so (12): a slot of a port locked as a whole."""
        return self.locked and self.state != PortState.USER_LOCKED

    def about(self, signal: int) -> str:
        """What hovering its cell says: state, SIM number, and for the active slot the module's signal."""
        parts = [f"{self.name}: {self.state} {self.state_text}"]
        if self.sim_number:
            parts.append(self.sim_number)
        if self.active:
            parts.append(f"signal {signal}/31, active")
        if self.locked_aside:
            parts.append("locked")
        return ", ".join(parts)


@dataclass(frozen=True)
class PortView:
    number: int
    active_slot: int
    state: int  # the active slot's
    state_text: str
    ok: bool  # the active slot can send
    signal: int  # 0-31, 99 unknown
    led: bool
    served_by: str  # the driver's name on a gateway; a fleet names the member
    sent_today: int
    failed_today: int
    slots: tuple[SlotView, ...]
    paused: str = ""  # why the port takes no SMS for now (its sends failed in a row), or ""

    @property
    def bars(self) -> int:
        return signal_bars(self.signal)

    @property
    def cls(self) -> StateClass:
        return state_class(self.state)


@dataclass(frozen=True)
class Minute:
    start: int  # unix time of the minute's first second
    sent: int
    failed: int
    received: int


@dataclass(frozen=True)
class PushLine:
    """One push destination: what waits for it, what died, and its last failure."""

    dest: str  # the URL without user:password
    queued: int
    dead: int
    oldest_age: float | None  # seconds the oldest waiting push has waited
    attempts: int  # failed tries of the push at the head
    next_retry_in: float | None  # seconds until the head is tried again, while backing off
    last_error: str
    last_error_at: float  # 0: none since the start


@dataclass(frozen=True)
class Overview:
    now: float
    day_start: float  # when "today" began (local midnight of the device's time zone)
    started: float  # when the gateway started: failure reasons are known from then on
    sent: int
    failed: int
    received: int
    failures: tuple[tuple[str, int], ...]  # (reason, SMS) today, most frequent first
    failures_unexplained: int  # failed today before ``started``: counted, reasons not kept
    minutes: tuple[Minute, ...]  # the last hour, oldest first, the current minute last
    port_states: tuple[tuple[StateClass, int], ...]  # ports (by their active slot) per class
    ports: int
    queue_unsent: int  # SMS of open tasks not yet handed to a module
    queue_tasks: int
    queue_oldest: float  # seconds the oldest open task with unsent SMS has waited
    pushes: tuple[PushLine, ...]


@dataclass(frozen=True)
class RecipientRow:
    idx: int
    number: str
    port: str
    state: str  # waiting, in a module, sent, failed
    reason: str  # why it failed: the carrier's reason where the network gave one
    ts: int


class Refused(Exception):
    """An action the device refused, with the reason a person reads."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PortsBoard(Protocol):
    @property
    def size(self) -> DeviceSize: ...

    async def ports(self, numbers: list[int] | None = None) -> list[PortView]:
        """Every port, or those numbered (the ones that exist), in order."""

    async def port(self, number: int) -> PortView | None: ...

    def watch(self, changed: Callable[[int], None]) -> None:
        """Call ``changed(port number)`` whenever anything shown of that port changes: a slot's state or
        records, an SMS it sent, failed or received."""

    async def command(self, op: str, ports: str) -> int:
        """Run a port command (lock, unlock, switch, reset, ledon, ledoff) as ``goip_send_cmd`` does;
        the first port it acts on, or ``Refused``."""


class OverviewBoard(Protocol):
    async def overview(self) -> Overview: ...

    async def pushes(self) -> list[PushLine]: ...


class TasksBoard(Protocol):
    def tasks(self) -> list[TaskSummary]:
        """Open tasks and the recently finished ones, newest first."""

    async def task(self, task_id: int, tid: str = "") -> TaskSummary | None:
        """A task by its id on this device (``tid`` helps find one only the disk still keeps)."""

    async def find(self, tid: str) -> list[TaskSummary]:
        """Tasks with this tid (tids may be reused once a task is closed), newest first."""

    async def recipients(self, task: TaskSummary, limit: int) -> list[RecipientRow]:
        """The first ``limit`` recipients of each lane with their outcome."""

    async def change(self, op: str, tid: str) -> None:
        """pause, resume or remove a task, as ``goip_pause_sms.html`` and the others do."""


class Board(PortsBoard, OverviewBoard, TasksBoard, Protocol):
    """Everything the dashboard reads of a device."""

    @property
    def open_door(self) -> str | None:
        """Why anyone who reaches the device could use it (said on every page), or None."""
