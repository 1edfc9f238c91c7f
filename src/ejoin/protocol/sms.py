"""Send tasks (spec 6.3.1): what goip_post_sms takes, and its validation.

Each task of a request is decoded and checked on its own, so one bad task gets
its code (2 Invalid Port, 8 SMS expected, ...) and the others are still taken.
A valid task becomes a ``TaskSpec``: everything the engine needs, with the
spec's defaults applied, and nothing left to interpret.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from . import values
from .codes import TaskStatus
from .messages import WireError, decode_lenient
from .numbers import PHONE_PATTERN, NumberError, phone_number
from .ports import DeviceSize, PortAddress, PortSpecError, parse_port_spec
from .text import GSM7_MULTI, TextError, decode_content, segment

__all__ = [
    "SendSmsRequest",
    "SendTaskIn",
    "TaskSpec",
    "LaneSpec",
    "TaskRejected",
    "validate_task",
    "echo_tid",
    "request_int",
    "request_url",
    "MAX_SMS_PARTS",
    "parse_attachments",
    "MAX_ATTACHMENTS",
    "MAX_ATTACHMENT_BYTES",
    "ATTACHMENT_TYPES",
]

MAX_ATTACHMENTS = 5
MAX_ATTACHMENT_BYTES = 100 * 1024
ATTACHMENT_TYPES = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "txt": "text/plain",
    "mp3": "audio/mpeg",
}
TID_MAX = 2**63 - 1
# A concatenated SMS numbers its parts in one octet (GSM 03.40 UDH), so 255 is the most a text can take.
MAX_SMS_PARTS = 255

Scalar = str | int | float | bool | None


# Fields decode anything (a task is checked on its own, with its own refusal); what clients should
# send is said for /openapi.json.
AnyInt = Annotated[Any, Meta(extra_json_schema={"type": "integer"})]
AnyText = Annotated[Any, Meta(extra_json_schema={"type": "string"})]
AnyFlag = Annotated[Any, Meta(extra_json_schema={"type": "integer", "enum": [0, 1]})]


class SendTaskIn(msgspec.Struct):
    """A task as clients send it: every field optional, numbers may be strings."""

    tid: AnyInt = None
    from_: AnyText = msgspec.field(default=None, name="from")
    to: AnyText = None
    to_all: AnyFlag = None
    sms: AnyText = None
    chs: Annotated[Any, Meta(extra_json_schema={"type": "string", "enum": ["utf8", "base64"]})] = None
    coding: Annotated[Any, Meta(extra_json_schema={"type": "integer", "enum": [0, 1, 2]})] = None
    smstype: Annotated[Any, Meta(extra_json_schema={"type": "integer", "enum": [0, 1, 2]})] = None
    smstitle: AnyText = None
    to_title_array: Annotated[
        Any, Meta(extra_json_schema={"type": "array", "items": {"type": "array", "items": {"type": "string"}}})
    ] = None
    attachments: AnyText = None
    smsc: AnyText = None
    smc: AnyText = None  # v2.1.0 spelling of smsc
    intvl: AnyInt = None
    tmo: AnyInt = None
    sdr: AnyFlag = None
    fdr: AnyFlag = None
    dr: AnyFlag = None
    sr_prd: AnyInt = None
    sr_cnt: AnyInt = None


# Tasks are decoded one by one (Raw here); each is documented as a SendTaskIn.
_TASK = {**msgspec.json.schema(SendTaskIn)["$defs"]["SendTaskIn"], "required": ["tid", "to", "sms"]}


class SendSmsRequest(msgspec.Struct):
    type: Annotated[Any, Meta(extra_json_schema={"type": "string", "enum": ["send-sms"]})] = None
    task_num: AnyInt = None
    tasks: Annotated[list[msgspec.Raw] | None, Meta(extra_json_schema={"items": _TASK})] = None
    sr_url: AnyText = None
    sr_cnt: AnyInt = None
    sr_prd: AnyInt = None
    sms_url: AnyText = None
    sms_cnt: AnyInt = None
    sms_prd: AnyInt = None


class LaneSpec(msgspec.Struct, array_like=True):
    """Who may send a lane's SMS: any port (``ports`` empty) or the listed ones."""

    ports: list[str] = []  # dotted port addresses ("3", "1.02")


class TaskSpec(msgspec.Struct):
    tid: int
    tid_echo: int | str  # echoed in the type it was sent
    recipients: list[str]
    lanes: list[LaneSpec]
    sms: str  # as sent (for goip_get_tasks)
    text: str  # decoded content
    chs: str
    coding: int
    smstype: int
    from_text: str
    smstitle: str = ""
    titles: list[str] | None = None  # smstype 2: a subject per recipient
    attachments: str = ""
    smsc: str = ""
    intvl_ms: int = 0
    tmo_s: int = 30
    sdr: bool = False
    fdr: bool = True
    dr: bool = False
    sr_prd: int = 60
    sr_cnt: int = 10


class TaskRejected(Exception):
    def __init__(self, status: TaskStatus, why: str) -> None:
        super().__init__(why)
        self.status = status
        self.why = why


def _int(
    value: Any,
    name: str,
    default: int,
    *,
    lo: int | None = None,
    hi: int | None = None,
    bad: TaskStatus = TaskStatus.INVALID_CMD,
) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise TaskRejected(bad, f"{name} must be a number")
    try:
        n = int(value) if not isinstance(value, float) or value.is_integer() else None
        if n is None:
            raise ValueError
    except (TypeError, ValueError):
        raise TaskRejected(bad, f"{name} must be a whole number, not {str(value)[:20]!r}") from None
    if (lo is not None and n < lo) or (hi is not None and n > hi):
        span = f"at least {lo}" if hi is None else f"{lo} to {hi}" if lo is not None else f"at most {hi}"
        raise TaskRejected(bad, f"{name} {n} is out of range ({span})")
    return n


def _switch(value: Any, name: str, default: int) -> int:
    """0 or 1 where clients send other numbers for "on": any non-zero number (``"to_all": 8``, the
    port number) and ``true`` mean 1. Text that is not a number is still refused."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and value.strip():
        try:
            value = int(value.strip())
        except ValueError:
            try:
                value = float(value.strip())
            except ValueError:
                raise TaskRejected(TaskStatus.INVALID_CMD, f"{name} must be a number, not {value[:20]!r}") from None
    if isinstance(value, (int, float)):
        if value != value:  # NaN is no number a client meant
            raise TaskRejected(TaskStatus.INVALID_CMD, f"{name} must be a number")
        return 1 if value else 0
    if value is None or value == "":
        return default
    raise TaskRejected(TaskStatus.INVALID_CMD, f"{name} must be a number, not {str(value)[:20]!r}")


def _text(value: Any, name: str) -> str:
    if value is None:
        return ""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    raise TaskRejected(TaskStatus.INVALID_CMD, f"{name} must be a string")


def parse_tid(value: Any) -> tuple[int, int | str]:
    if value is None or value == "" or isinstance(value, bool):
        raise TaskRejected(TaskStatus.TID_EXPECTED, "tid is missing")
    if isinstance(value, int):
        tid = value
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        tid = int(value.strip())
    else:
        raise TaskRejected(TaskStatus.TID_EXPECTED, f"tid must be an integer, not {str(value)[:20]!r}")
    if not -TID_MAX - 1 <= tid <= TID_MAX:
        raise TaskRejected(TaskStatus.TID_EXPECTED, "tid must fit in 64 bits")
    return tid, value


def echo_tid(value: Any) -> int | float | str | None:
    """A tid as it is echoed in a task status: the value sent, whatever its JSON type (null if not a scalar)."""
    return value if isinstance(value, (int, float, str)) and not isinstance(value, bool) else None


# All recipients of a task checked in one pass of the regex engine (a million numbers take milliseconds);
# only when that fails are they walked one by one to name the first bad one.
_ALL_PHONE_NUMBERS = re.compile(rf"{PHONE_PATTERN}(?:,{PHONE_PATTERN})*", re.ASCII)


def check_recipients(numbers: list[str]) -> None:
    """TaskRejected (9 TO expected) naming the first recipient that is not a phone number, and how many are not."""
    joined = ",".join(numbers)
    if joined.count(",") == len(numbers) - 1 and _ALL_PHONE_NUMBERS.fullmatch(joined):
        return
    bad: list[tuple[int, str]] = []
    for i, number in enumerate(numbers):
        try:
            phone_number(number)
        except NumberError as exc:
            bad.append((i, str(exc)))
    first, why = bad[0]
    more = f" (and {len(bad) - 1} more recipients)" if len(bad) > 1 else ""
    raise TaskRejected(TaskStatus.TO_EXPECTED, f"recipient {first + 1}: {why}{more}")


def _check_length(text: str, coding: int) -> None:
    """TaskRejected (15 Invalid CMD) for a text longer than MAX_SMS_PARTS parts."""
    # Every character costs at least one unit and no part holds more than 153, so a longer text is refused
    # without segmenting it (a 15 MB text must not cost a walk over every character).
    parts = len(text) // GSM7_MULTI + 1 if len(text) > MAX_SMS_PARTS * GSM7_MULTI else segment(text, coding).count
    if parts > MAX_SMS_PARTS:
        raise TaskRejected(
            TaskStatus.INVALID_CMD,
            f"sms is {len(text)} characters, more than {MAX_SMS_PARTS} SMS parts; "
            f"a text is at most {MAX_SMS_PARTS} parts (about {MAX_SMS_PARTS * GSM7_MULTI} GSM-7 characters, "
            f"{MAX_SMS_PARTS * 67} in UCS-2)",
        )


def _recipients(to: Any) -> list[str]:
    if to is None:
        return []
    if isinstance(to, (int, str)) and not isinstance(to, bool):
        items = str(to).split(",")
    elif isinstance(to, list) and all(isinstance(x, (int, str)) and not isinstance(x, bool) for x in to):
        items = [str(x) for x in to]
    else:
        raise TaskRejected(TaskStatus.TO_EXPECTED, "to must be a string of numbers separated by ','")
    return [n for n in (x.strip() for x in items) if n]


def parse_attachments(text: str) -> list[tuple[str, bytes]]:
    """``"txt zsSxvg==;jpg 4AAQ..."`` into (type, content) pairs; TaskRejected on misuse."""
    out: list[tuple[str, bytes]] = []
    total = 0
    for i, item in enumerate(x for x in text.split(";") if x.strip()):
        kind, _, data = item.strip().partition(" ")
        kind = kind.lower()
        if kind not in ATTACHMENT_TYPES:
            raise TaskRejected(
                TaskStatus.MMS_ATTACHMENTS_EXPECTED,
                f"attachment {i + 1}: type {kind[:10]!r} is not jpg, gif, txt or mp3",
            )
        try:
            content = base64.b64decode(data.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise TaskRejected(
                TaskStatus.MMS_ATTACHMENTS_EXPECTED, f"attachment {i + 1}: content is not base64"
            ) from None
        total += len(content)
        out.append((kind, content))
    if len(out) > MAX_ATTACHMENTS:
        raise TaskRejected(TaskStatus.TOO_MANY_MMS_ATTACHMENTS, f"{len(out)} attachments, at most {MAX_ATTACHMENTS}")
    if total > MAX_ATTACHMENT_BYTES:
        raise TaskRejected(
            TaskStatus.MMS_ATTACHMENTS_OVERLIMIT, f"attachments total {total} bytes, at most {MAX_ATTACHMENT_BYTES}"
        )
    return out


def _lanes(from_: Any, to_all: int, size: DeviceSize) -> tuple[list[LaneSpec], str]:
    if from_ is None or from_ == "" or from_ == []:
        return [LaneSpec([])], ""
    spec = ",".join(str(x) for x in from_) if isinstance(from_, list) else from_
    if isinstance(spec, bool) or not isinstance(spec, (str, int)):
        raise TaskRejected(TaskStatus.INVALID_PORT, "from must name ports")
    try:
        addrs = parse_port_spec(spec, size)
    except PortSpecError as exc:
        raise TaskRejected(TaskStatus.INVALID_PORT, str(exc)) from None
    names = [a.dotted for a in addrs]
    if to_all:
        return [LaneSpec([n]) for n in names], str(spec)
    return [LaneSpec(names)], str(spec)


def _title_pairs(items: list[Any]) -> list[Any]:
    """to_title_array items as [number, title] pairs.

    v2.4.0 writes ``[["number","title"], ...]``; v2.1.0 wrote object pairs, ``[{"number":"title"}, ...]``,
    wrapped once more in its example (``[[{...}, {...}]]``).  Both are read; only the v2.4.0 form is emitted.
    """
    if len(items) == 1 and isinstance(items[0], list) and items[0] and all(isinstance(x, dict) for x in items[0]):
        items = items[0]
    out: list[Any] = []
    for item in items:
        if isinstance(item, dict) and item:
            out.extend([number, title] for number, title in item.items())
        else:
            out.append(item)
    return out


def validate_task(task: SendTaskIn, size: DeviceSize, *, max_recipients: int) -> TaskSpec:
    tid, tid_echo = parse_tid(task.tid)
    smstype = _int(task.smstype, "smstype", 0, lo=0, hi=2)
    coding = _int(task.coding, "coding", 0, lo=0, hi=2)
    to_all = _switch(task.to_all, "to_all", 1)
    chs = _text(task.chs, "chs") or "utf8"
    sms = _text(task.sms, "sms")
    titles: list[str] | None = None
    if smstype == 2:
        pairs = task.to_title_array
        if not isinstance(pairs, list) or not pairs:
            raise TaskRejected(TaskStatus.MMS_TITLE_EXPECTED, "smstype 2 needs to_title_array [[number, title], ...]")
        recipients, titles = [], []
        for pair in _title_pairs(pairs):
            if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, (str, int)) for x in pair)):
                raise TaskRejected(TaskStatus.MMS_TITLE_EXPECTED, "each to_title_array item is [number, title]")
            recipients.append(str(pair[0]).strip())
            titles.append(str(pair[1]))
        if not all(recipients):
            raise TaskRejected(TaskStatus.TO_EXPECTED, "an empty number in to_title_array")
    else:
        recipients = _recipients(task.to)
    if not recipients:
        raise TaskRejected(TaskStatus.TO_EXPECTED, "to is missing")
    if len(recipients) > max_recipients:
        raise TaskRejected(TaskStatus.TOO_MANY_TASK, f"{len(recipients)} recipients, at most {max_recipients}")
    check_recipients(recipients)
    attachments = _text(task.attachments, "attachments")
    if smstype:
        parsed = parse_attachments(attachments)
        if not parsed and not sms:
            raise TaskRejected(TaskStatus.MMS_ATTACHMENTS_EXPECTED, "an MMS needs attachments or sms text")
    elif task.sms is None or sms == "":
        raise TaskRejected(TaskStatus.SMS_EXPECTED, "sms is missing")
    try:
        text = decode_content(sms, chs)
    except TextError as exc:
        raise TaskRejected(TaskStatus.SMS_EXPECTED, str(exc)) from None
    if not smstype:
        _check_length(text, coding)
    lanes, from_text = _lanes(task.from_, to_all, size)
    sr_cnt = _int(task.sr_cnt, "sr_cnt", 10, lo=-(2**31), hi=2**31)
    return TaskSpec(
        tid=tid,
        tid_echo=tid_echo,
        recipients=recipients,
        lanes=lanes,
        sms=sms,
        text=text,
        chs=chs,
        coding=coding,
        smstype=smstype,
        from_text=from_text,
        smstitle=_text(task.smstitle, "smstitle"),
        titles=titles,
        attachments=attachments,
        smsc=_text(task.smsc if task.smsc is not None else task.smc, "smsc"),  # smc: v2.1.0's name
        intvl_ms=_int(task.intvl, "intvl", 0, lo=0, hi=86_400_000),
        tmo_s=_int(task.tmo, "tmo", 30, lo=1, hi=86_400),
        sdr=bool(_int(task.sdr, "sdr", 0, lo=0, hi=1)),
        fdr=bool(_int(task.fdr, "fdr", 1, lo=0, hi=1)),
        dr=bool(_int(task.dr, "dr", 0, lo=0, hi=1)),
        sr_prd=_int(task.sr_prd, "sr_prd", 60, lo=0, hi=86_400),
        sr_cnt=sr_cnt if sr_cnt >= 1 else 10,
    )


def request_int(value: Any, name: str, default: int) -> int:
    """A request-level count (sr_cnt, sms_cnt: 0 to 10,000) or period (sr_prd, sms_prd: 0 to a day).

    TaskRejected (15 Invalid CMD) otherwise: a request-level option applies to every task of the request,
    so each of them is refused with this reason.
    """
    if value is None or value == "":
        return default
    check = values.period if name.endswith("_prd") else values.count
    try:
        return check(value)
    except values.ValueRefused as exc:
        raise TaskRejected(TaskStatus.INVALID_CMD, f"request-level {name}: {exc}") from None


def request_url(value: Any, name: str) -> str:
    """A request-level push URL (sr_url, sms_url): "" when absent; TaskRejected as ``request_int``."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TaskRejected(TaskStatus.INVALID_CMD, f"request-level {name} must be a URL, not {str(value)[:20]!r}")
    try:
        return values.push_url(value)
    except values.ValueRefused as exc:
        raise TaskRejected(TaskStatus.INVALID_CMD, f"request-level {name}: {exc}") from None


class _Tid(msgspec.Struct):
    tid: Any = None


def tid_of_raw(raw: msgspec.Raw | bytes) -> int | float | str | None:
    """The tid of a task that may not decode as a task at all (to answer it by tid)."""
    try:
        tid = decode_lenient(bytes(raw), _Tid).tid
    except WireError:
        return None
    return echo_tid(tid)


def lane_allows(lane: LaneSpec, addr: PortAddress) -> bool:
    """Whether the active slot ``addr`` of a port may send for this lane."""
    if not lane.ports:
        return True
    whole, slot = str(addr.port), addr.dotted
    return whole in lane.ports or slot in lane.ports
