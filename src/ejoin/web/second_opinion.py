"""llhttp reads every head; what it refuses gets a second opinion from the edge's own parser.

aiohttp's C parser (llhttp) reads a request in about half the instructions of
its pure-Python one, but refuses a header line with spaces before its colon,
which the edge accepts (web/head_parser.py).  ``SecondOpinionParser`` gives a
connection llhttp, and when llhttp refuses bytes, feeds them to a fresh
``HeadParser`` whose verdict rules: it accepts what the leniency allows (the
connection then goes on with that parser), or refuses with the edge's reason.

What keeps this safe against request smuggling is where the second parser
starts: only at a **verified message boundary**, a point where llhttp had
finished a message and the bytes it had been fed ended exactly there (a
connection's first byte is one).  From there both parsers start alike, and
llhttp has handed nothing on since, so the second reads the same bytes from the
same place, as a proxy would.  A boundary is verified when llhttp gave one
message since the last one, framed by a Content-Length (or no body), not
closing, and the bytes received since then are exactly its head and that many
bytes of body: the head cannot end before the first empty line in those bytes,
so if the head up to that line plus the body fill them exactly, llhttp took
every byte and no more.  Anything else (chunked bodies, pipelined requests, an
upgrade, a ``Connection: close``, more bytes than the message) is doubt: from
then on that connection is llhttp's alone, and its refusals are answered with
its own reasons in words (``llhttp_reason``).

Only the bytes of a head not yet complete are kept (bounded by ``keep_limit``);
once llhttp has handed a message on, its body is counted, not kept: a refusal
after that point could not be read again anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp.http_exceptions import BadHttpMessage, HttpProcessingError, LineTooLong

from .head_parser import HeadParser, HeadTooLarge, line_too_long

# How a connection's heads are read (SecondOpinionParser._mode).
KEEPING = 0  # at a verified boundary, or keeping the bytes of a head since one
COUNTING = 1  # llhttp handed a message on: counting its body's bytes toward the next boundary
LLHTTP = 2  # in doubt: llhttp alone, its refusals answered with its own reasons
SECOND = 3  # llhttp refused and the second parser read on: it reads the rest of the connection


def head_end(data: bytes) -> int:
    """Where the first empty line in ``data`` ends (``\\n\\r\\n`` or ``\\n\\n``), or -1: no parser's head
    can end before it."""
    crlf = data.find(b"\n\r\n")
    lf = data.find(b"\n\n")
    if lf < 0:
        return crlf + 3 if crlf >= 0 else -1
    return lf + 2 if crlf < 0 or lf + 2 < crlf + 3 else crlf + 3


def _check_transfer_encoding(messages: Any) -> None:
    """A Transfer-Encoding that does not end in chunked frames no request body (RFC 9112 6.3): llhttp
    lets an empty one through, which a proxy on the way may read otherwise; the edge's parser refuses it,
    and so does the edge whichever parser read it."""
    for message, _ in messages:
        if not message.chunked and "Transfer-Encoding" in message.headers:
            raise BadHttpMessage("Request has invalid `Transfer-Encoding`")


class SecondOpinionParser:
    """A request parser for aiohttp's ``RequestHandler``: llhttp's, with ``second()`` as a second opinion
    from the last verified boundary (see the module)."""

    __slots__ = ("_parser", "_second", "_keep_limit", "_mode", "_kept", "_payload", "_expected", "_seen", "_line")

    def __init__(self, llhttp: Any, second: Callable[[], HeadParser], keep_limit: int) -> None:
        self._parser = llhttp  # llhttp, or the second parser once it reads the connection
        self._second: Any = second
        self._keep_limit = keep_limit
        self._mode = KEEPING
        self._kept = b""  # the bytes since the boundary, while no message came of them
        self._payload: Any = None  # the body of the message handed on since the boundary
        self._expected = 0  # the bytes from the boundary to that message's end
        self._seen = 0  # the bytes received since the boundary
        self._line: bool | None = None  # in doubt after keeping too much: still the request line?

    @property
    def second_opinion(self) -> bool:
        """The second parser reads this connection (llhttp refused what it accepted)."""
        return self._mode == SECOND

    def feed_data(self, data: bytes) -> Any:
        mode = self._mode
        if mode == KEEPING:
            kept = self._kept + data if self._kept else data
            try:
                result = self._parser.feed_data(data)
                _check_transfer_encoding(result[0])
            except HttpProcessingError as exc:
                exc.__traceback__ = None
            else:
                if result[0]:
                    self._kept = b""
                    self._handed_on(kept, result)
                elif len(kept) > self._keep_limit:
                    self._doubt()
                    self._line = b"\n" not in kept.lstrip(b"\r\n")
                else:
                    self._kept = kept
                return result
            # outside the except clause: the second parser's refusal must not hold llhttp's
            self._mode = SECOND
            self._kept = b""
            self._parser = self._second()
            return self._parser.feed_data(kept)
        if mode == COUNTING:
            result = self._llhttp_feed(data)
            self._seen += len(data)
            if result[0] or result[1]:
                self._doubt()  # a message after the one not yet finished: pipelined
            else:
                self._check_boundary()
            return result
        if mode == LLHTTP:
            result = self._llhttp_feed(data)
            if result[0]:
                self._line = None
            return result
        return self._parser.feed_data(data)

    def _llhttp_feed(self, data: bytes) -> Any:
        try:
            result = self._parser.feed_data(data)
            _check_transfer_encoding(result[0])
            return result
        except LineTooLong as exc:
            limit = exc.args[1]
            exc.__traceback__ = None
            raise line_too_long(self._line, limit) from None
        except BadHttpMessage as exc:
            if exc.message == "Too many headers received":
                raise HeadTooLarge("too many header lines") from None
            raise

    def _handed_on(self, kept: bytes, result: Any) -> None:
        """llhttp handed on messages from the bytes since the boundary: is the next boundary where they end?"""
        messages, upgraded, _ = result
        if upgraded or len(messages) != 1:
            return self._doubt()
        message, payload = messages[0]
        if message.chunked or message.upgrade or message.should_close:
            return self._doubt()
        end = head_end(kept)
        length = message.headers.get("Content-Length")
        if end < 0 or length is not None and not (length.isascii() and length.isdigit()):
            return self._doubt()
        self._expected = end + (int(length) if length else 0)
        self._seen = len(kept)
        self._payload = payload
        self._check_boundary()

    def _check_boundary(self) -> None:
        if self._seen > self._expected:
            return self._doubt()  # bytes after the message: the start of another
        if not self._payload.is_eof():
            self._mode = COUNTING
            return None
        if self._seen != self._expected:
            return self._doubt()
        self._mode = KEEPING  # llhttp took exactly the bytes it was fed: a verified boundary
        self._payload = None
        return None

    def _doubt(self) -> None:
        self._mode = LLHTTP
        self._kept = b""
        self._payload = None

    # what aiohttp's protocol asks of its parser besides feed_data
    def feed_eof(self) -> Any:
        return self._parser.feed_eof()

    def message_consumed(self) -> None:
        self._parser.message_consumed()

    def pause_reading(self) -> None:
        self._parser.pause_reading()

    def set_upgraded(self, val: bool) -> None:
        self._parser.set_upgraded(val)
