"""The HTTP edge: how a request's head is read, and how a head that cannot be read is answered.

``EdgeHandler`` is aiohttp's own connection protocol with three changes:

- Heads are read by aiohttp's pure-Python parser (``HeadParser``), which lets a
  header line with spaces before its colon through, its name normalised
  (``Connection : close``, as PHP clients with hand-built ``CURLOPT_HTTPHEADER``
  arrays send them; ``normalise_names`` has the rules).  The framing and every
  other check stay aiohttp's: the change is made on the lines aiohttp has split,
  before its own header checks run.  Framing headers are never taken from such a
  line: a proxy on the way that read it differently would frame the request
  differently (request smuggling).  Two refusals of aiohttp's C parser (llhttp)
  that its Python parser does not make are added: bytes that are not ASCII in the
  request line, and versions other than HTTP/1.0 and 1.1.
- Anything refused before a handler runs (a bad request line, a header too long,
  too many headers, bad chunking, ...) is answered in the device's JSON error
  shape with a reason a person understands, and logged as one debug line.
- After such a refusal nothing more is read from the connection (it is answered
  and closed), and the refusal keeps no traceback: the traceback's frames held
  the bytes just received in a reference cycle, which under the server's GC
  tuning (``gateway/runtime.tune_gc_for_server``) stayed in memory long enough
  for a flood of over-long heads to grow the process by hundreds of MB
  (benchmarks/bench_junk_memory.py).

The cost: the parser alone takes 34 µs per request instead of llhttp's 17 µs;
a gateway's CPU per request is within 3 % (docs/decisions.md has the figures).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import (
    BadHttpMessage,
    BadHttpMethod,
    BadStatusLine,
    HttpProcessingError,
    InvalidHeader,
    InvalidURLError,
    LineTooLong,
    TransferEncodingError,
)
from aiohttp.http_parser import SINGLETON_HEADERS, HttpRequestParserPy
from aiohttp.http_writer import HttpVersion10, HttpVersion11
from aiohttp.web_protocol import MAX_MSG_QUEUE_SIZE, RequestHandler, RequestPayloadError, _ErrInfo
from aiohttp.web_request import BaseRequest

from ..protocol.codes import ResultCode
from ..protocol.messages import Reply, encode

log = logging.getLogger(__name__)

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
                raise RequestLineTooLong(
                    f"the request line (method, path and query) is longer than {self.max_line_size} bytes"
                ) from None
            raise HeadTooLarge(f"a header line is longer than {self.max_field_size} bytes") from None
        except BadHttpMessage as exc:
            if exc.message == "Too many headers received":
                raise HeadTooLarge(f"more than {self.max_headers} header lines") from None
            raise


def _reason(exc: BaseException) -> str:
    """What the client did wrong, in words; never the request's bytes beyond a header's name."""
    if isinstance(exc, (RequestLineTooLong, HeadTooLarge, VersionNotSupported)):
        return exc.message
    if isinstance(exc, InvalidURLError):
        if exc.message.startswith("the request line"):
            return exc.message
        return "the path or query has characters that must be percent-encoded (spaces, control characters)"
    if isinstance(exc, BadStatusLine):
        if str(exc.line).startswith("\x16\x03"):
            return "this is an HTTP port: TLS (https://) was sent to it"
        return "the request line is not 'METHOD /path HTTP/1.1' (a known method, one space between the parts)"
    if isinstance(exc, InvalidHeader):
        name = exc.hdr.split(":", 1)[0][:40] if ":" in exc.hdr else ""
        if name:
            return f"the header {name!r} cannot be read (a name is letters, digits and !#$%&'*+-.^_`|~)"
        return "a header line cannot be read (no 'name: value', a control character, or a folded line)"
    if isinstance(exc, TransferEncodingError):
        return "the body cannot be read: its chunked transfer encoding is broken"
    if isinstance(exc, HttpProcessingError) and exc.message:
        return exc.message.splitlines()[0][:200]
    return "the request cannot be read as HTTP/1.1"


def json_refusal(status: int, reason: str) -> web.Response:
    """The device's error shape, and the connection closes after it."""
    response = web.Response(
        body=encode(Reply(code=status, reason=reason)), status=status, content_type="application/json", charset="utf-8"
    )
    response.force_close()
    return response


def _forget_frames(exc: BaseException) -> None:
    # The traceback's frames (aiohttp's data_received among them) hold the received bytes and
    # the message list holding this exception: a cycle only the GC would free.
    exc.__traceback__ = exc.__context__ = exc.__cause__ = None


class EdgeHandler(RequestHandler):
    """aiohttp's ``RequestHandler`` with the head parser, refusals and memory rules of the module."""

    __slots__ = ("_refused",)

    def __init__(self, manager: web.Server, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._refused = False
        self._parser = HeadParser(
            self,
            self._loop,
            self._read_bufsize,
            max_line_size=self.max_line_size,
            max_field_size=self.max_field_size,
            max_headers=self.max_headers,
            payload_exception=RequestPayloadError,
            max_msg_queue_size=MAX_MSG_QUEUE_SIZE,
        )

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # the head was refused: the answer says so and the connection closes
        super().data_received(data)
        if self._messages:
            message = self._messages[-1][0]
            if isinstance(message, _ErrInfo):  # aiohttp's note of a head it refused
                self._refused = True
                _forget_frames(message.exc)

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            raise ConnectionError("an answer was already being sent: the connection is dropped")
        if isinstance(exc, HttpProcessingError):
            log.debug("refused a request from %s: %s (%s)", request.remote, _reason(exc), type(exc).__name__)
            return json_refusal(exc.code if exc.code >= 400 else status, _reason(exc))
        if status == 504:
            return json_refusal(status, "the device took too long to answer")
        if isinstance(exc, ConnectionError):  # the client left mid-request: nobody to answer, nothing wrong here
            log.debug("the client of %s left before its request was read", request.path)
            return json_refusal(400, "the connection was lost")
        log.error("unexpected failure on %s", request.path, exc_info=exc)
        return json_refusal(status, "internal error; the device logged the details")


def edge_handler(server: web.Server) -> EdgeHandler:
    """A connection's protocol for ``server``: what ``web.Server.__call__`` makes, as an ``EdgeHandler``."""
    return EdgeHandler(server, loop=server._loop, **server._kwargs)
