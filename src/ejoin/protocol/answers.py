"""What the device's endpoints answer, exactly as they emit it (the operations declare them).

Beside ``messages.py`` (status, commands, the generic answers): the answers of sending,
receiving, statistics, eSIM, USSD and AT passthrough, the push queue and the health check.
The SDK reads the same shapes leniently with its own models (``client/models.py``).
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec

T = TypeVar("T")

# --- sending (spec 6.3) --------------------------------------------------------------


class TaskStatusItem(msgspec.Struct, omit_defaults=True):
    tid: Any
    status: str
    reason: str = ""  # why a task was refused (not in the spec's sample: clients ignore it)


class TaskStatusReply(msgspec.Struct):
    code: int
    reason: str
    type: str
    status: list[TaskStatusItem]


class ResultsReply(msgspec.Struct, omit_defaults=True):
    code: int
    reason: str
    results: list[TaskStatusItem] | None = None


class QueuedTaskOut(msgspec.Struct, omit_defaults=True):
    tid: Any
    state: int
    from_: str = msgspec.field(name="from")
    to: str
    chs: str
    coding: int
    sms: str | msgspec.UnsetType = msgspec.UNSET


class TasksReply(msgspec.Struct):
    code: int
    reason: str
    total_num: int
    task_num: int
    tasks: list[QueuedTaskOut]


# --- receiving (spec 8) and what is kept raw ------------------------------------------


class InboxReply(msgspec.Struct):
    code: int
    reason: str
    ssrc: str
    sms_num: int
    next_sms: int
    data: list[list[Any]]


class RawMessage(msgspec.Struct):
    id: int
    port: str  # the slot that received it
    ts: int  # when it was read from the module (unix time)
    pdu: str  # hex, as the module gave it
    reason: str  # why it is kept raw


class RawInboxReply(msgspec.Struct):
    code: int
    reason: str
    num: int
    next: int  # the id to ask for next
    raw: list[RawMessage]


class RawDropReply(msgspec.Struct):
    code: int
    reason: str
    count: int


# --- statistics (spec 9, 10) ------------------------------------------------------------


class SmsStat(msgspec.Struct):
    port: int
    slot: int
    received: int
    sent: int
    sent_ok: int
    sent_failed: int
    con_failed: int
    unsent: int
    sending: int


class CallStat(msgspec.Struct):
    port: int
    slot: int
    calls: int
    alerted: int
    connected: int
    con_failed: int
    nc: str
    pdd: int
    acd: int
    asr: int
    tcd: int
    act_tcd: int


class StatsReply(msgspec.Struct, Generic[T]):
    """``StatsReply[SmsStat]`` or ``StatsReply[CallStat]`` (a fleet passes its members' rows on)."""

    code: int
    reason: str
    count: int
    stats: list[T]


# --- eSIM (spec 12) -----------------------------------------------------------------------


class EsimResult(msgspec.Struct):
    port: int
    slot: int
    status: int


class Profile(msgspec.Struct):
    slot: int
    enabled: int
    iccid: str
    ac: str
    cc: str
    provider: str
    exist: int
    exust: int  # the spec table's spelling (DECISIONS.md)
    op: int
    status: int
    reason: str


class EuiccInfo(msgspec.Struct):
    port: int
    eid: str
    esim_state: int
    profiles: list[Profile]


class EsimReply(msgspec.Struct, Generic[T]):
    """``EsimReply[EuiccInfo]`` (the list) or ``EsimReply[EsimResult]`` (a write or delete).
    The table names the array ``ports``, the sample ``stats``: both are emitted (DECISIONS.md)."""

    code: int
    reason: str
    count: int
    ports: list[T]
    stats: list[T]


# --- USSD and AT passthrough ----------------------------------------------------------------


class UssdAnswerReply(msgspec.Struct):
    code: int
    reason: str
    port: str
    resp: str
    session: int  # 1: the network awaits a reply


class AtAnswerReply(msgspec.Struct):
    code: int
    reason: str
    port: str
    resp: str  # the module's raw answer lines joined by CR LF, final result included


# --- the push queue (ejoin) ----------------------------------------------------------------


class PushDestination(msgspec.Struct):
    url: str
    queued: int  # pushes waiting to be delivered
    dead: int  # pushes in the dead-letter table
    oldest_age: float | None  # seconds since the oldest waiting push was queued
    attempts: int  # failed tries of the push at the head of the queue
    last_error: str
    next_retry_in: float | None  # seconds until the next try, while backing off
    oldest_dead_age: float | None  # seconds since the oldest dead push was queued
    last_died_age: float | None  # seconds since a push of this destination last went dead


class PushesReply(msgspec.Struct):
    code: int
    reason: str
    window: float  # seconds a push is retried before it goes dead (push_retry_window)
    queued: int
    dead: int
    destinations: list[PushDestination]


class PushChangeReply(msgspec.Struct):
    code: int
    reason: str
    count: int  # pushes replayed, or dropped
    destinations: dict[str, int]  # per destination URL


# --- secure sessions (spec 3) and health -------------------------------------------------------


class SessionReply(msgspec.Struct, omit_defaults=True):
    """crypt_sess.json: a session opened (``session``, ``expires``), or refused (``code`` and ``desc``)."""

    code: int
    desc: str
    session: str | msgspec.UnsetType = msgspec.UNSET
    expires: int | msgspec.UnsetType = msgspec.UNSET


class PortCount(msgspec.Struct):
    total: int
    registered: int


class HealthReply(msgspec.Struct):
    """/healthz: ``ok`` (HTTP 200) or ``degraded`` (HTTP 503) with each problem in a sentence."""

    status: str
    problems: list[str]
    ports: PortCount


# --- a fleet's members (ejoin fleet) ------------------------------------------------------------


class FleetMember(msgspec.Struct):
    """A member as the fleet shows it (never its password)."""

    name: str
    url: str
    username: str
    ports: str  # its range of the fleet's ports, "1-32"
    secure: bool
    crypt: str
    up: bool
    down_since: float | None
    registered: int  # its ports registered now
    sent_twice: int  # SMS it sent after the fleet had withdrawn them and given them to another member
    problem: str = ""  # why it is down, in words
    removed: bool = False  # removed (forced) but listed: it sent SMS twice after its removal


class MembersReply(msgspec.Struct):
    code: int
    reason: str
    members: list[FleetMember]


class MemberReply(msgspec.Struct):
    code: int
    reason: str
    member: FleetMember


class WithdrawnReply(msgspec.Struct):
    code: int
    reason: str
    withdrawn: int  # its unsent SMS given to other members
