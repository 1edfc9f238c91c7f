"""The HTTP edge (web/edge.py): heads with spaces before a colon, smuggling refused, refusals in JSON.

Raw bytes over a socket to the gateway served as ``ejoin gateway`` serves it
(the ``device`` fixture: the connection guard and the edge), and the head
parser alone, beside aiohttp's C parser (llhttp) as the reference of what a
strict parser refuses.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import tracemalloc
from collections import Counter
from unittest import mock

import pytest
from aiohttp.http_exceptions import HttpProcessingError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ejoin.web.edge import HeadParser

from ..rawhttp import exchange, php_curl

http_parser = pytest.importorskip("aiohttp.http_parser")
StrictParser = getattr(http_parser, "HttpRequestParserC", None)  # llhttp, when aiohttp has its C extension
AUTH_QUERY = "username=root&password=root"
JSON_TASK = b'{"type":"send-sms","tasks":[{"tid":7,"to":"13800000001","sms":"hi"}]}'


def _parse(parser_class, data: bytes):
    """The messages a parser reads from ``data`` (method, path, headers, body read), or its refusal."""
    loop = asyncio.new_event_loop()
    try:
        parser = parser_class(mock.Mock(), loop, 2**16, max_line_size=8190, max_field_size=8190, max_headers=128)
        try:
            messages, _, _ = parser.feed_data(data)
            # an empty line ends whatever was left incomplete (both parsers skip it between requests)
            messages += parser.feed_data(b"\r\n\r\n")[0]
        except HttpProcessingError as exc:
            return exc
        out = []
        for message, payload in messages:
            body = payload.read_nowait(-1) if payload.exception() is None else "broken"
            out.append((message.method, message.path, tuple(message.headers.items()), message.should_close, body))
        return out
    finally:
        loop.close()


def head(*lines: str, body: bytes = b"") -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# --- the parser alone ---------------------------------------------------------------------------

PHP_HEADS = {
    "GET, Connection : close": php_curl("GET", "/goip_get_status.html", "gw", ["Connection : close"]),
    "POST JSON, Content-Type : application/json": php_curl(
        "POST", "/goip_post_sms.html", "gw", ["Content-Type : application/json", "Connection : close"], JSON_TASK
    ),
    "several spaces": php_curl("GET", "/", "gw", ["X-Api-Key   : k", "Accept : application/json"]),
    "hand-built Content-Length too": php_curl(
        "POST", "/goip_post_sms.html", "gw", [f"Content-Length : {len(JSON_TASK)}"], JSON_TASK
    ),
    "hand-built Host too": php_curl("GET", "/", "gw", ["Host : elsewhere"]),
}


@pytest.mark.parametrize("what", list(PHP_HEADS))
def test_heads_with_spaces_before_a_colon_are_read(what):
    messages = _parse(HeadParser, PHP_HEADS[what])
    assert isinstance(messages, list) and len(messages) == 1, messages
    _, _, headers, should_close, body = messages[0]
    names = [name for name, _ in headers]
    assert all(name == name.strip() for name in names)
    if "Connection : close" in PHP_HEADS[what].decode():
        assert should_close
    if what == "POST JSON, Content-Type : application/json":
        assert body == JSON_TASK
        # curl's own form type is the line a proxy would read: it is the one kept
        assert dict(headers)["Content-Type"] == "application/x-www-form-urlencoded"
    if what == "hand-built Content-Length too":
        assert names.count("Content-Length") == 1 and body == JSON_TASK
    if what == "hand-built Host too":
        assert dict(headers)["Host"] == "gw"
    if what == "several spaces":
        assert dict(headers)["X-Api-Key"] == "k" and names.count("Accept") == 2


SMUGGLING = {
    "Content-Length and Transfer-Encoding": head(
        "POST / HTTP/1.1", "Host: x", "Content-Length: 5", "Transfer-Encoding: chunked", body=b"0\r\n\r\n"
    ),
    "two Content-Lengths that differ": head(
        "POST / HTTP/1.1", "Host: x", "Content-Length: 5", "Content-Length: 6", body=b"hello!"
    ),
    "a spaced Content-Length alone": head("POST / HTTP/1.1", "Host: x", "Content-Length : 5", body=b"hello"),
    "a spaced Content-Length unlike the proper one": head(
        "POST / HTTP/1.1", "Host: x", "Content-Length: 5", "Content-Length : 50", body=b"hello"
    ),
    "a spaced Transfer-Encoding": head("POST / HTTP/1.1", "Host: x", "Transfer-Encoding : chunked", body=b"0\r\n\r\n"),
    "a spaced Transfer-Encoding beside a Content-Length": head(
        "POST / HTTP/1.1", "Host: x", "Content-Length: 5", "Transfer-Encoding : chunked", body=b"0\r\n\r\n"
    ),
    "obs-fold": head("GET / HTTP/1.1", "Host: x", "X-A: 1", " Transfer-Encoding: chunked"),
    "a folded Transfer-Encoding value": head(
        "POST / HTTP/1.1", "Host: x", "Transfer-Encoding:", " chunked", body=b"0\r\n\r\n"
    ),
    "a space inside a name": head("POST / HTTP/1.1", "Host: x", "Content Length: 5", body=b"hello"),
    "a space inside a spaced name": head("GET / HTTP/1.1", "Host: x", "X Forwarded : 1"),
    "a tab before the colon": head("POST / HTTP/1.1", "Host: x", "Content-Length\t: 5", body=b"hello"),
    "a space before the name": head("GET / HTTP/1.1", "Host: x", " X-A: 1"),
    "a bare LF": b"GET / HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n\n0\n\n",
    "a NUL in a value": head("GET / HTTP/1.1", "Host: x", "X-A: a\x00b"),
    "two spaced Content-Types": head("GET / HTTP/1.1", "Host: x", "Content-Type : a", "Content-Type : b"),
    "two Hosts": head("GET / HTTP/1.1", "Host: x", "Host: y"),
    "chunked then identity": head(
        "POST / HTTP/1.1", "Host: x", "Transfer-Encoding: chunked, identity", body=b"0\r\n\r\n"
    ),
}


@pytest.mark.parametrize("what", list(SMUGGLING))
def test_what_a_strict_parser_refuses_stays_refused(what):
    assert isinstance(_parse(HeadParser, SMUGGLING[what]), HttpProcessingError), what
    if StrictParser is not None and "spaced" not in what and "two spaced" not in what:
        assert isinstance(_parse(StrictParser, SMUGGLING[what]), HttpProcessingError)  # the reference agrees


NAMES = ["Host", "Content-Length", "Transfer-Encoding", "Content-Type", "Connection", "X-A", "Expect", "Accept"]
VALUES = ["x", "0", "3", "5", "chunked", "close", "keep-alive", "gzip, chunked", "a b", "", "1, 1", "+3", "\tx"]
SEPARATORS = [": ", ":", " : ", "  :", "\t: ", " ", ": \t", ":\x00"]
BODIES = [b"", b"abc", b"0\r\n\r\n", b"3\r\nabc\r\n0\r\n\r\n", b"abcGET / HTTP/1.1\r\nHost: y\r\n\r\n", b"zz\r\n"]


@st.composite
def heads(draw):
    method = draw(st.sampled_from(["GET", "POST"]))
    target = draw(st.sampled_from(["/", "/goip_get_status.html?a=1", "/a%20b", "/x y", "/\x7f"]))
    lines = [f"{method} {target} HTTP/1.{draw(st.sampled_from(['0', '1']))}"]
    for _ in range(draw(st.integers(0, 4))):
        prefix = draw(st.sampled_from(["", "", "", " "]))
        name, separator, value = (draw(st.sampled_from(pool)) for pool in (NAMES, SEPARATORS, VALUES))
        lines.append(prefix + name + separator + value)
    if draw(st.booleans()):
        lines.insert(1, "Host: h")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + draw(st.sampled_from(BODIES))


@pytest.mark.skipif(StrictParser is None, reason="aiohttp without its C parser")
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=heads())
def test_the_head_parser_is_as_strict_as_llhttp_but_for_spaced_names(data):
    ours, theirs = _parse(HeadParser, data), _parse(StrictParser, data)
    spaced = any(line.split(b":")[0].endswith(b" ") for line in data.split(b"\r\n\r\n")[0].split(b"\r\n")[1:])
    if isinstance(theirs, HttpProcessingError) and not spaced:
        if "Data after" in theirs.message:  # llhttp refuses bytes after a closing request at once,
            assert isinstance(ours, HttpProcessingError) or ours[-1][3]  # aiohttp's parser closes after it
        else:
            assert isinstance(ours, HttpProcessingError), (data, ours)
    if isinstance(ours, list) and isinstance(theirs, list):
        # both read it: the same messages, framed the same (bodies, pipelined requests)
        assert ours == theirs, data
    if isinstance(ours, list) and spaced:
        # read only thanks to the normalised names: never framed by a spaced line
        for line in data.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
            name = line.split(b":")[0]
            if name.endswith(b" ") and name.strip().lower() == b"transfer-encoding":
                pytest.fail(f"a spaced Transfer-Encoding was taken: {data!r}")


# --- over the wire --------------------------------------------------------------------------------


def _where(device) -> tuple[str, int]:
    return device.client.server.host, device.client.server.port


async def test_a_php_curl_client_sends_a_task_and_reads_the_status(device):
    host, port = _where(device)
    post = php_curl(
        "POST",
        f"/goip_post_sms.html?{AUTH_QUERY}",
        f"{host}:{port}",
        ["Content-Type : application/json", "Connection : close"],
        JSON_TASK,
    )
    talk = await exchange(host, port, post)
    assert [a.status for a in talk.answers] == [200] and talk.closed  # Connection : close was heard
    assert talk.answers[0].json["status"][0]["status"] == "0 OK"
    get = php_curl("GET", f"/goip_get_status.html?{AUTH_QUERY}", host, ["Accept : application/json"])
    talk = await exchange(host, port, get, answers=1)
    assert talk.answers[0].json["type"] == "dev-status"


async def test_spaced_headers_on_a_kept_alive_connection_and_with_expect_100(device):
    host, port = _where(device)
    plain = php_curl("GET", f"/goip_get_status.html?{AUTH_QUERY}", host, [])
    spaced = php_curl("GET", f"/goip_get_status.html?{AUTH_QUERY}", host, ["X-Platform : php"])
    talk = await exchange(host, port, plain, spaced, answers=2)
    assert [a.json["type"] for a in talk.answers] == ["dev-status", "dev-status"]
    many = ",".join(f"1380000{i:04d}" for i in range(200))
    big = b'{"type":"send-sms","tasks":[{"tid":8,"to":"' + many.encode() + b'","sms":"hi"}]}'
    post = php_curl("POST", f"/goip_post_sms.html?{AUTH_QUERY}", host, ["Content-Type : application/json"], big)
    assert b"Expect: 100-continue" in post
    talk = await exchange(host, port, post, answers=2)
    assert [a.status for a in talk.answers] == [100, 200]
    assert talk.answers[1].json["status"][0]["status"] == "0 OK"


REFUSED = {
    "a request line over 8190 bytes": (b"GET /goip_get_status.html?x=" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 414),
    "a header over 8190 bytes": (head("GET / HTTP/1.1", "Host: x", "X-A: " + "a" * 9000), 431),
    "200 headers": (head("GET / HTTP/1.1", "Host: x", *(f"X-{i}: 1" for i in range(200))), 431),
    "HTTP/9.9": (head("GET / HTTP/9.9", "Host: x"), 505),
    "not HTTP": (b"HELLO\r\n\r\n", 400),
    "TLS on the HTTP port": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),
    "UTF-8 in the request line": (b"GET /goip_get_status.html?x=\xd0\xbf HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "a space inside a header name": (head("GET / HTTP/1.1", "Host: x", "Bad Name: 1"), 400),
    "a control character in the path": (b"GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    **{what: (data, 400) for what, data in SMUGGLING.items()},
}


@pytest.mark.parametrize("what", list(REFUSED))
async def test_refusals_before_a_handler_answer_in_json_without_a_traceback(device, what, caplog):
    data, status = REFUSED[what]
    host, port = _where(device)
    with caplog.at_level(logging.DEBUG):
        talk = await exchange(host, port, data)
    assert [a.status for a in talk.answers] == [status], talk
    answer = talk.answers[0].json
    assert answer["code"] == status and len(answer["reason"]) > 10
    assert "Traceback" not in answer["reason"] and "b'" not in answer["reason"]
    assert talk.closed
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info], caplog.text


async def test_a_broken_chunked_body_is_a_400_in_json(device):
    host, port = _where(device)
    data = head(
        f"POST /goip_send_cmd.html?{AUTH_QUERY} HTTP/1.1",
        "Host: x",
        "Transfer-Encoding: chunked",
        body=b"5\r\n{}   \r\nzz\r\n",
    )
    talk = await exchange(host, port, data)
    assert [a.status for a in talk.answers] == [400] and talk.closed
    assert "chunked" in talk.answers[0].json["reason"]


SMUGGLED_LOCK = f"GET /goip_send_cmd.html?{AUTH_QUERY}&op=lock&ports=1 HTTP/1.1\r\nHost: x\r\n\r\n".encode()


@pytest.mark.parametrize(
    "front",
    [
        "Content-Length and Transfer-Encoding",
        "a spaced Transfer-Encoding",
        "a spaced Content-Length alone",
        "obs-fold",
        "a bare LF",
    ],
)
async def test_nothing_behind_a_refused_head_is_run(device, front):
    before = device.state_of("1.01")
    host, port = _where(device)
    talk = await exchange(host, port, SMUGGLING[front] + SMUGGLED_LOCK)
    assert [a.status for a in talk.answers] == [400] and talk.closed
    await device.settle(1)
    assert device.state_of("1.01") == before != 12  # not user-locked by the request behind


async def test_refused_heads_leave_no_memory_behind(device):
    """What a refused head brought in is freed at once, with the cyclic GC off (as good as off under
    the server's GC tuning): 40 request lines of 256 KB keep well under 1 MB."""
    host, port = _where(device)
    line = b"GET /?" + b"a" * 256 * 1024 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    await exchange(host, port, line)  # the first one's one-off allocations
    gc.collect()
    gc.disable()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(40):
            talk = await exchange(host, port, line)
            assert talk.answers[0].status in (400, 414)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        gc.enable()
    assert held < 1024 * 1024, f"{held / 1024:.0f} KB held after 40 refused 256 KB heads"


def _garbage_of(make):
    """What ``make`` (a coroutine function) leaves to the cyclic collector, by type."""

    async def run():
        await make()  # one-off allocations first
        gc.collect()
        gc.disable()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            for _ in range(10):
                await make()
            await asyncio.sleep(0)
            gc.collect()
            return Counter(type(o).__name__ for o in gc.garbage)
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()

    return run()


async def test_refusals_and_redirects_leave_no_reference_cycles(device):
    """Under the server's GC tuning a reference cycle per request stays in memory long: refusals
    (a raised error answered in JSON, a cross-site request, a form that is not UTF-8, a head that
    cannot be read) and the dashboard's redirects leave none.  (aiohttp's own 404/405 leaves a
    small one, bounded by the collector: about 10 MB however many.)"""
    form = {"Content-Type": "application/x-www-form-urlencoded"}

    async def requests() -> None:
        await device.client.post("/login", data=b"csrf=\xff", headers=form)  # not UTF-8: 400
        await device.client.post("/login", data=b"csrf=x", headers=form, allow_redirects=False)  # stale: 303
        await device.client.get("/dashboard/ports", allow_redirects=False)  # no session: 303
        await device.client.get("/goip_get_status.html", headers={"Sec-Fetch-Site": "cross-site"})  # 403
        await device.client.get("/goip_send_cmd.html", params={**AUTH_PARAMS, "op": "nope"})  # refused: 15
        await device.client.post("/goip_send_cmd.html", params=AUTH_PARAMS, data=b"{")  # 400

    assert await _garbage_of(requests) == Counter()
    # over raw sockets asyncio's own transports leave some (both ends, any request): a refused
    # head leaves exactly what a served one does
    host, port = _where(device)
    served = b"GET /goip_get_status.html?username=root&password=root HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    refused = b"GET /goip_get_status.html HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n"
    baseline = await _garbage_of(lambda: exchange(host, port, served))
    assert await _garbage_of(lambda: exchange(host, port, refused)) == baseline


AUTH_PARAMS = {"username": "root", "password": "root"}


@pytest.mark.parametrize(
    "data",
    [
        b"POST /login HTTP/1.1\r\nHost: x\r\nCookie: ejoin_csrf=\xff\xfe\r\nContent-Length: 6\r\n\r\ncsrf=a",
        b"POST /dashboard/ports/command HTTP/1.1\r\nHost: x\r\nX-CSRF-Token: \xff\r\nContent-Length: 0\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic \xff\xfe\r\n\r\n",
        b"GET /goip_get_status.html?session=1&seq=1&auth=\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
    ids=["a login cookie", "a CSRF header", "basic auth", "a session's auth"],
)
async def test_header_bytes_that_are_not_utf8_are_no_failure(device, data, caplog):
    host, port = _where(device)
    talk = await exchange(host, port, data, answers=1)
    assert talk.answers and talk.answers[0].status < 500, talk
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
