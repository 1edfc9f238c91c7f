"""The AT driver against a scripted module: each command answered with the bytes a real module gave.

``ScriptedModem`` sits behind an in-memory serial line (``MemoryLine``) as the peer: what it
answers is a table, command line -> bytes, seeded with a plain 3GPP module's bring-up and
overridden per test with a capture (tests/modems/at/dialects.py).  It keeps the message storage a
real module has (``storage``: index -> the +CMGR answer's bytes), removes what ``AT+CMGD`` deletes,
and records every command it got, so a test can say what the driver did in which order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from ejoin.clock import VirtualClock
from ejoin.modems.at.balance import BalanceRule
from ejoin.modems.at.driver import ATDriver
from ejoin.modems.at.module import ModemConfig, Module
from ejoin.sim.emulator.memory import MemoryLine

from .harness import Clocked, Recorder

CTRL_Z = b"\x1a"
OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"


def lines(*texts: str, final: bytes = OK) -> bytes:
    """Information lines as modules frame them (CR LF before and after), then the final result."""
    return b"".join(b"\r\n" + t.encode("latin-1") + b"\r\n" for t in texts) + final


# A plain 3GPP module with a registered card: what no test is about.
PLAIN: dict[str, bytes] = {
    "AT": OK,
    "ATE0": OK,
    "AT+CMEE=1": OK,
    "AT+CGSN": lines("867962041294151"),
    "AT+CSCS=?": lines('+CSCS: ("IRA","GSM","UCS2")'),
    'AT+CSCS="GSM"': OK,
    "AT+CPIN?": lines("+CPIN: READY"),
    "AT+CMGF=0": OK,
    'AT+CPMS="SM","SM","SM"': lines("+CPMS: 0,30,0,30,0,30"),
    'AT+CPMS="SM"': lines("+CPMS: 0,30,0,30,0,30"),
    "AT+CNMI=?": lines("+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)"),
    "AT+CNMI=2,1,0,2,0": OK,
    "AT+CSMP=49,167,0,0": OK,
    "AT+CREG=2": OK,
    "AT+CEREG=2": OK,
    "AT+C5GREG=2": ERROR,
    "AT+CIMI": lines("262011234567890"),
    "AT+CRSM=176,12258,0,0,10": lines('+CRSM: 144,0,"98942110325476981032"'),
    "AT+CNUM": OK,
    "AT+COPS=3,2": OK,
    "AT+COPS=3,0": OK,
    "AT+COPS?": lines('+COPS: 0,2,"26201",7'),
    "AT+CSPN?": ERROR,
    "AT+CMGL=4": OK,
    "AT+CREG?": lines('+CREG: 2,1,"1A2B","00C3F01",7'),
    "AT+CEREG?": lines("+CEREG: 2,4"),
    "AT+CSQ": lines("+CSQ: 20,99"),
    "AT+CNMA": OK,
    "AT+CNMA=2": OK,
    "AT+CUSD=2": OK,
}


@dataclass
class ScriptedModem:
    """A module that answers from a table; ``answer`` may be a function of the command line."""

    answers: dict[str, bytes | Callable[[str], bytes]] = field(default_factory=lambda: dict(PLAIN))
    storage: dict[int, bytes] = field(default_factory=dict)  # index -> the bytes AT+CMGR answers
    commands: list[str] = field(default_factory=list)
    sent_pdus: list[str] = field(default_factory=list)  # what AT+CMGS sent, after its prompt
    # Before each AT+CMGD / AT+CNMA: a test's check that the driver may do it now.
    before_delete: Callable[[str], None] | None = None
    busy = blocked = restarting = False  # what an in-memory line asks of its peer
    _out: Callable[[bytes], None] | None = None
    _buf: bytearray = field(default_factory=bytearray)

    def connect(self, out: Callable[[bytes], None]) -> None:
        self._out = out

    def power_on(self) -> None:
        pass

    def say(self, data: bytes) -> None:
        """Unsolicited bytes, as the module sends them on its own."""
        assert self._out is not None
        self._out(data)

    def feed(self, data: bytes) -> None:
        self._buf += data
        if CTRL_Z in self._buf:  # an SMS's PDU after the prompt of AT+CMGS
            pdu, _, rest = bytes(self._buf).partition(CTRL_Z)
            self._buf = bytearray(rest)
            self.sent_pdus.append(pdu.decode("ascii"))
            self.say(lines(f"+CMGS: {len(self.sent_pdus) % 256}"))
        while b"\r" in self._buf:
            raw, _, rest = bytes(self._buf).partition(b"\r")
            self._buf = bytearray(rest.lstrip(b"\n"))
            line = raw.decode("latin-1").strip()
            if line:
                self.commands.append(line)
                self.say(self._answer(line))

    def _answer(self, line: str) -> bytes:
        if line.startswith(("AT+CMGD=", "AT+CNMA")) and self.before_delete is not None:
            self.before_delete(line)
        if line.startswith("AT+CMGR=") and line not in self.answers:
            stored = self.storage.get(int(line[8:]))
            return stored if stored is not None else b"\r\n+CMS ERROR: 321\r\n"
        if line.startswith("AT+CMGS="):
            return b"\r\n> "
        if line.startswith("AT+CMGD="):
            self.storage.pop(int(line[8:].split(",")[0]), None)
            return OK
        answer = self.answers.get(line)
        if answer is None:
            return ERROR
        return answer(line) if callable(answer) else answer


class Replay:
    """One scripted module on port 1 and the AT driver, on a virtual clock."""

    def __init__(self, profile: str = "generic", balance: list[BalanceRule] | None = None) -> None:
        self.clock = VirtualClock()
        self.modem = ScriptedModem()
        self.line = MemoryLine(self.modem, "replay")  # type: ignore[arg-type]
        self.events = Recorder(clock=self.clock)
        self.driver = ATDriver(
            [ModemConfig(1, self.line.path, 115200, profile)], self.clock, lambda cfg: self.line.open, balance
        )
        self.driver.events = self.events
        self.driver.retry_first = 0.05
        self.clock.add_quiescer(self._quiesce)
        self.at = Clocked(self)  # type: ignore[arg-type]
        self.module.channel.timeout = 1.0
        self.module.channel.resync_wait = 0.3

    @property
    def module(self) -> Module:
        return self.driver.modules[1]

    async def _quiesce(self) -> bool:
        if not self.line.quiet:
            await asyncio.sleep(0)
            return True
        return False

    async def run(self, coro, timeout: float = 120.0):
        """``coro``'s result, simulated time passing while it runs."""
        task = asyncio.ensure_future(coro)
        try:
            await self.clock.run_until(task.done, timeout)
        except TimeoutError:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            raise
        return task.result()

    async def start(self, register: bool = True) -> None:
        self.line.plug()
        card = await self.at.detect_card(1, 1)
        assert card.present, card
        if register:
            await self.at.register(1, 1)

    async def settle(self, seconds: float = 1.0) -> None:
        await self.clock.advance(seconds)

    async def stop(self) -> None:
        await self.driver.stop()
        self.line.unplug()

    def sent(self, prefix: str) -> list[str]:
        """The commands the module got that start with ``prefix``."""
        return [c for c in self.modem.commands if c.startswith(prefix)]
