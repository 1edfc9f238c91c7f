"""One SMPP connection: framing, the bind state, the window, and what goes out on it.

Requests are answered as they complete (SMPP matches answers by sequence number).  A bound
session takes at most ``window`` submit_sm, query_sm and cancel_sm unanswered; more are
answered ESME_RTHROTTLED.  A PDU that cannot be read gets a generic_nack and the session goes
on; only a stream that cannot be followed (an impossible command_length) ends it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Protocol, cast

from ..clock import Clock, Timer
from ..protocol.smpp import (
    Bind,
    BindResp,
    CancelSm,
    Command,
    Empty,
    FramingError,
    GenericNack,
    Malformed,
    Pdu,
    PduReader,
    QuerySm,
    ShortMessage,
    Status,
    Tag,
    response_to,
)
from .accounts import Account

if TYPE_CHECKING:
    from .store import Queued

log = logging.getLogger(__name__)

TRANSMITTER, RECEIVER, TRANSCEIVER = "transmitter", "receiver", "transceiver"
_BIND_KIND = {
    Command.BIND_TRANSMITTER: TRANSMITTER,
    Command.BIND_RECEIVER: RECEIVER,
    Command.BIND_TRANSCEIVER: TRANSCEIVER,
}
BIND_WITHIN = 60.0  # seconds a connection may stay unbound
RESPONSE_WITHIN = 30.0  # seconds a deliver_sm may wait for its response before it is sent again
_REQUESTS = (Command.SUBMIT_SM, Command.QUERY_SM, Command.CANCEL_SM)


class Host(Protocol):
    """What a session needs of its server (server.py's ``SmppServer``)."""

    clock: Clock
    window: int  # requests a bind may have unanswered
    system_id: str  # the server's, in bind responses

    def authenticate(self, system_id: str, password: str, peer: str) -> tuple[Account | None, Status]: ...
    def opened(self, session: Session) -> None: ...
    def bound(self, session: Session) -> None: ...
    def closed(self, session: Session) -> None: ...
    def submit(self, session: Session, pdu: ShortMessage) -> None:
        """Take a submit_sm of this bound session; its answer comes through ``session.reply``."""
        ...

    async def query(self, account: Account, pdu: QuerySm) -> Pdu: ...
    async def cancel(self, account: Account, pdu: CancelSm) -> Pdu: ...
    def answered(self, session: Session, item: Queued, status: int) -> None:
        """The peer's deliver_sm_resp (or none in time: ``ESME_RX_T_APPN``) to a deliver_sm."""
        ...


class Session(asyncio.Protocol):
    def __init__(self, server: Host) -> None:
        self._server = server
        self._reader = PduReader()
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.kind: str | None = None  # the bind
        self.account: Account | None = None
        self.outstanding = 0  # requests of the peer not answered yet
        self._seq = 0
        self.sent: dict[int, tuple[Queued, Timer]] = {}  # deliver_sm by sequence, waiting for their response
        self._bind_timer: Timer | None = None
        self._out: list[bytes] = []  # written at the end of the loop's turn
        self.closed = False

    # --- connection ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream server's transport: uvloop's (what ejoin gateway runs on) is no asyncio.Transport subclass
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self._bind_timer = self._server.clock.call_later(BIND_WITHIN, self._bind_too_late)
        self._server.opened(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._bind_timer is not None:
            self._bind_timer.cancel()
        for _, timer in self.sent.values():
            timer.cancel()
        self._server.closed(self)

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self._flush()  # what was answered last (unbind_resp, a refused bind) goes before the close
            self.transport.close()

    def _bind_too_late(self) -> None:
        if self.kind is None:
            log.info("SMPP %s: not bound within %.0f s, closed", self.peer, BIND_WITHIN)
            self.close()

    def send(self, pdu: Pdu) -> None:
        self._write(pdu.encode())

    def _write(self, data: bytes) -> None:
        """Out at the end of this turn of the loop, with whatever else is written in it: the answers to a
        batch of submit_sm go in one write (a write each was as much CPU as storing them)."""
        if self.transport is None or self.closed:
            return
        self._out.append(data)
        if len(self._out) == 1:
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        out, self._out = self._out, []
        if out and self.transport is not None and not self.closed:
            self.transport.write(b"".join(out))

    def next_sequence(self) -> int:
        self._seq = self._seq % 0x7FFFFFFF + 1
        return self._seq

    @property
    def account_id(self) -> str:
        return self.account.system_id if self.account is not None else ""

    @property
    def receives(self) -> bool:
        return self.kind in (RECEIVER, TRANSCEIVER) and not self.closed

    # --- what the peer sends ---------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        try:
            while (pdu := self._reader.next()) is not None:
                self._handle(pdu)
        except FramingError as exc:
            log.warning("SMPP %s: %s; the session is closed", self.peer, exc.why)
            self.send(GenericNack(Command.GENERIC_NACK, 0, Status.ESME_RINVCMDLEN))
            self.close()

    def _handle(self, pdu: Pdu | Malformed) -> None:
        if isinstance(pdu, Malformed):
            log.info("SMPP %s: unreadable 0x%08x: %s", self.peer, pdu.command, pdu.why)
            if not pdu.is_response:
                self.send(GenericNack(Command.GENERIC_NACK, pdu.sequence, pdu.status))
            return
        command = pdu.command
        if command & 0x80000000:
            self._response(pdu)
        elif command == Command.ENQUIRE_LINK:
            self.send(Empty(Command.ENQUIRE_LINK_RESP, pdu.sequence, Status.ESME_ROK))
        elif isinstance(pdu, Bind):
            self._bind(pdu)
        elif command == Command.UNBIND:
            self.send(Empty(Command.UNBIND_RESP, pdu.sequence, Status.ESME_ROK))
            self.close()
        elif command in _REQUESTS:
            self._request(pdu)
        else:
            answer = response_to(command)
            if answer == Command.GENERIC_NACK:
                self.send(GenericNack(Command.GENERIC_NACK, pdu.sequence, Status.ESME_RINVCMDID))
            else:
                self.send(Empty(answer, pdu.sequence, Status.ESME_RINVCMDID))

    def _bind(self, pdu: Bind) -> None:
        answer = response_to(pdu.command)
        # A refusal carries the system_id too: SMPP 3.4 leaves the body out, but clients that read it
        # whatever the status (aiosmpplib) would fail on its absence instead of hearing the status.
        if self.kind is not None:
            self.send(BindResp(answer, pdu.sequence, Status.ESME_RALYBND, self._server.system_id))
            return
        account, status = self._server.authenticate(pdu.system_id, pdu.password, self.peer)
        if account is None:
            self.send(BindResp(answer, pdu.sequence, status, self._server.system_id))
            self.close()
            return
        self.kind, self.account = _BIND_KIND[Command(pdu.command)], account
        if self._bind_timer is not None:
            self._bind_timer.cancel()
        tlvs = ((Tag.SC_INTERFACE_VERSION, b"\x34"),) if pdu.interface_version >= 0x34 else ()
        self.send(BindResp(answer, pdu.sequence, Status.ESME_ROK, self._server.system_id, tlvs))
        log.info("SMPP %s: %s bound as %s", self.peer, account.system_id, self.kind)
        self._server.bound(self)

    def _request(self, pdu: Pdu) -> None:
        answer = response_to(pdu.command)
        if self.kind is None or (pdu.command == Command.SUBMIT_SM and self.kind == RECEIVER):
            self.send(Empty(answer, pdu.sequence, Status.ESME_RINVBNDSTS))
            return
        if self.outstanding >= self._server.window:
            self.send(Empty(answer, pdu.sequence, Status.ESME_RTHROTTLED))
            return
        self.outstanding += 1
        assert self.account is not None
        if isinstance(pdu, ShortMessage):
            self._server.submit(self, pdu)  # the hot path: no task or future of its own
            return
        fut: asyncio.Future[Pdu]
        if isinstance(pdu, QuerySm):
            fut = asyncio.ensure_future(self._server.query(self.account, pdu))
        else:
            assert isinstance(pdu, CancelSm)
            fut = asyncio.ensure_future(self._server.cancel(self.account, pdu))
        fut.add_done_callback(lambda f: self._answered(f, answer, pdu.sequence))

    def reply(self, answer: Pdu) -> None:
        """The answer to one of the peer's requests (it leaves the window)."""
        self.outstanding -= 1
        self.send(answer)

    def _answered(self, fut: asyncio.Future[Pdu], answer: int, sequence: int) -> None:
        if fut.cancelled():
            self.reply(Empty(answer, sequence, Status.ESME_RSYSERR))
        elif (exc := fut.exception()) is not None:
            log.error("SMPP %s: a request failed", self.peer, exc_info=exc)
            self.reply(Empty(answer, sequence, Status.ESME_RSYSERR))
        else:
            self.reply(fut.result())

    def _response(self, pdu: Pdu) -> None:
        held = self.sent.pop(pdu.sequence, None)
        if held is None:
            return  # enquire_link_resp, unbind_resp, or a late answer of a deliver_sm sent again since
        item, timer = held
        timer.cancel()
        self._server.answered(self, item, pdu.status)

    # --- what goes out ---------------------------------------------------------------------

    def deliver(self, item: Queued) -> None:
        seq = self.next_sequence()
        timer = self._server.clock.call_later(RESPONSE_WITHIN, self._unanswered, seq)
        self.sent[seq] = (item, timer)
        if self.transport is not None:
            self._write(item.pdu[:12] + seq.to_bytes(4, "big") + item.pdu[16:])

    def _unanswered(self, seq: int) -> None:
        held = self.sent.pop(seq, None)
        if held is not None:
            log.warning("SMPP %s: no deliver_sm_resp within %.0f s; sent again later", self.peer, RESPONSE_WITHIN)
            self._server.answered(self, held[0], Status.ESME_RX_T_APPN)

    def unbind(self) -> None:
        self.send(Empty(Command.UNBIND, self.next_sequence(), Status.ESME_ROK))
