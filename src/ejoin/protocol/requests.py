"""What the device's endpoints take: query parameters and bodies, as the operations declare them.

A query Struct documents an endpoint's parameters (its fields are the parameters, typed as
documented: ``Flag`` is ``0`` or ``1``; a field without a default is required); handlers read
them by name, leniently. A body Struct is what a handler decodes (leniently: numbers may come
as strings, unknown keys are ignored), so its field types say everything a client may send.
The bodies of sending and commands are ``sms.SendSmsRequest`` and ``messages.CommandRequest``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from .values import MAX_PERIOD


def names(struct: type[msgspec.Struct]) -> tuple[str, ...]:
    """The parameters a Struct declares, as they are spelt on the wire."""
    return tuple(f.encode_name for f in msgspec.structs.fields(struct))


Flag = Literal["0", "1"]
PortList = Annotated[str, Meta(examples=["1.01,2.02,4-6"], description="ports: 1, 1-4, 1,3, 2.02, all")]
Port = Annotated[str, Meta(examples=["1"], description="one port (1), or one slot of it (1.02)")]
Lenient = str | int | bool | None  # a flag as JSON bodies send it: 1, "1", true


class StatusQuery(msgspec.Struct):
    url: str | UnsetType = UNSET  # status pushes go there (empty: no more pushes)
    period: Annotated[int, Meta(ge=0, le=MAX_PERIOD)] | UnsetType = UNSET  # seconds between status pushes
    all_sims: Flag | UnsetType = UNSET
    all_slots: Flag | UnsetType = UNSET


class CommandQuery(msgspec.Struct):
    op: str | UnsetType = UNSET  # a port command, or get / set (then other parameters are names)
    ports: PortList | UnsetType = UNSET
    port: Annotated[str, Meta(description="one port, taken where ports is missing")] | UnsetType = UNSET


TidList = Annotated[
    list[int | str] | str | int | None,
    Meta(description="an array, a comma-separated string (5002,5003) or one id"),
]


class TidsQuery(msgspec.Struct):
    tids: Annotated[str, Meta(examples=["5002,5003"])] | UnsetType = UNSET


class TidsBody(msgspec.Struct):
    """No body or {}: every task; a body with other keys and no tids is refused (400)."""

    tids: TidList = None


class TasksQuery(msgspec.Struct):
    port: Annotated[int, Meta(ge=1)]
    pos: Annotated[int, Meta(ge=0)] = 0
    num: Annotated[int, Meta(ge=0)] = 10
    has_content: Flag | UnsetType = UNSET
    tids: Annotated[str, Meta(examples=["5002,5003"])] | UnsetType = UNSET  # only these tasks
    closed: Flag | UnsetType = UNSET  # with tids: the named tasks closed on the port too (state 2)


class InboxQuery(msgspec.Struct):
    """By POST the parameters may be in the body (spec 8)."""

    sms_id: Annotated[int, Meta(ge=1)] = 1
    sms_num: Annotated[int, Meta(ge=0)] = 0  # 0: every one
    sms_del: Flag | UnsetType = UNSET


class StatQuery(msgspec.Struct):
    ports: PortList | UnsetType = UNSET
    slots: Annotated[str, Meta(examples=["1-2", "all"])] | UnsetType = UNSET  # left out: the current cards
    type: Literal[0, 1, 2, 3] = 0  # last hour, two hours, today, cumulative


STAT_WINDOWS = ("last hour", "last two hours", "today", "since the start")  # StatQuery.type, 0 to 3


class EsimQuery(msgspec.Struct):
    ports: PortList | UnsetType = UNSET


class EsimItemIn(msgspec.Struct):
    port: int | None = None
    slot: int | None = None
    ac: str = ""  # activation code (write)
    cc: str = ""  # confirmation code, when the profile needs one


USSD_TIMEOUT, AT_TIMEOUT, MAX_TIMEOUT = 30.0, 10.0, 120.0  # seconds the network, or a module, may take
Timeout = Annotated[float, Meta(ge=1, le=MAX_TIMEOUT)]


class UssdQuery(msgspec.Struct):
    """Also as a JSON object or form body on POST (the body wins)."""

    port: Port | UnsetType = UNSET
    ussd: Annotated[str, Meta(examples=["*100#"])] | UnsetType = UNSET
    timeout: Timeout = USSD_TIMEOUT
    cancel: Flag | UnsetType = UNSET


class AtQuery(msgspec.Struct):
    """Also as a JSON object or form body on POST (the body wins)."""

    port: Port | UnsetType = UNSET
    at: Annotated[str, Meta(examples=["AT+CSQ"])] | UnsetType = UNSET
    timeout: Timeout = AT_TIMEOUT


class SessionQuery(msgspec.Struct):
    """The spec 3 handshake (also as a JSON body on POST)."""

    cnonce: str | UnsetType = UNSET
    auth: str | UnsetType = UNSET
    crypt: Literal["aes-ecb"] | UnsetType = UNSET
    expires: int | UnsetType = UNSET


class PushRetryQuery(msgspec.Struct):
    url: str | UnsetType = UNSET  # one destination, as GET /ejoin/pushes lists it
    all: Flag | UnsetType = UNSET  # or every one


class PushDropQuery(msgspec.Struct):
    url: str | UnsetType = UNSET  # one destination, as GET /ejoin/pushes lists it
    all: Flag | UnsetType = UNSET  # or every one
    queued: Flag | UnsetType = UNSET  # the waiting pushes too
    forget: Flag | UnsetType = UNSET  # one url: and those queued for it later


class PushTarget(msgspec.Struct, omit_defaults=True):
    """The body of /ejoin/pushes/retry and /drop (parameters of the query win)."""

    url: str | None = None
    all: Lenient = None
    queued: Lenient = None
    forget: Lenient = None


class RawQuery(msgspec.Struct):
    id: Annotated[int, Meta(ge=1)] = 1
    num: Annotated[int, Meta(ge=1, le=1000)] = 100


class RawDropQuery(msgspec.Struct):
    ids: Annotated[str, Meta(examples=["1,2"])] | UnsetType = UNSET
    all: Flag | UnsetType = UNSET


class RawTarget(msgspec.Struct):
    """The body of /ejoin/inbox/raw/drop: ids (as GET /ejoin/inbox/raw lists them) or all."""

    ids: list[int] | str | int | None = None
    all: Lenient = None


class MemberAdd(msgspec.Struct):
    """A fleet's new member: ``{"member": {"name", "url", "ports", "username", "password", ...}}``."""

    member: dict[str, Any] | None = None
    offline: Lenient = None  # 1: added at once, down until it answers (else the fleet asks it first)


class MemberRemove(msgspec.Struct):
    name: str | None = None
    force: Lenient = None  # 1: its unsent SMS go to other members


class MemberPush(msgspec.Struct):
    """What a fleet's member pushes to it: its body as a device pushes it (dev-status, port-status,
    status-report, recv-sms)."""

    type: str | None = None
