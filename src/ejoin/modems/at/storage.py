"""What a module received, taken from it: stored messages (``+CMTI``/``+CDSI`` then ``AT+CMGR``, the
``AT+CMGL`` sweep) and messages shown at once (``+CMT``/``+CDS``, acknowledged by ``AT+CNMA``).

Nothing received leaves the module before the device has it: a message is deleted (``AT+CMGD``) or
acknowledged (``AT+CNMA``) only once the device's store acknowledged it — as an SMS, a delivery
report, or, if it cannot be read (or is an outgoing message found in the storage), as a raw PDU.  A
crash between the two shows the message again at the next sweep, and it is stored again: at least
once, never lost (a raw PDU is kept once per slot; a delivery report once, by what it is: the inbox
knows its copy).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ...clock import Clock
from ...protocol import pdu
from ...protocol.at import Answers, Urc, quoted, split_args
from ...protocol.at_fields import charset_text
from ...protocol.ports import PortAddress
from ..base import ModemEvents
from .channel import Answer, Channel

log = logging.getLogger(__name__)

INDICATIONS = frozenset({"+CMTI", "+CDSI", "+CMT", "+CDS"})  # the unsolicited results this takes


class ReceivedMessages:
    """The receiving side of one module: reads, hands to the device, deletes once stored."""

    def __init__(
        self,
        channel: Channel,
        clock: Clock,
        port: int,
        slot: Callable[[], int],
        charset: Callable[[], str],
        events: Callable[[], ModemEvents | None],
        spawn: Callable[[Awaitable[Any]], None],
    ) -> None:
        self._channel = channel
        self._clock = clock
        self._port = port
        self._slot = slot
        self._charset = charset
        self._events = events
        self._spawn = spawn
        self._reading: set[tuple[str, int]] = set()  # storage indexes being read
        self._again: set[tuple[str, int]] = set()  # ... and announced again meanwhile

    def indication(self, urc: Urc) -> None:
        """``+CMTI``/``+CDSI`` (stored: read it) or ``+CMT``/``+CDS`` (shown: keep it, acknowledge it)."""
        if urc.name in ("+CMTI", "+CDSI"):
            fields = split_args(urc.args)
            if len(fields) >= 2 and fields[1].isdigit():
                mem = charset_text(fields[0], self._charset()).upper() or "SM"
                self._spawn(self._read_stored(mem, int(fields[1])))
        elif urc.name in ("+CMT", "+CDS"):
            self._spawn(self._direct(urc.pdu, urc.args))

    async def sweep(self) -> None:
        """Read every stored message (AT+CMGL=4): a full storage stops +CMTI, and a crash may have left some."""
        answer = await self._channel.command("AT+CMGL=4", expect=Answers.of("+CMGL", pdu=True), timeout=20)
        if not answer.ok:
            return
        for header, hexpdu in _stored(answer, "+CMGL"):
            index = split_args(header)[0]
            if not index.isdigit():
                continue
            if await self._keep(hexpdu, _length(header), f"index {index}"):
                await self._channel.command(f"AT+CMGD={index}")

    async def _direct(self, hexpdu: str, args: str) -> None:
        """+CMT / +CDS: the message came without being stored; the module wants +CNMA once it is ours."""
        if not hexpdu:
            log.warning(
                "port %d: an indication came without its PDU: not acknowledged (the network sends it again)", self._port
            )
            return
        kept = await self._keep(hexpdu, _length(args), "an indication")
        try:
            # Not kept: a negative acknowledgement, so the network delivers it again rather than the module
            # taking it as delivered.
            await self._channel.command("AT+CNMA" if kept else "AT+CNMA=2")
        except Exception:
            log.debug("port %d: +CNMA failed", self._port, exc_info=True)

    async def _read_stored(self, mem: str, index: int) -> None:
        key = (mem, index)
        if key in self._reading:
            # Read again once done: the index may be freed by that read's AT+CMGD and hold a new message.
            self._again.add(key)
            return
        self._reading.add(key)
        try:
            while True:
                self._again.discard(key)
                await self._read_one(mem, index)
                if key not in self._again:
                    break
        finally:
            self._reading.discard(key)

    async def _read_one(self, mem: str, index: int) -> None:
        try:
            async with _Storage(self._channel, "" if mem in ("SM", "") else mem):
                answer = await self._channel.command(f"AT+CMGR={index}", expect=Answers.of("+CMGR", pdu=True))
                found = list(_stored(answer, "+CMGR")) if answer.ok else []
                if not found:
                    return
                header, hexpdu = found[0]
                if await self._keep(hexpdu, _length(header), f"{mem} {index}"):
                    await self._channel.command(f"AT+CMGD={index}")
        except Exception:
            log.warning("port %d: could not read stored message %d", self._port, index, exc_info=True)

    async def _keep(self, hexpdu: str, length: int | None, where: str) -> bool:
        """Hand a received PDU to the device; True once its store has it (as what it is, or raw)."""
        events = self._events()
        if events is None:
            log.warning(
                "port %d: a received message (%s) is left on the module: nothing takes it yet", self._port, where
            )
            return False
        now = self._clock.time()
        slot = PortAddress(self._port, self._slot())
        stored: Awaitable[Any] | concurrent.futures.Future[Any] | None
        try:
            message = pdu.decode(hexpdu, tpdu_length=length)
        except pdu.PduError as exc:
            log.warning("port %d: a received PDU (%s) cannot be read (%s): stored raw", self._port, where, exc)
            stored = events.raw_pdu(slot, hexpdu, now, str(exc))
        else:
            trailing = b"" if isinstance(message, pdu.StatusReport) else message.trailing
            if trailing:
                log.debug("port %d: %d bytes after the user data of %s ignored", self._port, len(trailing), where)
            stored = _deliver(events, slot, message, hexpdu, now)
        if stored is None:
            log.warning(
                "port %d: the device did not take a received message (%s): left on the module", self._port, where
            )
            return False
        try:
            if isinstance(stored, concurrent.futures.Future):
                await asyncio.wrap_future(stored)
            else:
                await stored
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning(
                "port %d: a received message (%s) could not be stored (%s): left on the module", self._port, where, exc
            )
            return False
        return True


def _deliver(
    events: ModemEvents, slot: PortAddress, message: pdu.Pdu, hexpdu: str, now: float
) -> Awaitable[Any] | None:
    if isinstance(message, pdu.StatusReport):
        # The service centre's time makes a report read twice (a line lost before AT+CMGD) the same one.
        centre = message.discharge or message.scts
        return events.delivery_report(
            slot.port,
            message.ref,
            message.recipient,
            message.status,
            now,
            message.smsc,
            smsc_ts=centre.timestamp() if centre is not None else None,
        )
    if isinstance(message, pdu.Submit):
        # Not received: an outgoing message someone stored on the SIM.  Kept, not lost, not delivered.
        return events.raw_pdu(slot, hexpdu, now, "an outgoing message (SMS-SUBMIT) stored on the SIM")
    ts = message.scts.timestamp() if message.scts is not None else now
    text = message.text or message.data.decode("latin-1")
    c = message.concat
    ref, total, seq = (c.ref, c.total, c.seq) if c is not None else (0, 1, 1)
    return events.sms_part(slot, message.sender, text, ts, ref, total, seq)


class _Storage:
    """``async with``: the message storage ``mem`` is read from while the body runs ("": the usual one;
    a status report announced in "SR" is read and deleted there, then back to "SM")."""

    def __init__(self, channel: Channel, mem: str) -> None:
        self._channel = channel
        self._mem = mem

    async def __aenter__(self) -> None:
        if self._mem:
            await self._channel.check(f"AT+CPMS={quoted(self._mem)}", expect="+CPMS")

    async def __aexit__(self, *exc: object) -> None:
        if self._mem:
            await self._channel.command('AT+CPMS="SM"', expect="+CPMS")


def _length(header: str) -> int | None:
    """The <length> ending a +CMGR/+CMGL/+CMT/+CDS header: octets of the TPDU."""
    last = split_args(header.partition(":")[2] if ":" in header else header)[-1]
    return int(last) if last.isdigit() else None


def _stored(answer: Answer, name: str) -> list[tuple[str, str]]:
    """(header, PDU line) of each message in a +CMGR/+CMGL answer; a header without its PDU is left out."""
    out = []
    lines = answer.lines
    for i, line in enumerate(lines):
        if line.startswith(name) and i + 1 < len(lines) and not lines[i + 1].startswith(name):
            out.append((line.partition(":")[2].strip(), lines[i + 1]))
    return out
