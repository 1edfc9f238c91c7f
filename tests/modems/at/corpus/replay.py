"""Replaying captured module answers through the AT driver, on an in-memory line and the virtual clock.

``ScriptedPeer`` sits at the module's end of a ``MemoryLine`` and answers each
command line with the bytes a script gives it (a real module's captured answer
for the command under test; plain 3GPP answers for the rest of the bring-up).
``Replay`` puts the real ``ATDriver`` in front of it through its opener seam,
with a ``Ledger`` as the device: what the driver reports, and when the device
acknowledged storing a received message.  Every ``AT+CMGD`` the peer hears is
checked against that ledger: a delete is never ahead of the acknowledgements.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ejoin.clock import VirtualClock
from ejoin.modems.at.driver import ATDriver
from ejoin.modems.at.module import ModemConfig
from ejoin.modems.base import ModemEvents
from ejoin.sim.emulator.memory import MemoryLine, quiesce_lines

Answer = bytes | Callable[[str], bytes]


def frame(*lines: str, final: str | None = "OK") -> bytes:
    """Lines as a module in verbose mode (V1) frames them: each between CR LF, then the final result."""
    out = b"".join(b"\r\n" + line.encode("latin-1") + b"\r\n" for line in lines)
    if final is not None:
        out += b"\r\n" + final.encode("latin-1") + b"\r\n"
    return out


OK = frame()
ERROR = frame(final="ERROR")

IMEI = "350000000000001"
IMSI = "001010123456789"
ICCID = "8910390000001234567"
# A plain 3GPP module with a ready SIM, registered: what the bring-up asks, answered as 27.007 has it.
# A vector's script replaces the answers it is about.
PLAIN: dict[str, Answer] = {
    "AT": OK,
    "ATE0": OK,
    "AT+CMEE=1": OK,
    "AT+CGSN": frame(IMEI),
    "AT+CPIN?": frame("+CPIN: READY"),
    "AT+CMGF=0": OK,
    'AT+CPMS="SM","SM","SM"': frame("+CPMS: 0,30,0,30,0,30"),
    "AT+CNMI=?": frame("+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)"),
    "AT+CIMI": frame(IMSI),
    "AT+CRSM=176,12258,0,0,10": frame('+CRSM: 144,0,"98019300000021436597"'),
    "AT+CNUM": OK,
    "AT+COPS?": frame('+COPS: 0,0,"Test Network",7'),
    "AT+CSPN?": ERROR,
    "AT+CMGL=4": OK,
    "AT+CREG?": frame("+CREG: 2,1"),
    "AT+CEREG?": ERROR,
    "AT+C5GREG?": ERROR,
    "AT+CSQ": frame("+CSQ: 20,99"),
}


class ScriptedPeer:
    """A module that answers from a script: the exact command line, else the longest key ending in ``*``
    that the line starts with (``AT+CMGD=*``), else ``OK``.  ``AT+CMGS=n`` gets ``> `` first; the PDU
    ended by Ctrl-Z gets the answer of ``AT+CMGS=n<pdu>`` (or ``AT+CMGS=*``).  It echoes until ``ATE0``,
    as modules do after power-on."""

    busy = False  # it answers at once, on the loop turn the bytes arrive
    needs_time = True  # beyond that it says nothing until the test has it speak (``urc``)

    def __init__(self, script: Mapping[str, Answer] | None = None) -> None:
        self.script: dict[str, Answer] = {**PLAIN, **(script or {})}
        self.heard: list[str] = []  # command lines, in order
        self.pdus: list[str] = []  # what came after a prompt
        self.on_command: Callable[[str], None] | None = None
        self.echo = True
        self._out: Callable[[bytes], None] = lambda data: None
        self._line = bytearray()
        self._prompt: str | None = None  # the AT+CMGS line whose PDU is being typed
        self.prompt = b"\r\n> "  # what AT+CMGS=<length> gets (with what a module says before it)

    def connect(self, out: Callable[[bytes], None]) -> None:
        self._out = out

    def power_on(self) -> None:
        self.echo = True

    def urc(self, data: bytes) -> None:
        """Bytes the module says on its own."""
        self._out(data)

    def feed(self, data: bytes) -> None:
        for b in data:
            if self._prompt is not None:
                if b == 0x1A:
                    line, self._prompt = self._prompt, None
                    self.pdus.append(self._line.decode("ascii", "replace"))
                    self._line.clear()
                    self._out(self._answer(line + "<pdu>"))
                elif b == 0x1B:
                    self._prompt = None
                    self._line.clear()
                elif b not in (10, 13):
                    self._line.append(b)
                continue
            if b == 13:
                line = self._line.decode("ascii", "replace").strip()
                self._line.clear()
                if self.echo:
                    self._out(line.encode("ascii", "replace") + b"\r")
                if line:
                    self._command(line)
            elif b != 10:
                self._line.append(b)

    def _command(self, line: str) -> None:
        self.heard.append(line)
        if self.on_command is not None:
            self.on_command(line)
        if line.upper() == "ATE0":
            self.echo = False
        if line.upper().startswith("AT+CMGS="):
            self._prompt = line
            self._out(self.prompt)
            return
        self._out(self._answer(line))

    def _answer(self, line: str) -> bytes:
        answer = self.script.get(line)
        if answer is None:
            wild = [k for k in self.script if k.endswith("*") and line.startswith(k[:-1])]
            answer = self.script[max(wild, key=len)] if wild else OK
        return answer(line) if callable(answer) else answer


# What a driver reports that is not a received message (nothing to acknowledge, nothing to delete)
NOT_MESSAGES = frozenset({"module_lost", "module_back", "module_state", "balance"})


def _taken(name: str) -> Callable[..., Any]:
    def event(self: Ledger, *args: Any) -> Any:
        return self.record(name, args)

    return event


@dataclass
class Ledger(ModemEvents):
    """The device's side: what the driver reports, and how many received things it acknowledged storing.

    Each received thing (a message, a status report, a message kept raw, or any other such event a newer
    driver reports) is acknowledged by what its event returns completing: at once, or once ``hold`` is
    set.  A driver deletes a message from the module only after that."""

    events: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    acked: int = 0  # received things the device has acknowledged storing
    hold: asyncio.Event | None = None

    def record(self, name: str, args: tuple[Any, ...]) -> Any:
        self.events.append((name, args))
        if name in NOT_MESSAGES:
            return None
        hold = self.hold

        async def stored() -> None:
            if hold is not None:
                await hold.wait()
            self.acked += 1

        return asyncio.ensure_future(stored())

    def of(self, name: str) -> list[tuple[Any, ...]]:
        return [args for n, args in self.events if n == name]

    @property
    def received(self) -> list[tuple[str, tuple[Any, ...]]]:
        """What the driver handed over of received messages."""
        return [(n, a) for n, a in self.events if n not in NOT_MESSAGES]

    def sms_part(self, slot, sender, text, ts, ref, total, seq):  # type: ignore[no-untyped-def]
        return self.record("sms_part", (slot.port, sender, text, ts, ref, total, seq))

    def delivery_report(self, port, ref, recipient, status, ts, smsc, smsc_ts=None):  # type: ignore[no-untyped-def]
        return self.record("delivery_report", (port, ref, recipient, status, smsc))

    module_lost = _taken("module_lost")
    module_back = _taken("module_back")
    module_state = _taken("module_state")


# A driver of a newer ModemEvents may report more than these (a message kept raw, a balance read):
# each such event is recorded, and acknowledged as above when it is a received thing.
for _name in getattr(Ledger, "__abstractmethods__", frozenset()):
    setattr(Ledger, _name, _taken(_name))
Ledger.__abstractmethods__ = frozenset()


class DeleteAhead(AssertionError):
    """The driver deleted a message from the module before the device acknowledged storing it."""


class Replay:
    """One ``ScriptedPeer`` behind the real AT driver (``profile``), on a virtual clock."""

    PORT = 1

    def __init__(self, script: Mapping[str, Answer] | None = None, profile: str = "generic") -> None:
        self.clock = VirtualClock()
        self.peer = ScriptedPeer(script)
        self.line = MemoryLine(self.peer, "memory:replay")
        self.ledger = Ledger()
        self.driver = ATDriver(
            [ModemConfig(self.PORT, self.line.path, 115200, profile)], self.clock, lambda cfg: self.line.open
        )
        self.driver.events = self.ledger
        self.clock.add_quiescer(lambda: quiesce_lines({self.PORT: self.line}, self.driver))
        self.deletes = 0
        self.deletes_ahead: list[str] = []
        self.timeline: list[tuple[str, int]] = []  # each command heard, with the acknowledgements by then
        self.peer.on_command = self._heard
        self.line.plug()

    @property
    def module(self) -> Any:
        return self.driver.modules[self.PORT]

    def _heard(self, line: str) -> None:
        self.timeline.append((line, self.ledger.acked))
        if line.upper().startswith("AT+CMGD="):
            self.deletes += 1
            if self.deletes > self.ledger.acked:
                self.deletes_ahead.append(line)

    async def run(self, coro: Any, within: float = 300.0) -> Any:
        """``coro``'s result, simulated time passing while it runs (TimeoutError past ``within``)."""
        task = asyncio.ensure_future(coro)
        try:
            await self.clock.run_until(task.done, within)
        except TimeoutError:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            raise
        return task.result()

    async def up(self) -> Any:
        """The device's bring-up: the card read (CardInfo)."""
        return await self.run(self.driver.detect_card(self.PORT, 1))

    async def say(self, data: bytes, seconds: float = 1.0) -> None:
        """The module says ``data`` on its own; the driver gets ``seconds`` of simulated time to act on it."""
        self.peer.urc(data)
        await self.clock.advance(seconds)

    def check_deletes(self) -> None:
        if self.deletes_ahead:
            raise DeleteAhead(f"deleted before the device acknowledged storing: {self.deletes_ahead}")

    async def close(self) -> None:
        await self.driver.stop()
        self.line.unplug()
