"""The API as an OpenAPI 3.1 document (served at /openapi.json), derived from the operations served.

Every schema (query parameters, request bodies, answers) is msgspec's JSON Schema of the Structs
an operation declares (``protocol/operations.py``), so the document cannot drift from what the
handlers read and send. JSON Schema 2020-12, as msgspec writes it, is OpenAPI 3.1's dialect.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import msgspec

from .. import __version__
from ..protocol.messages import Reply
from ..protocol.operations import Operation

REF = "#/components/schemas/{name}"
S = {"type": "string"}
ANY_JSON = {"type": "object", "additionalProperties": True}
CREDENTIALS = [{"name": "username", "in": "query", "schema": S}, {"name": "password", "in": "query", "schema": S}]
REFUSALS = {
    400: "a request that cannot be read",
    401: "wrong or missing credentials",
    403: "a URL the fleet did not give",
    413: "a body over max_body",
    503: "not fit to take traffic (/healthz: the problems named), or not now (push again)",
}


def _tidy(schema: Any) -> Any:
    """Without ``"default": null``: a field left out is not a null sent (msgspec writes the
    Python default of lenient fields)."""
    if isinstance(schema, dict):
        return {k: _tidy(v) for k, v in schema.items() if not (k == "default" and v is None)}
    if isinstance(schema, list):
        return [_tidy(v) for v in schema]
    return schema


def _answers(op: Operation) -> tuple[Any, ...]:
    if op.answer is None:
        return ()
    return op.answer if isinstance(op.answer, tuple) else (op.answer,)


class _Schemas:
    """Every type the operations name, as components; each type's schema is a reference to its own."""

    def __init__(self, operations: list[Operation]) -> None:
        types: list[Any] = [Reply]
        for op in operations:
            types.extend(_answers(op))
            if op.body is not None:
                types.append(op.body)
        refs, components = msgspec.json.schema_components(types, ref_template=REF)
        self.components = _tidy(components)
        self._refs = {id(t): _tidy(r) for t, r in zip(types, refs, strict=True)}

    def of(self, t: Any) -> Any:
        return self._refs[id(t)]

    def answer(self, op: Operation) -> Any:
        answers = _answers(op)
        if not answers:
            return S if op.media.startswith("text/") else ANY_JSON
        if len(answers) == 1:
            return self.of(answers[0])
        return {"oneOf": [self.of(t) for t in answers]}


def _query(op: Operation) -> list[dict[str, Any]]:
    if op.query is None:
        return []
    (_, components) = msgspec.json.schema_components([op.query], ref_template=REF)
    schema = _tidy(components[op.query.__name__])
    required = set(schema.get("required", ()))
    return [
        {"name": name, "in": "query", "schema": field, **({"required": True} if name in required else {})}
        for name, field in schema.get("properties", {}).items()
    ]


def _operation(op: Operation, method: str, schemas: _Schemas) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": n, "in": "path", "required": True, "schema": S} for n in op.path_parameters
    ]
    if op.auth:
        parameters += CREDENTIALS
    parameters += _query(op)
    responses: dict[str, Any] = {
        "200": {
            "description": "the device's answer (failures too: see code)",
            "content": {op.media: {"schema": schemas.answer(op)}},
        }
    }
    for status in op.errors:
        # /healthz answers its own body with 503; every other refusal is the device's {code, reason}
        schema = schemas.answer(op) if status == 503 else schemas.of(Reply)
        responses[str(status)] = {"description": REFUSALS[status], "content": {"application/json": {"schema": schema}}}
    document: dict[str, Any] = {
        "summary": op.summary,
        "operationId": method + "_" + re.sub(r"[^A-Za-z0-9]+", "_", op.path).strip("_"),
        "parameters": parameters,
        "responses": responses,
    }
    if op.body is not None and method == "post":
        document["requestBody"] = {"content": {"application/json": {"schema": schemas.of(op.body)}}}
    return document


def build_openapi(operations: Iterable[Operation], title: str = "EJOIN HTTP API") -> dict[str, Any]:
    """The document of ``operations`` (a gateway's with its driver's, or a fleet's)."""
    ops = list(operations)
    schemas = _Schemas(ops)
    paths = {op.path: {method: _operation(op, method, schemas) for method in op.methods} for op in ops}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": __version__,
            "description": "Credentials go in the query string; failures are answered with a JSON code "
            "(docs/decisions.md).",
        },
        "paths": paths,
        "components": {"schemas": schemas.components},
    }
