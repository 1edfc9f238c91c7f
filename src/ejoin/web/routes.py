"""The device's URL space, defined once: the app serves this table and /openapi.json documents it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..protocol.messages import DevStatus, Reply
from . import command, health, pushes, receiving, session, sms, stats, status, ussd
from .openapi import AT, COMMAND, ESIM_ITEMS, FLAG, INT, PORTS, PUSH_TARGET, SEND_SMS, TIDS, USSD, S
from .pushes import PushChangeReply, PushesReply
from .receiving import InboxReply, RawDropReply, RawInboxReply
from .route import Route
from .sms import ResultsReply, TasksReply, TaskStatusReply
from .stats import EsimReply, StatsReply
from .ussd import AtAnswerReply, UssdAnswerReply

ROUTES: tuple[Route, ...] = (
    Route(
        "/goip_get_status.html",
        status.get_status,
        "Device status; url/period set status pushes (spec 4)",
        query={"url": S, "period": INT, "all_sims": FLAG, "all_slots": FLAG},
        body=None,
        methods=("get",),
        answer=DevStatus,
        serve=("GET", "POST"),
    ),
    Route(
        "/goip_send_cmd.html",
        command.send_cmd,
        "Commands, or get/set of parameters (spec 5)",
        query={"op": S, "ports": S, "port": S},
        body=COMMAND,
        methods=("get", "post"),
        answer=Reply,
        serve=("GET", "POST"),
    ),
    Route(
        "/goip_post_sms.html",
        sms.post_sms,
        "Send tasks (spec 6.3.1)",
        query={},
        body=SEND_SMS,
        methods=("post",),
        answer=TaskStatusReply,
        serve=("POST",),
    ),
    Route(
        "/goip_pause_sms.html",
        sms.pause_sms,
        "Pause tasks",
        query={"tids": S},
        body=TIDS,
        methods=("post",),
        answer=ResultsReply,
        serve=("GET", "POST"),
    ),
    Route(
        "/goip_resume_sms.html",
        sms.resume_sms,
        "Resume tasks",
        query={"tids": S},
        body=TIDS,
        methods=("post",),
        answer=ResultsReply,
        serve=("GET", "POST"),
    ),
    Route(
        "/goip_remove_sms.html",
        sms.remove_sms,
        "Remove tasks",
        query={"tids": S},
        body=TIDS,
        methods=("post",),
        answer=ResultsReply,
        serve=("GET", "POST"),
    ),
    Route(
        "/goip_get_tasks.html",
        sms.get_tasks,
        "A port's waiting tasks (optionally only tids)",
        query={"port": INT, "pos": INT, "num": INT, "has_content": FLAG, "tids": S, "closed": FLAG},
        body=TIDS,
        methods=("get", "post"),
        answer=TasksReply,
        serve=("GET", "POST"),
    ),
    Route(
        "/goip_get_sms.html",
        receiving.get_sms,
        "The inbox (spec 8); by POST the parameters may be in the body",
        query={"sms_id": INT, "sms_num": INT, "sms_del": FLAG},
        body={"type": "object", "properties": {"sms_id": INT, "sms_num": INT, "sms_del": INT}},
        methods=("get", "post"),
        answer=InboxReply,
        serve=("GET", "POST"),
    ),
    Route(
        "/goip_get_sms_stat.html",
        stats.sms_stat,
        "SMS statistics (spec 9)",
        query={"ports": PORTS, "slots": S, "type": {"type": "integer", "enum": [0, 1, 2, 3]}},
        body=None,
        methods=("get",),
        answer=StatsReply,
        serve=("GET", "POST"),
    ),
    Route(
        "/goip_get_call_stat.html",
        stats.call_stat,
        "Call statistics (spec 10)",
        query={"ports": PORTS, "slots": S, "type": {"type": "integer", "enum": [0, 1, 2, 3]}},
        body=None,
        methods=("get",),
        answer=StatsReply,
        serve=("GET", "POST"),
    ),
    Route(
        "/goip_get_esims.html",
        stats.get_esims,
        "eSIM profiles (spec 12.1)",
        query={"ports": PORTS},
        body=None,
        methods=("get",),
        answer=EsimReply,
        serve=("GET", "POST"),
    ),
    Route(
        "/goip_write_esims.html",
        stats.write_esims,
        "Write eSIM profiles (spec 12.2)",
        query={},
        body=ESIM_ITEMS,
        methods=("post",),
        answer=EsimReply,
        serve=("GET", "POST"),
    ),
    Route(
        "/goip_delete_esims.html",
        stats.delete_esims,
        "Delete eSIM profiles (spec 12.3)",
        query={},
        body=ESIM_ITEMS,
        methods=("post",),
        answer=EsimReply,
        serve=("GET", "POST"),
    ),
    Route(
        "/goip_send_ussd.html",
        ussd.send_ussd,
        "Send a USSD code or menu reply; answered when the network answers (refusals: code 2-6)",
        query={
            "port": {"type": "string", "example": "1"},
            "ussd": {"type": "string", "example": "*100#"},
            "timeout": {"type": "number", "minimum": 1, "maximum": 120, "default": 30},
            "cancel": FLAG,
        },
        body=USSD,
        methods=("get", "post"),
        answer=UssdAnswerReply,
        serve=("GET", "POST"),
    ),
    Route(
        "/goip_send_at.html",
        ussd.send_at,
        "One AT command line to a module; its raw answer (refusals: code 2, 6, 15)",
        query={
            "port": {"type": "string", "example": "1"},
            "at": {"type": "string", "example": "AT+CSQ"},
            "timeout": {"type": "number", "minimum": 1, "maximum": 120, "default": 10},
        },
        body=AT,
        methods=("get", "post"),
        answer=AtAnswerReply,
        serve=("GET", "POST"),
    ),
    Route(
        "/crypt_sess.json",
        session.crypt_session,
        "Open a secure session (spec 3)",
        query={"cnonce": S, "auth": S, "crypt": S, "expires": INT},
        body=None,
        methods=("get",),
        answer=None,
        serve=("GET", "POST"),
    ),
    Route(
        "/ejoin/pushes",
        pushes.list_pushes,
        "ejoin: the push queue per destination (waiting, dead-letter, retry state)",
        query={},
        body=None,
        methods=("get",),
        answer=PushesReply,
        serve=("GET",),
    ),
    Route(
        "/ejoin/pushes/retry",
        pushes.retry_pushes,
        "ejoin: replay dead-letter pushes of a destination (url) or all (all=1)",
        query={"url": S, "all": FLAG},
        body={"type": "object", "properties": {"url": S, "all": FLAG}},
        methods=("post",),
        answer=PushChangeReply,
        serve=("POST",),
    ),
    Route(
        "/ejoin/pushes/drop",
        pushes.drop_pushes,
        "ejoin: delete dead-letter pushes (queued=1: waiting ones too; forget=1: and later ones) of a "
        "destination (url) or all (all=1)",
        query=PUSH_TARGET,
        body={"type": "object", "properties": PUSH_TARGET},
        methods=("post",),
        answer=PushChangeReply,
        serve=("POST",),
    ),
    Route(
        "/ejoin/inbox/raw",
        receiving.get_raw,
        "ejoin: received messages kept as their raw PDU (undecodable, or outgoing ones found on a SIM)",
        query={"id": INT, "num": INT},
        body=None,
        methods=("get",),
        answer=RawInboxReply,
        serve=("GET",),
    ),
    Route(
        "/ejoin/inbox/raw/drop",
        receiving.drop_raw,
        "ejoin: delete raw received messages by id (ids=1,2) or all (all=1)",
        query={"ids": S, "all": FLAG},
        body={"type": "object", "properties": {"ids": {"type": "array", "items": INT}, "all": FLAG}},
        methods=("post",),
        answer=RawDropReply,
        serve=("POST",),
    ),
    Route(
        "/healthz",
        health.healthz,
        "Fit to take traffic? 200 ok, 503 with the problems named (no credentials needed)",
        query={},
        body=None,
        methods=("get",),
        answer=None,
        serve=("GET",),
    ),
)


if TYPE_CHECKING:
    from ..gateway.runtime import Gateway
    from .endpoint import Served

    def _a_gateway_has_every_part(gw: Gateway) -> None:
        """For mypy: each handler above takes its parts of the app's device as a Protocol (see
        endpoint); a Gateway must have every one of them."""
        parts: tuple[
            Served,
            status.StatusParts,
            command.CommandParts,
            sms.SendingParts,
            receiving.InboxParts,
            stats.StatsParts,
            stats.EsimParts,
            ussd.PassthroughParts,
            pushes.PushParts,
            health.HealthParts,
        ] = (gw, gw, gw, gw, gw, gw, gw, gw, gw, gw)
        del parts
