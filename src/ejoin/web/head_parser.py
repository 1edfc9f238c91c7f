"""The edge's second reader of heads: aiohttp's pure-Python parser, lenient about spaces before a colon.

``HeadParser`` lets a header line with spaces before its colon through, its
name normalised (``Connection : close``, as PHP clients with hand-built
``CURLOPT_HTTPHEADER`` arrays send them; ``normalise_names`` has the rules).
The framing and every other check stay aiohttp's: the change is made on the
lines aiohttp has split, before its own header checks run.  Framing headers are
never taken from such a line: a proxy on the way that read it differently would
frame the request differently (request smuggling).  Two refusals of aiohttp's C
parser (llhttp) that its Python parser does not make are added: bytes that are
not ASCII in the request line, and versions other than HTTP/1.0 and 1.1.

llhttp reads every head first (web/second_opinion.py); this parser reads only
what llhttp refused, from a point where both start alike.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp.http_exceptions import BadHttpMessage, BadHttpMethod, InvalidURLError, LineTooLong
from aiohttp.http_parser import SINGLETON_HEADERS, HttpRequestParserPy
from aiohttp.http_writer import HttpVersion10, HttpVersion11

from ..protocol.codes import ResultCode

# A header line whose name (an RFC 9110 token) is followed by spaces, then the colon.
_SPACED_NAME = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+) +:")
_VERSIONS = (HttpVersion10, HttpVersion11)
# The HTTP methods llhttp knows (its RTSP ones aside); aiohttp's Python parser would take any token.
_METHODS = frozenset(
    b"DELETE GET HEAD POST PUT CONNECT OPTIONS TRACE COPY LOCK MKCOL MOVE PROPFIND PROPPATCH SEARCH UNLOCK "
    b"BIND REBIND UNBIND ACL REPORT MKACTIVITY CHECKOUT MERGE M-SEARCH NOTIFY SUBSCRIBE UNSUBSCRIBE PATCH "
    b"PURGE MKCALENDAR LINK UNLINK SOURCE QUERY".split()
)


class RequestLineTooLong(BadHttpMessage):
    code = ResultCode.URI_TOO_LONG


class HeadTooLarge(BadHttpMessage):
    code = ResultCode.HEADERS_TOO_LARGE


class VersionNotSupported(BadHttpMessage):
    code = 505


def _refuse_spaced(name: bytes, how: str) -> BadHttpMessage:
    text = name.decode()
    return BadHttpMessage(
        f"spaces before the colon of {text}: {how} must be written exactly '{text}:' "
        "(a proxy on the way could read the request differently)"
    )


def normalise_names(lines: list[bytes]) -> list[bytes]:
    """The head's lines (request line first) with ``name SP+ :`` read as ``name:``.

    A spaced line of a header that may appear once (aiohttp's singletons: Host,
    Content-Type, User-Agent...) beside a proper line of the same name is dropped:
    curl adds its own proper line when it does not recognise the hand-written one,
    and the proper line is the one a proxy on the way would have read.  Framing
    headers are never taken from a spaced line: Transfer-Encoding is refused, and
    Content-Length only passes as a copy of a proper one with the same value.
    """
    if not any(b" :" in line for line in lines[1:]):
        return lines  # the usual case: nothing to do, no copy
    spaced = [_SPACED_NAME.match(line) for line in lines]
    proper: dict[bytes, list[bytes]] = {}
    for line, m in zip(lines[1:], spaced[1:], strict=True):
        name, colon, value = line.partition(b":")
        if m is None and colon:
            proper.setdefault(name.lower(), []).append(value.strip(b" \t"))
    out = [lines[0]]
    for line, m in zip(lines[1:], spaced[1:], strict=True):
        if m is None:
            out.append(line)
            continue
        name = m[1]
        key = name.lower()
        if key == b"transfer-encoding":
            raise _refuse_spaced(name, "the header that frames the body")
        if key == b"content-length":
            value = line[m.end() :].strip(b" \t")
            if not proper.get(key) or any(v != value for v in proper[key]):
                raise _refuse_spaced(name, "the body's length")
            continue  # the same length again, as curl adds it
        if key in proper and key.decode() in SINGLETON_HEADERS:
            continue
        out.append(name + line[m.end() - 1 :])
    return out


def _check_method_prefix(start: bytes) -> None:
    """Refuse at once what cannot become a request line (TLS, any binary): llhttp does; aiohttp's
    parser would wait for a line end, holding the connection until the read timeout."""
    word, space, _ = start.lstrip(b"\r\n").partition(b" ")
    if space and word in _METHODS or not space and any(m.startswith(word) for m in _METHODS):
        return
    raise BadHttpMethod(start[:8].decode("latin-1"))


def line_too_long(request_line: bool | None, limit: int) -> BadHttpMessage:
    """The refusal of a line of the head longer than ``limit``: the request line (True), a header line
    (False), or one of the two when the parser cannot tell which (None)."""
    if request_line:
        return RequestLineTooLong(f"the request line (method, path and query) is longer than {limit} bytes")
    if request_line is None:
        return HeadTooLarge(f"a line of the head (the request line or a header) is longer than {limit} bytes")
    return HeadTooLarge(f"a header line is longer than {limit} bytes")


class HeadParser(HttpRequestParserPy):
    """aiohttp's request parser, lenient only about spaces before a header's colon (see the module)."""

    def parse_message(self, lines: list[bytes]) -> Any:
        # Refusals of aiohttp's C parser (llhttp) that its Python parser does not make.
        if not lines[0].isascii():
            raise InvalidURLError("the request line has bytes that are not ASCII: percent-encode the path and query")
        if lines[0].split(b" ", 1)[0] not in _METHODS:
            raise BadHttpMethod(error="the request line does not start with an HTTP method (GET, POST, ...)")
        message = super().parse_message(normalise_names(lines))
        if message.version not in _VERSIONS:
            raise VersionNotSupported(f"HTTP/{message.version.major}.{message.version.minor} is not spoken here")
        return message

    def feed_data(self, data: bytes, *args: Any, **kwargs: Any) -> Any:
        try:
            result = super().feed_data(data, *args, **kwargs)
            if self._tail and not self._lines and self._payload_parser is None:
                _check_method_prefix(self._tail)  # the start of the next request line, still incomplete
            return result
        except LineTooLong:
            # aiohttp says "line too long" for both; a client needs to know which part to shorten
            if self._payload_parser is not None:
                raise
            if not self._lines:
                raise line_too_long(True, self.max_line_size) from None
            raise line_too_long(False, self.max_field_size) from None
        except BadHttpMessage as exc:
            if exc.message == "Too many headers received":
                raise HeadTooLarge(f"more than {self.max_headers} header lines") from None
            raise
