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
from ..gateway.statistics import CallStat, SmsStat
from ..protocol.messages import DevStatus, GetReply, Reply, SetReply
from .pushes import PushChangeReply, PushesReply
from .receiving import InboxReply
from .route import Route
from .sms import ResultsReply, TasksReply, TaskStatusReply
from .stats import EsimReply, StatsReply
from .ussd import AtAnswerReply, UssdAnswerReply

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
    PushesReply,
    PushChangeReply,
    UssdAnswerReply,
    AtAnswerReply,
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
        "port": {"type": "string", "description": "one port, taken where ports is missing"},
        "ops": {"type": "array", "items": {"type": "object", "properties": {"op": S, "ports": S, "port": S}}},
    },
    "required": ["op"],
    "additionalProperties": {"description": "op get/set: parameter names and values (sms_url, sim_number(5), ...)"},
}
TID_LIST = {
    "oneOf": [{"type": "array", "items": {"oneOf": [INT, S]}}, S, INT],
    "description": "an array, a comma-separated string (5002,5003) or one id",
}
TIDS = {
    "type": "object",
    "properties": {"tids": TID_LIST},
    "description": "no body or {}: every task; a body with other keys and no tids is refused (400)",
}
ESIM_ITEMS = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"port": INT, "slot": INT, "ac": S, "cc": S},
        "required": ["port", "slot"],
    },
}

PUSH_TARGET: dict[str, dict] = {"url": S, "all": FLAG, "queued": FLAG, "forget": FLAG}
USSD = {
    "type": "object",
    "properties": {"port": S, "ussd": S, "timeout": {"type": "number"}, "cancel": INT},
}
AT = {"type": "object", "properties": {"port": S, "at": S, "timeout": {"type": "number"}}}

CREDENTIALS = [{"name": "username", "in": "query", "schema": S}, {"name": "password", "in": "query", "schema": S}]


def build_openapi(routes: Iterable[Route]) -> dict[str, Any]:
    """The document of ``routes`` (the device's table, and what the running driver adds)."""
    _, components = msgspec.json.schema_components(_STRUCTS, ref_template="#/components/schemas/{name}")
    paths: dict[str, Any] = {}
    for route in routes:
        path, methods, summary, query, body = route.path, route.methods, route.summary, route.query, route.body
        answer = ANY_JSON if route.answer is None else route.answer
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
    paths["/metrics"] = {
        "get": {
            "summary": "Prometheus metrics (HTTP basic auth, or the credentials in the query)",
            "operationId": "get_metrics",
            "parameters": CREDENTIALS,
            "responses": {
                "200": {"description": "Prometheus text format", "content": {"text/plain": {"schema": S}}},
                "401": {
                    "description": "wrong or missing credentials",
                    "content": {"application/json": {"schema": _ref(Reply)}},
                },
            },
        }
    }
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
