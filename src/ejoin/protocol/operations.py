"""Every operation of the device's HTTP API, declared once.

An ``Operation`` is what a path is: the methods it is documented with and those it
serves, its query parameters and body (``requests.py``, ``sms.SendSmsRequest``,
``messages.CommandRequest``), its answer (``answers.py``, ``messages.py``) and whether
a client may send it again after a network failure. From these declarations come the
gateway's routes and the fleet's (each binds its own handlers: ``web/route.py``),
/openapi.json (``web/openapi.py``, schemas from the Structs) and the SDK's calls
(``client/calls.py``). A driver declares its own (the simulator's ``/sim/*``).

Pure data: the SDK imports this without importing the gateway.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .answers import (
    AtAnswerReply,
    CallStat,
    EsimReply,
    EsimResult,
    EuiccInfo,
    HealthReply,
    InboxReply,
    MemberReply,
    MembersReply,
    PushChangeReply,
    PushesReply,
    RawDropReply,
    RawInboxReply,
    ResultsReply,
    SessionReply,
    SmsStat,
    StatsReply,
    TasksReply,
    TaskStatusReply,
    UssdAnswerReply,
    WithdrawnReply,
)
from .crypt import HANDSHAKE_PATH
from .messages import CommandRequest, DevStatus, GetReply, Reply, SetReply
from .requests import (
    AtQuery,
    CommandQuery,
    EsimItemIn,
    EsimQuery,
    InboxQuery,
    MemberAdd,
    MemberPush,
    MemberRemove,
    PushDropQuery,
    PushRetryQuery,
    PushTarget,
    RawDropQuery,
    RawQuery,
    RawTarget,
    SessionQuery,
    StatQuery,
    StatusQuery,
    TasksQuery,
    TidsBody,
    TidsQuery,
    UssdQuery,
)
from .sms import SendSmsRequest

METHODS = ("GET", "POST")
_PATH_PARAMETER = re.compile(r"{(\w+)}")


@dataclass(frozen=True)
class Operation:
    """One path of the API. ``methods`` are those documented (lower case, as OpenAPI writes them);
    ``serve`` those accepted (a device takes POST for most of what the spec documents as GET)."""

    path: str
    summary: str
    methods: tuple[str, ...] = ("get",)
    serve: tuple[str, ...] = METHODS
    query: type | None = None  # a Struct whose fields are the query parameters
    body: Any = None  # the type of the JSON body (documented with POST)
    answer: Any = None  # the type of the answer; a tuple: one of them; None: a JSON object
    idempotent: bool = True  # sent twice, it does what it does once: a client may send it again
    auth: bool = True  # credentials (or a spec 3 session) needed
    media: str = "application/json"  # of the answer
    errors: tuple[int, ...] = (400, 413)  # HTTP statuses of refusals other than 200 with a code

    def __post_init__(self) -> None:
        if not set(self.serve) <= set(METHODS) or not {m.upper() for m in self.methods} <= set(self.serve):
            raise ValueError(f"{self.path}: documents {self.methods} but serves {self.serve}")

    @property
    def path_parameters(self) -> list[str]:
        """The names in braces (``/fleet/reports/{member}/{secret}``)."""
        return _PATH_PARAMETER.findall(self.path)

    def filled(self, **values: str) -> str:
        """The path with its parameters' values."""
        return self.path.format(**values)


# --- the vendor's API (spec v2.4.0) ---------------------------------------------------------

GET_STATUS = Operation(
    "/goip_get_status.html",
    "Device status; url/period set status pushes (spec 4)",
    query=StatusQuery,
    answer=DevStatus,
)
SEND_CMD = Operation(
    "/goip_send_cmd.html",
    "Commands, or get/set of parameters (spec 5)",
    methods=("get", "post"),
    query=CommandQuery,
    body=CommandRequest,
    answer=(Reply, GetReply, SetReply),
    idempotent=False,  # op get and op set are; a command is not (the SDK says which)
)
POST_SMS = Operation(
    "/goip_post_sms.html",
    "Send tasks (spec 6.3.1)",
    methods=("post",),
    serve=("POST",),
    body=SendSmsRequest,
    answer=TaskStatusReply,
    idempotent=False,
)
_TIDS = TidsBody | list[int | str]  # an object, or the bare array of the spec's prose


def _task_change(verb: str, idempotent: bool = True) -> Operation:
    summary = f"{verb.capitalize()} tasks"
    return Operation(
        f"/goip_{verb}_sms.html",
        summary,
        ("post",),
        query=TidsQuery,
        body=_TIDS,
        answer=ResultsReply,
        idempotent=idempotent,
    )


PAUSE_SMS = _task_change("pause")
RESUME_SMS = _task_change("resume")
REMOVE_SMS = _task_change("remove", idempotent=False)  # with no tids, every task: a task sent since would go too
GET_TASKS = Operation(
    "/goip_get_tasks.html",
    "A port's waiting tasks (optionally only tids)",
    ("get", "post"),
    query=TasksQuery,
    body=TidsBody,
    answer=TasksReply,
)
GET_SMS = Operation(
    "/goip_get_sms.html",
    "The inbox (spec 8); by POST the parameters may be in the body",
    ("get", "post"),
    query=InboxQuery,
    body=InboxQuery,
    answer=InboxReply,
    idempotent=False,  # sms_del=1 deletes what it read (the SDK says when it does not)
)
GET_SMS_STAT = Operation(
    "/goip_get_sms_stat.html", "SMS statistics (spec 9)", query=StatQuery, answer=StatsReply[SmsStat]
)
GET_CALL_STAT = Operation(
    "/goip_get_call_stat.html", "Call statistics (spec 10)", query=StatQuery, answer=StatsReply[CallStat]
)
GET_ESIMS = Operation("/goip_get_esims.html", "eSIM profiles (spec 12.1)", query=EsimQuery, answer=EsimReply[EuiccInfo])


def _esim_change(verb: str, section: str) -> Operation:
    summary = f"{verb.capitalize()} eSIM profiles (spec {section})"
    body, answer = list[EsimItemIn], EsimReply[EsimResult]
    return Operation(f"/goip_{verb}_esims.html", summary, ("post",), body=body, answer=answer, idempotent=False)


WRITE_ESIMS = _esim_change("write", "12.2")
DELETE_ESIMS = _esim_change("delete", "12.3")
SEND_USSD = Operation(
    "/goip_send_ussd.html",
    "Send a USSD code or menu reply; answered when the network answers (refusals: code 2-6)",
    ("get", "post"),
    query=UssdQuery,
    body=UssdQuery,
    answer=UssdAnswerReply,
    idempotent=False,  # a menu reply sent twice would choose twice
)
SEND_AT = Operation(
    "/goip_send_at.html",
    "One AT command line to a module; its raw answer (refusals: code 2, 6, 15)",
    ("get", "post"),
    query=AtQuery,
    body=AtQuery,
    answer=AtAnswerReply,
    idempotent=False,
)
CRYPT_SESSION = Operation(
    HANDSHAKE_PATH, "Open a secure session (spec 3)", query=SessionQuery, answer=SessionReply, auth=False
)

# --- ejoin's own (outside the vendor's goip_*.html names): a read is a GET, a change a POST -----------


def _read(path: str, summary: str, **more: Any) -> Operation:
    return Operation(path, summary, serve=("GET",), **more)


def _change(path: str, summary: str, **more: Any) -> Operation:
    return Operation(path, summary, ("post",), serve=("POST",), **more)


PUSHES = _read(
    "/ejoin/pushes", "ejoin: the push queue per destination (waiting, dead-letter, retry state)", answer=PushesReply
)
PUSHES_RETRY = _change(
    "/ejoin/pushes/retry",
    "ejoin: replay dead-letter pushes of a destination (url) or all (all=1)",
    query=PushRetryQuery,
    body=PushTarget,
    answer=PushChangeReply,
)
PUSHES_DROP = _change(
    "/ejoin/pushes/drop",
    "ejoin: delete dead-letter pushes (queued=1: waiting ones too; forget=1: and later ones) of a "
    "destination (url) or all (all=1)",
    query=PushDropQuery,
    body=PushTarget,
    answer=PushChangeReply,
    idempotent=False,
)
INBOX_RAW = _read(
    "/ejoin/inbox/raw",
    "ejoin: received messages kept as their raw PDU (undecodable, or outgoing ones found on a SIM)",
    query=RawQuery,
    answer=RawInboxReply,
)
INBOX_RAW_DROP = _change(
    "/ejoin/inbox/raw/drop",
    "ejoin: delete raw received messages by id (ids=1,2) or all (all=1)",
    query=RawDropQuery,
    body=RawTarget,
    answer=RawDropReply,
    idempotent=False,
)
HEALTHZ = _read(
    "/healthz",
    "Fit to take traffic? 200 ok, 503 with the problems named (no credentials needed)",
    answer=HealthReply,
    auth=False,
    errors=(503,),
)
FLEET_HEALTHZ = _read(
    "/healthz",
    "Fit to take traffic? 200 ok or degraded (members down, named), 503 when its ledger does not answer, "
    "its leases are not renewed or no member answers (no credentials needed)",
    auth=False,
    errors=(503,),
)
METRICS = _read(
    "/metrics",
    "Prometheus metrics (HTTP basic auth, or the credentials in the query)",
    media="text/plain",
    errors=(401,),
)
FLEET_MEMBERS = _read("/ejoin/fleet/members", "ejoin fleet: its members and their state", answer=MembersReply)
FLEET_MEMBER_ADD = _change(
    "/ejoin/fleet/members/add",
    "ejoin fleet: add a member at run time",
    body=MemberAdd,
    answer=MemberReply,
    idempotent=False,  # a second one is refused: the member exists
)
FLEET_MEMBER_REMOVE = _change(
    "/ejoin/fleet/members/remove",
    "ejoin fleet: remove a member (force=1: its unsent SMS go to other members)",
    body=MemberRemove,
    answer=WithdrawnReply,
    idempotent=False,  # a second one is refused: no such member
)


def _member_push(what: str, pushed: str) -> Operation:
    summary = f"ejoin fleet: a member pushes its {pushed} (to the URL the fleet gave it, a secret in it)"
    path = f"/fleet/{what}/{{member}}/{{secret}}"
    return _change(path, summary, body=MemberPush, answer=Reply, auth=False, errors=(400, 403, 503))


MEMBER_REPORTS = _member_push("reports", "task reports")
MEMBER_STATUS = _member_push("status", "status")
MEMBER_SMS = _member_push("sms", "received SMS")

# What a device serves: the vendor's API (a fleet serves it too, as one device) ...
DEVICE_API = (
    GET_STATUS,
    SEND_CMD,
    POST_SMS,
    PAUSE_SMS,
    RESUME_SMS,
    REMOVE_SMS,
    GET_TASKS,
    GET_SMS,
    GET_SMS_STAT,
    GET_CALL_STAT,
    GET_ESIMS,
    WRITE_ESIMS,
    DELETE_ESIMS,
    SEND_USSD,
    SEND_AT,
    CRYPT_SESSION,
)
# ... and what an ejoin gateway adds
GATEWAY_API = (*DEVICE_API, PUSHES, PUSHES_RETRY, PUSHES_DROP, INBOX_RAW, INBOX_RAW_DROP, HEALTHZ, METRICS)
FLEET_ADMIN = (FLEET_MEMBERS, FLEET_MEMBER_ADD, FLEET_MEMBER_REMOVE)
FLEET_OWN = (PUSHES, PUSHES_RETRY, PUSHES_DROP, FLEET_HEALTHZ)  # a fleet's push queue and health, beside /metrics
FLEET_MEMBER_PUSHES = (MEMBER_REPORTS, MEMBER_STATUS, MEMBER_SMS)  # what a fleet serves its members
