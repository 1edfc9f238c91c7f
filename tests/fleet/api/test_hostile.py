"""Bad input to the fleet gets the device's error answers, never a 500 or a traceback."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ...rawhttp import exchange_sync, php_curl
from ...web.test_edge import REFUSED
from ..conftest import AUTH, FleetThread, until

CASES = [
    ("POST", "/goip_post_sms.html", b"not json"),
    ("POST", "/goip_post_sms.html", b'{"type":"send-sms","tasks":"x"}'),
    ("POST", "/goip_post_sms.html", b'{"type":"send-sms","tasks":[1,"a",null,{"tid":{"x":1}}]}'),
    ("POST", "/goip_post_sms.html", b'{"type":"send-sms","tasks":[{"tid":1,"to":"1","sms":"x","from":"1.99"}]}'),
    ("POST", "/goip_send_cmd.html", b'{"op":"lock","ports":[1,{"a":2}]}'),
    ("POST", "/goip_send_cmd.html", b'{"op":"multiple","ops":[{"op":"lock","ports":"1"},{"op":"nope"}]}'),
    ("GET", "/goip_send_cmd.html?op=lock&ports=0", b""),
    ("GET", "/goip_get_status.html?url=ftp://x", b""),
    ("POST", "/goip_remove_sms.html", b'{"tidz":[1]}'),
    ("POST", "/goip_pause_sms.html", b"[[[]]]"),
    ("GET", "/goip_nothing.html", b""),
]


@pytest.mark.parametrize(("method", "path", "body"), CASES)
def test_bad_requests_are_answered_in_json(fleet: FleetThread, method: str, path: str, body: bytes) -> None:
    r = httpx.request(method, fleet.url + path, params=AUTH, content=body, timeout=20)
    assert r.status_code < 500, r.text
    answer = r.json()
    ok = answer.get("code") in (0, 200) and all(
        s["status"] == "0 OK" for s in answer.get("status", []) + (answer.get("results") or [])
    )
    assert not ok, answer  # every case is refused, as a whole or per task


def test_member_reports_need_the_fleets_secret(fleet: FleetThread) -> None:
    r = httpx.post(fleet.url + "/fleet/reports/a/wrong", json={"type": "status-report", "rpts": []})
    assert r.status_code == 403
    url = fleet.fleet.report_url("a")
    assert httpx.post(url, content=b"{oops").status_code == 400
    # well-formed but about no dispatch of this fleet: taken and ignored
    foreign = {"type": "status-report", "rpts": [{"tid": 1, "sdr": [[0, "1", "1.01", 0]]}, "x", {"tid": "y"}]}
    assert httpx.post(url, json=foreign).json() == {"code": 0, "reason": "OK"}


def test_a_member_push_the_fleet_cannot_record_now_is_refused_for_a_retry(
    fleet: FleetThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def store_away(member: str, body: object) -> None:
        raise ConnectionError("the fleet database is away")

    monkeypatch.setattr(fleet.fleet.reports, "member_report", store_away)
    r = httpx.post(fleet.fleet.report_url("a"), json={"type": "status-report", "rpts": []})
    # the member's outbox pushes it again on a 5xx; 503 says why, not a server error with a traceback
    assert r.status_code == 503 and "push it again" in r.json()["reason"]


@pytest.fixture
def bare_fleet(tmp_path: Path) -> Iterator[FleetThread]:
    """A fleet with no member on a virtual clock: what it does at its HTTP edge needs none."""
    f = FleetThread(tmp_path / "fleet", [], virtual=True, read_timeout=2.0, max_connections=3).start()
    try:
        yield f
    finally:
        f.stop()


@pytest.mark.parametrize("what", ["a request line over 8190 bytes", "200 headers", "not HTTP", "obs-fold"])
def test_malformed_requests_get_the_devices_json_and_no_traceback(
    bare_fleet: FleetThread, what: str, caplog: pytest.LogCaptureFixture
) -> None:
    data, status = REFUSED[what]
    with caplog.at_level(logging.DEBUG):
        talk = exchange_sync("127.0.0.1", bare_fleet.port, data)
    assert [a.status for a in talk.answers] == [status] and talk.closed
    assert talk.answers[0].json["code"] == status
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info], caplog.text


def test_a_php_curl_client_with_spaced_headers_is_served(bare_fleet: FleetThread) -> None:
    query = "username=fleet&password=secret"
    get = php_curl("GET", f"/goip_get_status.html?{query}", "fleet", ["Connection : close", "Accept : */*"])
    talk = exchange_sync("127.0.0.1", bare_fleet.port, get)
    assert talk.answers[0].json["type"] == "dev-status" and talk.closed


def test_trickling_clients_are_cut_off_and_connections_capped(bare_fleet: FleetThread) -> None:
    guard = bare_fleet._runner.guard
    trickler = socket.create_connection(("127.0.0.1", bare_fleet.port))
    trickler.sendall(b"GET /goip_get_status.html HTTP/1.1\r\nHo")
    idle = [socket.create_connection(("127.0.0.1", bare_fleet.port)) for _ in range(2)]
    until(lambda: guard.live == 3)
    # one more than max_connections: 503 in JSON, at once
    talk = exchange_sync("127.0.0.1", bare_fleet.port, b"")
    assert [a.status for a in talk.answers] == [503] and "too many connections" in talk.answers[0].json["reason"]
    bare_fleet.advance(1.0)
    trickler.sendall(b"st: x\r\n")  # still no complete head
    bare_fleet.advance(2.0)  # past read_timeout (2 s): the guard's next sweep (every second) closes them
    trickler.settimeout(5)
    assert trickler.recv(100) == b""  # closed
    until(lambda: guard.live == 0)
    assert guard.timed_out == 3
    for s in (trickler, *idle):
        s.close()
    # and the fleet serves again
    assert httpx.get(bare_fleet.url + "/goip_get_status.html", params=AUTH, timeout=5).json()["type"] == "dev-status"


def test_requests_a_browser_sends_for_another_site_are_refused(bare_fleet: FleetThread) -> None:
    image = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"}
    query = {**AUTH, "op": "lock", "ports": "1"}
    r = httpx.get(bare_fleet.url + "/goip_send_cmd.html", params=query, headers=image, timeout=5)
    assert r.status_code == 403 and r.json()["code"] == 403
    form = {"Origin": "http://attacker.example", "Content-Type": "text/plain"}
    r = httpx.post(bare_fleet.url + "/goip_post_sms.html", params=AUTH, content=b"{}", headers=form, timeout=5)
    assert r.status_code == 403
    assert httpx.get(bare_fleet.url + "/goip_get_status.html", params=AUTH, timeout=5).status_code == 200


def test_a_kept_alive_connection_between_requests_is_not_cut_off(bare_fleet: FleetThread) -> None:
    """The read deadline is for a request's head: an idle connection after an answer keeps its time."""
    request = b"GET /goip_get_status.html?username=fleet&password=secret HTTP/1.1\r\nHost: f\r\n\r\n"
    with socket.create_connection(("127.0.0.1", bare_fleet.port), timeout=5) as sock:
        sock.sendall(request)
        first = b""
        while b"dev-status" not in first:
            first += sock.recv(65536)
        bare_fleet.advance(5.0)  # read_timeout is 2 s
        sock.sendall(request)
        second = sock.recv(65536)
        assert second.startswith(b"HTTP/1.1 200"), second[:100]
