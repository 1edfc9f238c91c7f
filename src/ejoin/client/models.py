"""What the SDK returns: typed, and tolerant of what real devices send.

Real devices differ from the spec's examples: ``st`` as an integer or as text
(``"3 OK"``), ``max-slot`` or ``max-slots``, extra fields in recv-sms rows.
Decoding accepts all of them; the values are normalised.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import msgspec

from ..protocol.codes import PortState, TaskStatus


def state_of(value: Any) -> int:
    """``3``, ``"3"``, ``"3 OK"`` or ``"3 Registered"`` -> 3 (-1 when unreadable)."""
    if isinstance(value, bool):
        return -1
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        head = value.strip().split(" ", 1)[0]
        if head.lstrip("-").isdigit():
            return int(head)
    return -1


def status_code(text: Any) -> int:
    """``"0 OK"`` -> 0; ``"13 Duplicated TaskId"`` -> 13."""
    return state_of(text)


class PortStatus(msgspec.Struct, kw_only=True):
    port: str = ""
    sim: str = ""
    seq: int = 0
    st: Any = None
    status: Any = None
    imei: str = ""
    iccid: str = ""
    imsi: str = ""
    sn: str = ""
    opr: str = ""
    bal: Any = "0.00"
    sig: int = 0
    active: int = 0
    inserted: int = 0
    slot_active: int = 1
    led: int = 1

    @property
    def state(self) -> int:
        return state_of(self.st if self.st is not None else self.status)

    @property
    def state_text(self) -> str:
        try:
            return PortState(self.state).label
        except ValueError:
            return str(self.st if self.st is not None else self.status)

    @property
    def balance(self) -> float:
        try:
            return float(self.bal)
        except (TypeError, ValueError):
            return 0.0


class DevStatus(msgspec.Struct, kw_only=True):
    type: str = "dev-status"
    seq: int = 0
    expires: int = 0
    mac: str = ""
    ip: str = ""
    ver: str = ""
    max_ports: int = msgspec.field(default=0, name="max-ports")
    max_slot: int | None = msgspec.field(default=None, name="max-slot")
    max_slots_: int | str | None = msgspec.field(default=None, name="max-slots")
    status: list[PortStatus] = []

    @property
    def max_slots(self) -> int:
        if self.max_slot is not None:
            return self.max_slot
        try:
            return int(self.max_slots_) if self.max_slots_ is not None else 1
        except ValueError:
            return 1


class TaskResult(msgspec.Struct, omit_defaults=True):
    tid: Any
    status: str
    reason: str = ""  # why the task was refused (ejoin gateways; other devices send none)

    @property
    def code(self) -> TaskStatus | int:
        c = status_code(self.status)
        try:
            return TaskStatus(c)
        except ValueError:
            return c

    @property
    def ok(self) -> bool:
        return status_code(self.status) == 0


class TaskReport(msgspec.Struct, kw_only=True):
    tid: Any
    sending: int = 0
    sent: int = 0
    failed: int = 0
    unsent: int = 0
    sdr: list[list[Any]] = []
    fdr: list[list[Any]] = []

    @property
    def done(self) -> int:
        return self.sent + self.failed


class QueuedTask(msgspec.Struct, kw_only=True, rename={"from_": "from"}):
    tid: Any
    state: int = 0
    from_: str = ""
    to: str = ""
    chs: str = "utf8"
    coding: int = 0
    sms: str | None = None


class TaskPage(msgspec.Struct, kw_only=True):
    total_num: int = 0
    task_num: int = 0
    tasks: list[QueuedTask] = []


class DeliveryReport(msgspec.Struct):
    code: int
    scts: str

    @property
    def delivered(self) -> bool:
        return self.code == 0


class InboundSms(msgspec.Struct):
    """A recv-sms / goip_get_sms row, decoded."""

    flag: int
    port: str
    ts: int
    sender: str
    recipient: str
    content: str
    text: str | None = None  # SMS: the decoded text
    delivery: DeliveryReport | None = None  # flag 1: the report
    incomplete: str = ""
    id: int | None = None

    @classmethod
    def from_row(cls, row: list[Any], id: int | None = None) -> InboundSms:
        cells = list(row) + [""] * (6 - len(row))
        flag = state_of(cells[0])
        content = str(cells[5])
        sms = cls(
            flag=flag,
            port=str(cells[1]),
            ts=state_of(cells[2]),
            sender=str(cells[3]),
            recipient=str(cells[4]),
            content=content,
            id=id,
        )
        extra = [c for c in row[6:] if isinstance(c, str) and "/" in c]
        sms.incomplete = extra[0] if extra else ""
        if flag == 1:
            code, _, scts = content.partition(" ")
            sms.delivery = DeliveryReport(state_of(code), scts)
        else:
            try:
                sms.text = base64.b64decode(content, validate=True).decode("utf-8")
            except (binascii.Error, ValueError):
                sms.text = content  # some firmware sends plain text
        return sms


class InboxPage(msgspec.Struct, kw_only=True):
    ssrc: str = ""
    sms_num: int = 0
    next_sms: int = 1
    data: list[list[Any]] = []

    @property
    def messages(self) -> list[InboundSms]:
        first = self.next_sms - len(self.data)
        return [InboundSms.from_row(r, id=first + i) for i, r in enumerate(self.data)]


class SmsStat(msgspec.Struct, kw_only=True):
    port: int
    slot: int
    received: int = 0
    sent: int = 0
    sent_ok: int = 0
    sent_failed: int = 0
    con_failed: int = 0
    unsent: int = 0
    sending: int = 0


class CallStat(msgspec.Struct, kw_only=True):
    port: int
    slot: int
    calls: int = 0
    alerted: int = 0
    connected: int = 0
    con_failed: int = 0
    nc: str = "0/0"
    pdd: int = 0
    acd: int = 0
    asr: int = 0
    tcd: int = 0
    act_tcd: int = 0


class EsimProfile(msgspec.Struct, kw_only=True):
    slot: int
    enabled: int = 0
    iccid: str = ""
    ac: str = ""
    cc: str = ""
    provider: str = ""
    exist: int | None = None
    exust: int | None = None
    op: int = 0
    status: int = 0
    reason: str = ""

    @property
    def written(self) -> bool:
        return bool(self.exist if self.exist is not None else self.exust)


class Euicc(msgspec.Struct, kw_only=True):
    port: int
    eid: str = ""
    esim_state: int = 0
    profiles: list[EsimProfile] = []


class EsimResult(msgspec.Struct):
    port: int
    slot: int
    status: int


class PushDestination(msgspec.Struct, kw_only=True):
    """One destination of an ejoin gateway's push queue (GET /ejoin/pushes)."""

    url: str
    queued: int = 0
    dead: int = 0
    oldest_age: float | None = None
    attempts: int = 0
    last_error: str = ""
    next_retry_in: float | None = None
    oldest_dead_age: float | None = None
    last_died_age: float | None = None


class PushQueue(msgspec.Struct, kw_only=True):
    window: float = 0.0  # seconds a push is retried before it goes to the dead-letter table
    queued: int = 0
    dead: int = 0
    destinations: list[PushDestination] = []


class UssdAnswer(msgspec.Struct, kw_only=True):
    """The network's answer to a USSD code or menu reply (goip_send_ussd.html)."""

    port: str = ""  # the slot that asked ("1.01")
    text: str = ""
    session_open: bool = False  # the network awaits a reply: the next ussd on this port continues it

    @classmethod
    def from_answer(cls, answer: dict[str, Any]) -> UssdAnswer:
        session = answer.get("session", 0)
        return cls(
            port=str(answer.get("port", "")),
            text=str(answer.get("resp", "")),
            session_open=str(session).strip().lower() in ("1", "true"),
        )


class AtAnswer(msgspec.Struct, kw_only=True):
    """A module's raw answer to one AT command line (goip_send_at.html)."""

    port: str = ""
    text: str = ""  # its lines joined by CR LF, the final result last

    @classmethod
    def from_answer(cls, answer: dict[str, Any]) -> AtAnswer:
        return cls(port=str(answer.get("port", "")), text=str(answer.get("resp", "")))

    @property
    def lines(self) -> list[str]:
        return [line for line in self.text.replace("\r\n", "\n").split("\n") if line.strip()]

    @property
    def ok(self) -> bool:
        """The module's final result was OK (not ERROR, +CME ERROR: ...)."""
        lines = self.lines
        return bool(lines) and lines[-1].strip() == "OK"
