"""The published OpenAPI document, and schemathesis fuzzing every operation from it."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .threaded import ServerThread

pytestmark = pytest.mark.slow  # real processes / thousands of generated requests: -m "not slow" skips

schemathesis = pytest.importorskip("schemathesis")
CASES = {"n": 0}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = ServerThread(str(tmp_path_factory.mktemp("openapi")), login_delay_cap=0.0).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def operations(server):
    document = httpx.get(f"{server.url}/openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    return [result.ok() for result in schema.get_all_operations()]


def test_the_document_covers_every_route(server, operations):
    document = httpx.get(f"{server.url}/openapi.json").json()
    assert document["openapi"].startswith("3.0")
    # the dashboard's HTML pages (docs/dashboard.md) and its icon are for people, not part of the device API
    routes = {
        path
        for r in server.app.router.routes()
        if (path := r.resource.canonical) not in ("/", "/login", "/logout", "/favicon.ico")
        and not path.startswith("/dashboard")
    }
    documented = set(document["paths"]) | {"/openapi.json"}
    assert routes == documented
    assert len(operations) == sum(len(v) for v in document["paths"].values())
    dev_status = document["components"]["schemas"]["DevStatus"]["properties"]
    assert {"max-ports", "max-slot", "max-slots", "status"} <= set(dev_status)


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_schemathesis_finds_no_server_error(server, operations, data):
    operation = data.draw(st.sampled_from(operations))
    case = data.draw(operation.as_strategy())
    if case.query is not None and data.draw(st.booleans()):
        case.query.update(username="root", password="root")  # half the cases get past authentication
    response = case.call(base_url=server.url, timeout=10)
    CASES["n"] += 1
    assert response.status_code < 500, (case.method, case.path, case.query, response.text[:300])
    content_type = (response.headers.get("content-type") or [""])[0]  # schemathesis: lowercase names, lists
    # Prometheus text is the one answer that is not JSON (refusals of /metrics are)
    expected = "text/plain" if case.path == "/metrics" and response.status_code == 200 else "application/json"
    assert content_type.startswith(expected), (case.method, case.path, response.status_code)


def test_report_the_number_of_schemathesis_cases():
    print(f"\nschemathesis: {CASES['n']} generated requests over every operation, none answered 5xx")
    assert CASES["n"] >= 300
