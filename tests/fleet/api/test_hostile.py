"""Bad input to the fleet gets the device's error answers, never a 500 or a traceback."""

from __future__ import annotations

import httpx
import pytest

from ..conftest import AUTH, FleetThread

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
