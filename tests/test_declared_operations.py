"""Each operation declared once (protocol/operations.py), and what is derived from it: the gateway's,
the fleet's and the simulator's routes, /openapi.json's schemas (requests included), the SDK's calls."""

from __future__ import annotations

from collections import Counter
from typing import Any

import msgspec
import pytest

from ejoin.client import calls
from ejoin.client.tasks import SendTask
from ejoin.fleet.api import app as fleet_app
from ejoin.protocol import operations as op
from ejoin.protocol.operations import Operation
from ejoin.sim import routes as sim_routes
from ejoin.sim.emulator import routes as fault_routes
from ejoin.web.openapi import build_openapi
from ejoin.web.routes import ROUTES


def test_the_gateway_binds_every_operation_of_its_api_once():
    bound = [r.operation for r in ROUTES]
    assert [o for o, n in Counter(bound).items() if n > 1] == []
    assert set(bound) | {op.METRICS} == set(op.GATEWAY_API)  # /metrics: bound where the metrics are installed


def test_the_fleet_binds_the_same_device_operations_to_its_own_handlers():
    bound = {r.operation: r.handler for r in fleet_app.ROUTES}
    assert len(bound) == len(fleet_app.ROUTES)
    assert set(op.DEVICE_API) | set(op.FLEET_ADMIN) | set(op.FLEET_OWN) <= set(bound)
    gateway = {r.operation: r.handler for r in ROUTES}
    for operation in op.DEVICE_API:
        if operation is not op.CRYPT_SESSION:  # a session is opened the same way on both
            assert bound[operation] is not gateway[operation], operation.path  # a fleet answers for its members
    member_pushes = set(bound) - set(op.DEVICE_API) - set(op.FLEET_ADMIN) - set(op.FLEET_OWN)
    assert member_pushes == set(op.FLEET_MEMBER_PUSHES)
    assert {o.path for o in member_pushes} == {
        f"/fleet/{w}/{{member}}/{{secret}}" for w in ("reports", "status", "sms")
    }
    assert all(not o.auth and o.path_parameters == ["member", "secret"] for o in member_pushes)
    assert op.MEMBER_SMS.filled(member="a", secret="s3") == "/fleet/sms/a/s3"  # the URL a member is given


def test_drivers_declare_their_routes_as_operations():
    routes = (*sim_routes.ROUTES, *fault_routes.FAULT_ROUTES)
    assert all(r.path.startswith("/sim/") for r in routes)
    document = build_openapi(r.operation for r in routes)
    assert document["paths"]["/sim/insert"]["get"]["parameters"][2:] == [
        {"name": "port", "in": "query", "schema": {"examples": ["1.02"], "type": "string"}},
        {"name": "number", "in": "query", "schema": {"type": "string"}},
        {"name": "balance", "in": "query", "schema": {"description": "a number", "type": "string"}},
        {"name": "iccid", "in": "query", "schema": {"type": "string"}},
        {"name": "imsi", "in": "query", "schema": {"type": "string"}},
        {"name": "operator", "in": "query", "schema": {"type": "string"}},
    ]
    mms = document["paths"]["/sim/mms"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert mms == {"$ref": "#/components/schemas/MmsIn"}


def test_an_operation_cannot_document_a_method_it_does_not_serve():
    with pytest.raises(ValueError, match="serves"):
        Operation("/x", "x", ("post",), serve=("GET",))
    with pytest.raises(ValueError, match="serves"):
        Operation("/x", "x", serve=("PUT",))


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    name = schema["$ref"].rsplit("/", 1)[1]
    return document["components"]["schemas"][name]


def _refs(schema: Any) -> list[str]:
    if isinstance(schema, dict):
        return [schema["$ref"]] if "$ref" in schema else [r for v in schema.values() for r in _refs(v)]
    return [r for v in schema for r in _refs(v)] if isinstance(schema, list) else []


def test_request_bodies_and_parameters_come_from_the_structs():
    document = build_openapi([*op.GATEWAY_API, *op.FLEET_ADMIN])
    for operation in [*op.GATEWAY_API, *op.FLEET_ADMIN]:
        for method, item in document["paths"][operation.path].items():
            body = item.get("requestBody")
            assert (body is not None) == (method == "post" and operation.body is not None), (operation.path, method)
            if body is not None:
                schema = body["content"]["application/json"]["schema"]
                refs = _refs(schema)
                assert refs and all(_resolve(document, {"$ref": r}) for r in refs), operation.path

    send = document["paths"]["/goip_post_sms.html"]["post"]["requestBody"]["content"]["application/json"]
    tasks = _resolve(document, send["schema"])["properties"]["tasks"]
    assert tasks["items"]["required"] == ["tid", "to", "sms"]
    assert tasks["items"]["properties"]["chs"] == {"type": "string", "enum": ["utf8", "base64"]}
    command = _resolve(
        document,
        document["paths"]["/goip_send_cmd.html"]["post"]["requestBody"]["content"]["application/json"]["schema"],
    )
    assert "switch" in command["properties"]["op"]["enum"] and "multiple" in command["properties"]["op"]["enum"]

    tasks_query = {p["name"]: p for p in document["paths"]["/goip_get_tasks.html"]["get"]["parameters"]}
    assert tasks_query["port"] == {
        "name": "port",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1},
        "required": True,
    }
    assert tasks_query["num"]["schema"] == {"type": "integer", "minimum": 0, "default": 10}
    ussd = {p["name"]: p["schema"] for p in document["paths"]["/goip_send_ussd.html"]["get"]["parameters"]}
    assert ussd["timeout"] == {"type": "number", "minimum": 1, "maximum": 120, "default": 30}
    assert ussd["cancel"] == {"enum": ["0", "1"]}
    assert "username" not in {p["name"] for p in document["paths"]["/healthz"]["get"]["parameters"]}
    answers = document["paths"]["/goip_send_cmd.html"]["get"]["responses"]["200"]["content"]["application/json"]
    assert [s["$ref"].rsplit("/", 1)[1] for s in answers["schema"]["oneOf"]] == ["Reply", "GetReply", "SetReply"]
    assert "SmsStat" in document["components"]["schemas"]


# Every SDK call, made as a user would; the body (JSON) must decode as the operation's body type.
CALLS = [
    calls.status(all_slots=True, url="http://x", period=60),
    calls.lock("1.01"),
    calls.save(),
    calls.multiple([("lock", "1"), ("reboot", None)]),
    calls.send(SendTask.text("13800000000", "hi", tid=1), sr_url="http://x"),
    calls.send_sms("13800000000", "hi", tid=2),
    calls.pause([1, 2]),
    calls.resume(),
    calls.remove([3]),
    calls.tasks(1, 0, 10, True),
    calls.inbox(1, 5, True),
    calls.sms_stats("1-4", "all", 3),
    calls.call_stats(),
    calls.esims([1, 2]),
    calls.write_esims([{"port": 1, "slot": 2, "ac": "LPA:1$x$y"}]),
    calls.delete_esims([{"port": 1, "slot": 2}]),
    calls.pushes(),
    calls.retry_pushes(),
    calls.drop_pushes("http://x", queued=True, forget=True),
    calls.fleet_members(),
    calls.add_fleet_member({"name": "a", "url": "http://x", "ports": "1-4"}),
    calls.remove_fleet_member("a", force=True),
    calls.ussd(1, "*100#", 5, cancel=True),
    calls.ussd_cancel("1.01"),
    calls.at(1, "AT+CSQ", 3),
]
OPERATIONS = {o.path: o for o in [*op.GATEWAY_API, *op.FLEET_ADMIN]}


@pytest.mark.parametrize("call", CALLS, ids=lambda c: f"{c.method} {c.path}")
def test_the_sdk_sends_what_the_operation_declares(call: calls.Call[Any]):
    operation = OPERATIONS[call.path]
    assert call.method in operation.serve
    declared = {f.encode_name for f in msgspec.structs.fields(operation.query)} if operation.query else set()
    assert set(call.params) <= declared
    if call.body and call.content_type == "application/json":
        msgspec.json.decode(call.body, type=operation.body, strict=False)  # raises when it does not fit
    expected = {"/goip_get_status.html": False, "/goip_get_sms.html": False}  # a push URL set, an inbox deleted
    assert call.idempotent == expected.get(call.path, operation.idempotent)


def test_get_and_set_of_parameters_are_sent_again_where_commands_are_not():
    assert not calls.lock("1").idempotent
    assert calls.get_params("sms_url").idempotent and calls.set_params(sms_url="").idempotent
    assert calls.inbox(delete=False).idempotent and calls.status().idempotent


def test_a_call_by_a_method_its_operation_does_not_serve_is_refused():
    with pytest.raises(ValueError, match="not served by GET"):
        calls.Call.to(op.POST_SMS, lambda a: a)
    with pytest.raises(ValueError, match="not served by POST"):
        calls.Call.to(op.PUSHES, lambda a: a, body=b"{}")
