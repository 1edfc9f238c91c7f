"""The device API as an OpenAPI 3.0 document (served at /openapi.json).

Built from one table of operations; answer schemas come from the msgspec
Structs the handlers encode, so the document cannot drift from what is sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from .. import __version__
from ..gateway.esim import EsimResult, EuiccInfo
from ..gateway.plugin import Route
from ..gateway.statistics import CallStat, SmsStat
from ..protocol.messages import DevStatus, GetReply, Reply, SetReply
from .receiving import InboxReply
from .sms import ResultsReply, TasksReply, TaskStatusReply
from .stats import EsimReply, StatsReply

_STRUCTS = [
    DevStatus,
    Reply,
    SetReply,
    GetReply,
    TaskStatusReply,
    ResultsReply,
    TasksReply,
    InboxReply,
    StatsReply,
    EsimReply,
    SmsStat,
    CallStat,
    EuiccInfo,
    EsimResult,
]


def _ref(t: type) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{t.__name__}"}


S = {"type": "string"}
INT = {"type": "integer"}
FLAG = {"type": "string", "enum": ["0", "1"]}
PORTS = {"type": "string", "example": "1.01,2.02,4-6"}
ANY_JSON = {"type": "object", "additionalProperties": True}

TASK = {
    "type": "object",
    "properties": {
        "tid": INT,
        "from": S,
        "to": S,
        "to_all": INT,
        "sms": S,
        "chs": {"type": "string", "enum": ["utf8", "base64"]},
        "coding": {"type": "integer", "enum": [0, 1, 2]},
        "smstype": {"type": "integer", "enum": [0, 1, 2]},
        "smstitle": S,
        "to_title_array": {"type": "array", "items": {"type": "array", "items": S}},
        "attachments": S,
        "smsc": S,
        "intvl": INT,
        "tmo": INT,
        "sdr": INT,
        "fdr": INT,
        "dr": INT,
        "sr_prd": INT,
        "sr_cnt": INT,
    },
    "required": ["tid", "to", "sms"],
}
SEND_SMS = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": ["send-sms"]},
        "task_num": INT,
        "tasks": {"type": "array", "items": TASK},
        "sr_url": S,
        "sr_cnt": INT,
        "sr_prd": INT,
        "sms_url": S,
        "sms_cnt": INT,
        "sms_prd": INT,
    },
    "required": ["tasks"],
}
COMMAND = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": ["command"]},
        "op": {
            "type": "string",
            "enum": ["lock", "unlock", "switch", "reset", "save", "reboot", "ledon", "ledoff", "multiple"],
        },
        "ports": S,
        "ops": {"type": "array", "items": {"type": "object", "properties": {"op": S, "ports": S}}},
    },
    "required": ["op"],
}
TIDS = {"type": "object", "properties": {"tids": {"type": "array", "items": INT}}}
ESIM_ITEMS = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"port": INT, "slot": INT, "ac": S, "cc": S},
        "required": ["port", "slot"],
    },
}

# path: (methods, summary, query parameters, request body schema or None, answer)
OPERATIONS: dict[str, tuple[tuple[str, ...], str, dict[str, dict], dict | None, Any]] = {
    "/goip_get_status.html": (
        ("get",),
        "Device status; url/period set status pushes (spec 4)",
        {"url": S, "period": INT, "all_sims": FLAG, "all_slots": FLAG},
        None,
        DevStatus,
    ),
    "/goip_send_cmd.html": (
        ("get", "post"),
        "Commands, or get/set of parameters (spec 5)",
        {"op": S, "ports": S},
        COMMAND,
        Reply,
    ),
    "/goip_post_sms.html": (("post",), "Send tasks (spec 6.3.1)", {}, SEND_SMS, TaskStatusReply),
    "/goip_pause_sms.html": (("post",), "Pause tasks", {}, TIDS, ResultsReply),
    "/goip_resume_sms.html": (("post",), "Resume tasks", {}, TIDS, ResultsReply),
    "/goip_remove_sms.html": (("post",), "Remove tasks", {}, TIDS, ResultsReply),
    "/goip_get_tasks.html": (
        ("get",),
        "A port's waiting tasks",
        {"port": INT, "pos": INT, "num": INT, "has_content": FLAG},
        None,
        TasksReply,
    ),
    "/goip_get_sms.html": (
        ("get",),
        "The inbox (spec 8)",
        {"sms_id": INT, "sms_num": INT, "sms_del": FLAG},
        None,
        InboxReply,
    ),
    "/goip_get_sms_stat.html": (
        ("get",),
        "SMS statistics (spec 9)",
        {"ports": PORTS, "slots": S, "type": {"type": "integer", "enum": [0, 1, 2, 3]}},
        None,
        StatsReply,
    ),
    "/goip_get_call_stat.html": (
        ("get",),
        "Call statistics (spec 10)",
        {"ports": PORTS, "slots": S, "type": {"type": "integer", "enum": [0, 1, 2, 3]}},
        None,
        StatsReply,
    ),
    "/goip_get_esims.html": (("get",), "eSIM profiles (spec 12.1)", {"ports": PORTS}, None, EsimReply),
    "/goip_write_esims.html": (("post",), "Write eSIM profiles (spec 12.2)", {}, ESIM_ITEMS, EsimReply),
    "/goip_delete_esims.html": (("post",), "Delete eSIM profiles (spec 12.3)", {}, ESIM_ITEMS, EsimReply),
    "/crypt_sess.json": (
        ("get",),
        "Open a secure session (spec 3)",
        {"cnonce": S, "auth": S, "crypt": S, "expires": INT},
        None,
        ANY_JSON,
    ),
    "/healthz": (
        ("get",),
        "Fit to take traffic? 200 ok, 503 with the problems named (no credentials needed)",
        {},
        None,
        ANY_JSON,
    ),
}

CREDENTIALS = [{"name": "username", "in": "query", "schema": S}, {"name": "password", "in": "query", "schema": S}]


def build_openapi(extra: Iterable[Route] = ()) -> dict[str, Any]:
    """The document; ``extra``: routes the running driver adds (answered with a JSON object)."""
    _, components = msgspec.json.schema_components(_STRUCTS, ref_template="#/components/schemas/{name}")
    paths: dict[str, Any] = {}
    operations = dict(OPERATIONS)
    for route in extra:
        operations[route.path] = (route.methods, route.summary, route.query, route.body, ANY_JSON)
    for path, (methods, summary, query, body, answer) in operations.items():
        item: dict[str, Any] = {}
        for method in methods:
            op: dict[str, Any] = {
                "summary": summary,
                "operationId": f"{method}_{path.strip('/').replace('.', '_').replace('/', '_')}",
                "parameters": CREDENTIALS + [{"name": n, "in": "query", "schema": s} for n, s in query.items()],
                "responses": {
                    "200": {
                        "description": "the device's answer (failures too: see code)",
                        "content": {
                            "application/json": {"schema": _ref(answer) if isinstance(answer, type) else answer}
                        },
                    },
                    "400": {
                        "description": "a request that cannot be read",
                        "content": {"application/json": {"schema": _ref(Reply)}},
                    },
                    "503": {
                        "description": "/healthz only: the device is not fit to take traffic",
                        "content": {"application/json": {"schema": ANY_JSON}},
                    },
                    "413": {
                        "description": "a body over max_body",
                        "content": {"application/json": {"schema": _ref(Reply)}},
                    },
                },
            }
            if body is not None and method == "post":
                op["requestBody"] = {"content": {"application/json": {"schema": body}}}
            item[method] = op
        paths[path] = item
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "EJOIN HTTP API (ejoin gateway)",
            "version": __version__,
            "description": "Credentials go in the query string; failures are answered with a JSON code "
            "(docs/decisions.md).",
        },
        "paths": paths,
        "components": {"schemas": components},
    }
