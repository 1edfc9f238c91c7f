"""Hostile input at every endpoint: no 500, no hang, no unbounded memory growth.

One gateway runs on its own event loop in a thread; hypothesis drives it over
plain HTTP so failing inputs shrink to a minimal example.
"""

from __future__ import annotations

import http.client
import json
import os
import urllib.parse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ejoin.protocol import crypt

from .threaded import ServerThread

pytestmark = pytest.mark.slow  # real processes / thousands of generated requests: -m "not slow" skips

ENDPOINTS = [
    "/goip_get_status.html",
    "/goip_send_cmd.html",
    "/goip_post_sms.html",
    "/goip_pause_sms.html",
    "/goip_resume_sms.html",
    "/goip_remove_sms.html",
    "/goip_get_tasks.html",
    "/goip_get_sms.html",
    "/goip_get_sms_stat.html",
    "/goip_get_call_stat.html",
    "/goip_get_esims.html",
    "/goip_write_esims.html",
    "/goip_delete_esims.html",
    "/goip_send_ussd.html",
    "/goip_send_at.html",
    "/crypt_sess.json",
    "/sim/state",
    "/sim/insert",
    "/sim/remove",
    "/sim/signal",
    "/sim/registration",
    "/sim/balance",
    "/sim/inbound",
    "/sim/mms",
    "/sim/call",
    "/sim/ussd",
]
KEYS = [
    "op",
    "ports",
    "port",
    "slots",
    "type",
    "url",
    "period",
    "all_sims",
    "all_slots",
    "sms_id",
    "sms_num",
    "sms_del",
    "pos",
    "num",
    "has_content",
    "value",
    "outcome",
    "sender",
    "text",
    "raw",
    "total",
    "seq",
    "ref",
    "session",
    "auth",
    "cnonce",
    "crypt",
    "expires",
    "sim_imei(1)",
    "sms_url",
    "price",
    "answer",
    "duration",
    "ussd",
    "at",
    "AT",
    "timeout",
    "cancel",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # the login guard has its own tests; here it would only slow the fuzzing down
    s = ServerThread(str(tmp_path_factory.mktemp("fuzz")), max_body=65536, login_delay_cap=0.0).start()
    yield s
    s.stop()


def request(server, method: str, path: str, params: dict, body: bytes) -> tuple[int, bytes, str]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)  # a hang fails the test
    try:
        query = urllib.parse.urlencode(params)
        conn.request(method, path + ("?" + query if query else ""), body=body or None)
        resp = conn.getresponse()
        return resp.status, resp.read(), resp.getheader("Content-Type", "")
    finally:
        conn.close()


def rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


text = st.text(max_size=40)
values = st.one_of(
    text,
    st.integers(-10, 10**12).map(str),
    st.sampled_from(
        [
            "all",
            "*",
            "1",
            "1.01",
            "1A",
            "0",
            "99.99",
            "1-",
            "4-2",
            "1,2,",
            "lock",
            "get",
            "set",
            "multiple",
            "aes-ecb",
            "http://127.0.0.1:1/x",
            "",
            "-1",
            "1e9",
            "null",
            "%00",
            "*100#",
            "*125*1*2#",
            "AT+CSQ",
            "ATE0",
            "AT+CSQ\r\nAT+CFUN=0",
        ]
    ),
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True), text),
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(
            st.sampled_from(
                KEYS + ["tasks", "tid", "to", "sms", "tids", "type", "attachments", "smstype", "from", "ops"]
            ),
            inner,
            max_size=6,
        ),
    ),
    max_leaves=30,
)


def _nested(v, depth: int, opener: bytes) -> bytes:
    closer = b"]" if opener == b"[" else b"}"
    inner = json.dumps(v).encode()
    if opener == b"{":
        return b'{"a":' * depth + inner + closer * depth
    return opener * depth + inner + closer * depth


bodies = st.one_of(
    st.just(b""),
    st.binary(max_size=300),
    st.builds(_nested, json_values, st.integers(500, 5000), st.sampled_from([b"[", b"{"])),
    st.dictionaries(st.sampled_from(KEYS), values, min_size=1, max_size=5).map(
        # valid JSON whose last string holds bytes that are not UTF-8
        lambda d: json.dumps(d).encode()[:-1] + b',"x":"\xc3\x28\xff"}'
    ),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(st.sampled_from(KEYS), values, max_size=5).map(lambda d: urllib.parse.urlencode(d).encode()),
)


def check(status: int, payload: bytes, ctype: str) -> None:
    assert status < 500, payload[:300]
    assert ctype.startswith("application/json"), (status, ctype, payload[:200])
    answer = json.loads(payload)
    assert isinstance(answer, dict)


def test_fuzz_every_endpoint(server):
    cases = []

    @settings(
        max_examples=1200,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        method=st.sampled_from(["GET", "POST"]),
        path=st.sampled_from(ENDPOINTS),
        params=st.dictionaries(st.sampled_from(KEYS), values, max_size=6),
        body=bodies,
        auth=st.booleans(),
    )
    def fuzz(method, path, params, body, auth):
        if auth:
            params = {"username": "root", "password": "root", **params}
        check(*request(server, method, path, params, body))
        cases.append(path)

    fuzz()
    print(f"\nfuzz: {len(cases)} hostile requests over {len(set(cases))} endpoints, none answered 500, none hung")
    assert len(cases) >= 1000 and set(cases) == set(ENDPOINTS)


def test_fuzz_sessions_and_ciphertext(server):
    """Session requests with random seq, right or wrong auth, and random ciphertext."""
    cases = []

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        path=st.sampled_from(ENDPOINTS),
        seq=st.integers(-5, 2**40),
        body=st.binary(max_size=100),
        good_auth=st.booleans(),
    )
    def fuzz(path, seq, body, good_auth):
        status, payload, _ = request(
            server,
            "GET",
            "/crypt_sess.json",
            {
                "username": "root",
                "cnonce": "fuzz",
                "auth": crypt.handshake_auth("root", "root", "fuzz"),
                "crypt": "aes-ecb",
            },
            b"",
        )
        session = json.loads(payload)["session"]
        auth = crypt.request_auth("root", "root", session, seq, path) if good_auth else "0" * 32
        check(*request(server, "POST", path, {"session": session, "seq": str(seq), "auth": auth}, body))
        cases.append(path)

    fuzz()
    assert len(cases) >= 250


def test_oversized_and_garbage_requests(server):
    status, payload, _ = request(
        server, "POST", "/goip_post_sms.html", {"username": "root", "password": "root"}, b"{" + b" " * 70_000 + b"}"
    )
    assert status == 413 and json.loads(payload)["code"] == 413
    status, payload, _ = request(server, "GET", "/" + "x" * 5000, {}, b"")
    assert status in (404, 414, 400)


def test_memory_does_not_grow_with_hostile_traffic(server):
    """The same hostile mix again and again: RSS levels off (no per-request leak)."""
    mix = [
        ("POST", "/goip_send_cmd.html", {"username": "root", "password": "root"}, b'{"op":"lock","ports":"9"}'),
        ("POST", "/goip_post_sms.html", {"username": "root", "password": "root"}, b'{"tasks":[{"tid":"x"}]}'),
        ("GET", "/goip_get_status.html", {"username": "root", "password": "bad"}, b""),
        ("POST", "/goip_pause_sms.html", {"session": "0" * 32, "seq": "1", "auth": "x"}, b"\x00" * 32),
        ("GET", "/crypt_sess.json", {"username": "root", "cnonce": "c", "auth": "bad"}, b""),
    ]

    def burst():
        for _ in range(100):
            for m in mix:
                check(*request(server, *m))

    burst()
    before = rss()
    burst()
    burst()
    grown = rss() - before
    assert grown < 8 * 2**20, f"RSS grew {grown / 2**20:.1f} MiB over 1,000 hostile requests"
