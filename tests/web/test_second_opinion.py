"""llhttp first, the edge's parser as the second opinion (web/second_opinion.py), from verified boundaries only.

The parser alone, fed exactly the chunks a test gives (as a socket would hand
them over), beside llhttp alone and the edge's ``HeadParser`` alone as the
references; then a few conversations over the wire with the gateway as
``ejoin gateway`` serves it.
"""

from __future__ import annotations

import asyncio
from unittest import mock

import pytest
from aiohttp.http_exceptions import HttpProcessingError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ejoin.web import edge
from ejoin.web.edge import HeadParser, _reason
from ejoin.web.second_opinion import COUNTING, KEEPING, LLHTTP, SecondOpinionParser, head_end

from ..rawhttp import parse_answers

http_parser = pytest.importorskip("aiohttp.http_parser")
LLHTTP_PARSER = getattr(http_parser, "HttpRequestParserC", None)
pytestmark = pytest.mark.skipif(LLHTTP_PARSER is None, reason="aiohttp without its C parser")

LIMITS = {"max_line_size": 8190, "max_field_size": 8190, "max_headers": 128}
AUTH_QUERY = "username=root&password=root"


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def _llhttp(loop):
    return LLHTTP_PARSER(mock.Mock(), loop, 2**16, **LIMITS)


def _python(loop):
    return HeadParser(mock.Mock(), loop, 2**16, **LIMITS)


def _second_opinion(loop, keep_limit: int = 64 * 1024) -> SecondOpinionParser:
    return SecondOpinionParser(_llhttp(loop), lambda: _python(loop), keep_limit)


def _read(messages) -> list[tuple]:
    out = []
    for message, payload in messages:
        if payload.exception() is not None:
            body = "broken"
        elif not payload.is_eof():
            body = "incomplete"
        else:
            body = payload.read_nowait(-1)
        out.append((message.method, message.path, tuple(message.headers.items()), message.should_close, body))
    return out


def feed(parser, *chunks: bytes) -> tuple[list[tuple], HttpProcessingError | None]:
    """What ``parser`` hands on from ``chunks`` fed one after the other, and its refusal if it made one."""
    messages: list = []
    try:
        for chunk in chunks:
            messages += parser.feed_data(chunk)[0]
    except HttpProcessingError as exc:
        return _read(messages), exc
    return _read(messages), None


def request(method: str = "GET", path: str = "/", *headers: str, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: gw", *headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


PLAIN = request("POST", "/goip_post_sms.html", "Content-Type: application/json", body=b'{"a":1}')
SPACED = request("POST", "/goip_post_sms.html", "Content-Type : application/json", "X-Php : 1", body=b'{"b":2}')


def _spaced_read(messages) -> None:
    method, path, headers, _, body = messages[-1]
    assert (method, path, body) == ("POST", "/goip_post_sms.html", b'{"b":2}')
    assert dict(headers)["X-Php"] == "1"


def test_the_first_empty_line_ends_a_head_at_the_earliest():
    assert head_end(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nabc") == 27
    assert head_end(b"GET / HTTP/1.1\nHost: x\n\nabc") == 24
    assert head_end(b"GET / HTTP/1.1\r\nA: 1\n\r\nB: 2\r\n\r\n") == 23
    assert head_end(b"GET / HTTP/1.1\r\nHost: x\r\n") == -1


def test_plain_requests_are_llhttps_and_each_ends_at_a_verified_boundary(loop):
    parser = _second_opinion(loop)
    for _ in range(3):
        messages, refused = feed(parser, PLAIN)
        assert refused is None and len(messages) == 1 and messages[0][4] == b'{"a":1}'
        assert parser._mode == KEEPING and not parser.second_opinion
    assert feed(parser, request())[0][0][:2] == ("GET", "/")
    assert parser._mode == KEEPING


def test_a_spaced_head_first_on_a_connection_is_read_by_the_second_parser(loop):
    parser = _second_opinion(loop)
    messages, refused = feed(parser, SPACED)
    assert refused is None and len(messages) == 1
    _spaced_read(messages)
    assert parser.second_opinion  # and it reads the rest of the connection
    messages, refused = feed(parser, PLAIN, SPACED)
    assert refused is None and [m[4] for m in messages] == [b'{"a":1}', b'{"b":2}']


def test_a_spaced_head_fifth_on_a_kept_alive_connection_is_read(loop):
    parser = _second_opinion(loop)
    for _ in range(4):
        assert feed(parser, PLAIN)[1] is None
    assert parser._mode == KEEPING and not parser.second_opinion
    messages, refused = feed(parser, SPACED)
    assert refused is None and len(messages) == 1
    _spaced_read(messages)
    assert parser.second_opinion


def test_a_pipelined_pair_in_one_chunk_is_read_again_from_its_start(loop):
    """llhttp read the first and refused the second before handing anything on: the second parser
    reads both from the boundary, each once, as it would have read them alone."""
    parser = _second_opinion(loop)
    assert feed(parser, PLAIN)[1] is None
    messages, refused = feed(parser, PLAIN + SPACED)
    assert refused is None and [m[4] for m in messages] == [b'{"a":1}', b'{"b":2}']
    assert messages == feed(_python(loop), PLAIN + SPACED)[0]
    # a framing header on a spaced line is refused the same way
    smuggle = request("POST", "/", "Transfer-Encoding : chunked", body=b"0\r\n\r\n")
    messages, refused = feed(_second_opinion(loop), PLAIN + smuggle)
    assert messages == [] and refused is not None and "Transfer-Encoding" in _reason(refused)


def test_a_pair_whose_first_llhttp_handed_on_gets_llhttps_refusal_of_the_second(loop):
    """The chunk held the first request and the start of the second: llhttp handed the first on, so
    nothing can be read again; the spaced second is llhttp's to refuse, in words."""
    parser = _second_opinion(loop)
    messages, refused = feed(parser, PLAIN + SPACED[:20])
    assert refused is None and len(messages) == 1 and parser._mode == LLHTTP
    messages, refused = feed(parser, SPACED[20:])
    assert messages == [] and refused is not None
    assert _reason(refused).startswith("a header's name cannot be read")
    assert "b'" not in _reason(refused)


def test_a_head_split_over_two_chunks(loop):
    parser = _second_opinion(loop)
    cut = SPACED.index(b"Type :") + 4  # llhttp refuses in the second chunk; both are read again
    messages, refused = feed(parser, SPACED[:cut], SPACED[cut:])
    assert refused is None
    _spaced_read(messages)
    parser = _second_opinion(loop)
    messages, refused = feed(parser, PLAIN[:30], PLAIN[30:])  # a plain one: a boundary after it
    assert refused is None and messages[0][4] == b'{"a":1}' and parser._mode == KEEPING
    _spaced_read(feed(parser, SPACED[:10], SPACED[10:])[0])


def test_a_body_split_over_chunks_ends_at_a_boundary(loop):
    parser = _second_opinion(loop)
    big = request("POST", "/goip_post_sms.html", body=b"x" * 3000)
    cut = big.index(b"\r\n\r\n") + 100
    messages, refused = feed(parser, big[:cut])
    assert refused is None and len(messages) == 1 and parser._mode == COUNTING
    assert feed(parser, big[cut:-500], big[-500:]) == ([], None)
    assert parser._mode == KEEPING
    _spaced_read(feed(parser, SPACED)[0])
    # with Expect: 100-continue the body comes after the answer, in chunks of its own
    parser = _second_opinion(loop)
    expecting = request("POST", "/", "Expect: 100-continue", body=b"y" * 2000)
    head = expecting.index(b"\r\n\r\n") + 4
    feed(parser, expecting[:head], expecting[head:])
    assert parser._mode == KEEPING
    _spaced_read(feed(parser, SPACED)[0])


def test_bytes_after_a_split_body_are_doubt(loop):
    parser = _second_opinion(loop)
    big = request("POST", "/", body=b"x" * 3000)
    feed(parser, big[:-10])
    messages, refused = feed(parser, big[-10:] + SPACED[:30])  # the next head starts in the same chunk
    assert refused is None and parser._mode == LLHTTP
    messages, refused = feed(parser, SPACED[30:])
    assert refused is not None  # llhttp's alone, in words
    assert _reason(refused).startswith("a header's name cannot be read")


def test_chunked_bodies_are_read_by_llhttp_and_leave_it_in_doubt(loop):
    parser = _second_opinion(loop)
    chunked = b"POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    messages, refused = feed(parser, chunked[:60], chunked[60:])
    assert refused is None and messages[0][4] == b"abcde" and parser._mode == LLHTTP
    assert feed(parser, PLAIN)[0][0][4] == b'{"a":1}'  # plain requests go on
    messages, refused = feed(parser, SPACED)
    assert messages == [] and refused is not None


def test_a_request_that_closes_the_connection_is_no_boundary(loop):
    parser = _second_opinion(loop)
    closing = request("GET", "/", "Connection: close")
    assert feed(parser, closing)[0][0][3] is True and parser._mode == LLHTTP
    messages, refused = feed(parser, PLAIN)
    assert messages == [] and "Connection: close" in _reason(refused)


def test_what_is_kept_is_bounded(loop):
    parser = _second_opinion(loop, keep_limit=1000)
    line = b"GET /?" + b"a" * 900
    feed(parser, line)
    assert parser._mode == KEEPING and parser._kept == line
    feed(parser, b"a" * 200)  # over the limit: nothing kept, llhttp alone
    assert parser._mode == LLHTTP and parser._kept == b""
    messages, refused = feed(parser, b"a" * 8000 + b" HTTP/1.1\r\n\r\n")
    assert refused is not None and refused.code == 414 and "request line" in _reason(refused)
    parser = _second_opinion(loop, keep_limit=1000)
    feed(parser, b"GET / HTTP/1.1\r\nHost: gw\r\nX-A: " + b"a" * 1000)
    messages, refused = feed(parser, b"a" * 9000 + b"\r\n\r\n")
    assert refused is not None and refused.code == 431 and "header line" in _reason(refused)


def test_aiohttp_without_its_c_parser_reads_every_head_with_the_edges(monkeypatch):
    monkeypatch.setattr(edge, "LLHTTP", None)
    server = mock.Mock(_kwargs={}, _loop=asyncio.new_event_loop())
    try:
        handler = edge.edge_handler(server)
        assert type(handler._parser) is HeadParser
    finally:
        server._loop.close()
    monkeypatch.undo()
    server = mock.Mock(_kwargs={}, _loop=asyncio.new_event_loop())
    try:
        assert type(edge.edge_handler(server)._parser) is SecondOpinionParser
    finally:
        server._loop.close()


# --- what llhttp accepts, the edge's parser reads alike; the two together, whatever the chunks --------

NAMES = ["Host", "Content-Length", "Transfer-Encoding", "Content-Type", "Connection", "X-A", "Accept"]
VALUES = ["gw", "0", "3", "5", "chunked", "close", "keep-alive", "a b", "", "\tx"]
SEPARATORS = [": ", ": ", ":", " : ", "  :", "\t: "]
BENIGN = ["X-A: 1", "Accept: */*", "Accept : */*", "Content-Type : application/json", "X-Php  : 1"]
BODIES = [b"", b"abc", b"hello", b"0\r\n\r\n", b"3\r\nabc\r\n0\r\n\r\n"]


@st.composite
def requests(draw):
    method = draw(st.sampled_from(["GET", "POST"]))
    target = draw(st.sampled_from(["/", "/goip_get_status.html?a=1", "/a%20b"]))
    lines = [f"{method} {target} HTTP/1.1", "Host: h"]
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            lines.append(draw(st.sampled_from(BENIGN)))
        else:
            name, separator, value = (draw(st.sampled_from(pool)) for pool in (NAMES, SEPARATORS, VALUES))
            lines.append(name + separator + value)
    body = draw(st.sampled_from(BODIES))
    if body and draw(st.booleans()):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _bytewise(parser, data: bytes):
    """A reference reading: the parser fed a byte at a time (each message handed on as soon as it can be)."""
    return feed(parser, *(data[i : i + 1] for i in range(len(data))))


def test_a_transfer_encoding_that_frames_nothing_is_refused_whichever_parser_reads(loop):
    for value in ("", "gzip", "chunked, gzip"):
        head = f"POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: {value}\r\n\r\n".encode()
        for chunks in ((head,), (PLAIN, head)):  # at a boundary (the second opinion's), and after one
            messages, refused = feed(_second_opinion(loop), *chunks)
            assert refused is not None and "Transfer-Encoding" in refused.message, (value, chunks)
            assert len(messages) == len(chunks) - 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=requests())
def test_whatever_the_pair_accepts_the_edges_parser_reads_alike(data):
    """llhttp alone is not the edge: what it lets through that the edge's parser refuses (an empty
    Transfer-Encoding, found here) the pair refuses too."""
    loop = asyncio.new_event_loop()
    try:
        theirs, their_refusal = feed(_second_opinion(loop), data)
        ours, our_refusal = feed(_python(loop), data)
    finally:
        loop.close()
    if their_refusal is None and theirs:
        assert our_refusal is None and ours == theirs, data


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=st.lists(requests(), min_size=1, max_size=4), cuts=st.lists(st.integers(1, 400), max_size=6))
def test_what_is_handed_on_is_what_one_parser_alone_would_hand_on(stream, cuts):
    """Requests one after the other, cut into chunks anyhow: what the pair hands on is what llhttp
    alone or the edge's parser alone hands on (a prefix of it, where a refusal stops it), never a
    reading of its own; and where llhttp accepts everything, exactly llhttp's."""
    data = b"".join(stream)
    chunks, at = [], 0
    for cut in sorted(set(cuts)):
        if at < cut < len(data):
            chunks.append(data[at:cut])
            at = cut
    chunks.append(data[at:])
    loop = asyncio.new_event_loop()
    try:
        got, refused = feed(_second_opinion(loop), *chunks)
        llhttp_alone, llhttp_refused = _bytewise(_llhttp(loop), data)
        python_alone, _ = _bytewise(_python(loop), data)
    finally:
        loop.close()
    finished = [m for m in got if m[4] != "incomplete"]
    assert finished == llhttp_alone[: len(finished)] or finished == python_alone[: len(finished)], (chunks, got)
    if llhttp_refused is None:
        assert refused is None and got == llhttp_alone, chunks


# --- over the wire ----------------------------------------------------------------------------------


async def _converse(host: str, port: int, *requests: bytes) -> list:
    """Each request written after the answer to the one before (a kept-alive connection, never
    pipelined); the answers, until one closes the connection."""
    reader, writer = await asyncio.open_connection(host, port)
    answers = []
    try:
        for data in requests:
            writer.write(data)
            await writer.drain()
            got = b""
            async with asyncio.timeout(5):
                while not (parsed := parse_answers(got)) or parsed[-1].status == 100:
                    chunk = await reader.read(65536)
                    if not chunk:
                        return answers + parsed
                    got += chunk
            answers += parsed
    finally:
        writer.close()
    return answers


def _status_get(host: str, *headers: str) -> bytes:
    return request("GET", f"/goip_get_status.html?{AUTH_QUERY}", *headers).replace(
        b"Host: gw", f"Host: {host}".encode()
    )


async def test_a_spaced_head_on_the_first_and_the_fifth_request_of_a_connection(device):
    host, port = device.client.server.host, device.client.server.port
    plain, spaced = _status_get(host), _status_get(host, "X-Platform : php", "Accept : application/json")
    answers = await _converse(host, port, spaced, plain)
    assert [a.json["type"] for a in answers] == ["dev-status", "dev-status"]
    answers = await _converse(host, port, plain, plain, plain, plain, spaced, plain)
    assert [a.json["type"] for a in answers] == ["dev-status"] * 6


async def test_a_spaced_framing_header_after_plain_requests_is_refused_in_json(device):
    host, port = device.client.server.host, device.client.server.port
    smuggle = request("POST", f"/goip_post_sms.html?{AUTH_QUERY}", "Transfer-Encoding : chunked", body=b"0\r\n\r\n")
    answers = await _converse(host, port, _status_get(host), _status_get(host), smuggle)
    assert [a.status for a in answers] == [200, 200, 400]
    assert "Transfer-Encoding" in answers[-1].json["reason"]
