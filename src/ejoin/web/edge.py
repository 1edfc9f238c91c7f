"""The HTTP edge: how a request's head is read, and how a head that cannot be read is answered.

``EdgeHandler`` is aiohttp's own connection protocol with three changes:

- Heads are read by aiohttp's C parser (llhttp), with the edge's own parser
  (``HeadParser``, web/head_parser.py: aiohttp's pure-Python one, lenient about
  spaces before a header's colon, as PHP clients with hand-built
  ``CURLOPT_HTTPHEADER`` arrays send them) as the second opinion on what llhttp
  refuses, read again from the last verified message boundary
  (web/second_opinion.py has the rule that keeps this safe against request
  smuggling).  Without aiohttp's C extension (``AIOHTTP_NO_EXTENSIONS``), the
  edge's parser reads every head.
- Anything refused before a handler runs (a bad request line, a header too long,
  too many headers, bad chunking, ...) is answered in the device's JSON error
  shape with a reason a person understands, and logged as one debug line.
- After such a refusal nothing more is read from the connection (it is answered
  and closed), and the refusal keeps no traceback: the traceback's frames held
  the bytes just received in a reference cycle, which under the server's GC
  tuning (``gateway/runtime.tune_gc_for_server``) stayed in memory long enough
  for a flood of over-long heads to grow the process by hundreds of MB
  (benchmarks/bench_junk_memory.py).
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import http_parser, web
from aiohttp.http_exceptions import (
    BadStatusLine,
    HttpProcessingError,
    InvalidHeader,
    InvalidURLError,
    TransferEncodingError,
)
from aiohttp.web_protocol import MAX_MSG_QUEUE_SIZE, RequestHandler, RequestPayloadError, _ErrInfo
from aiohttp.web_request import BaseRequest

from ..protocol.messages import Reply, encode
from .head_parser import HeadParser, HeadTooLarge, RequestLineTooLong, VersionNotSupported
from .second_opinion import SecondOpinionParser

__all__ = ["EdgeHandler", "HeadParser", "edge_handler", "json_refusal"]

# aiohttp's C parser, when its extension is there (not under AIOHTTP_NO_EXTENSIONS)
LLHTTP: type | None = getattr(http_parser, "HttpRequestParserC", None)
# llhttp's refusals (the first line of its message), in words
_LLHTTP_REASONS = {
    "Invalid method encountered": "the request line does not start with an HTTP method (GET, POST, ...)",
    "Received HTTPS traffic on an HTTP port": "this is an HTTP port: TLS (https://) was sent to it",
    "Invalid header token": "a header's name cannot be read (a name is letters, digits and !#$%&'*+-.^_`|~, "
    "with nothing between it and its colon)",
    "Invalid header value char": "a header's value has a control character, or a header line is folded",
    "Unexpected whitespace after header value": "a header line starts with a space or a tab (a folded line)",
    "Transfer-Encoding can't be present with Content-Length": "the body is framed twice: "
    "Content-Length and Transfer-Encoding together",
    "Duplicate Content-Length": "the body's length is given twice (two Content-Length headers)",
    "Invalid character in Content-Length": "Content-Length is not a number",
    "Invalid `Transfer-Encoding` header value": "Transfer-Encoding must end with chunked",
    "Data after `Connection: close`": "more bytes after a request that said Connection: close",
}
# A connection keeps at most this many bytes of a head not yet complete, for the second opinion.
KEEP_LIMIT = 64 * 1024

log = logging.getLogger(__name__)


def _reason(exc: BaseException) -> str:
    """What the client did wrong, in words; never the request's bytes beyond a header's name."""
    if isinstance(exc, (RequestLineTooLong, HeadTooLarge, VersionNotSupported)):
        return exc.message
    first_line = exc.message.split("\n", 1)[0].rstrip(":") if isinstance(exc, HttpProcessingError) else ""
    if first_line in _LLHTTP_REASONS:
        return _LLHTTP_REASONS[first_line]
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
    if first_line:
        return first_line[:200]
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
    """aiohttp's ``RequestHandler`` with the head parsers, refusals and memory rules of the module."""

    __slots__ = ("_refused",)

    def __init__(self, manager: web.Server, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._refused = False
        if LLHTTP is not None and type(self._parser) is LLHTTP:
            self._parser = SecondOpinionParser(self._parser, self._head_parser, KEEP_LIMIT)  # type: ignore[assignment]
        else:  # aiohttp without its C parser: the edge's reads every head
            self._parser = self._head_parser()

    def _head_parser(self) -> HeadParser:
        return HeadParser(
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
