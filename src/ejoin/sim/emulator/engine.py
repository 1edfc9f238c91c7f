"""The AT engine of one emulated GSM module: bytes in from its serial line, bytes out.

It plays a module of a ``Profile`` in its vendor's ``Dialect`` (echo, verbose
or numeric errors per AT+CMEE, PDU mode, a message storage with indexes,
+CMTI/+CDSI/+CMT/+CDS, registration in every form, +CSQ, identity commands,
+CUSD, the character set, the SIM's files through AT+CRSM, AT+CSIM and logical
channels, the IMEI write of AT+EGMR) in front of a ``Backend``: the simulated
network, which says what card is in the slot, how registration ends, what a
submitted SMS becomes.  Faults are switched on and off while it runs
(``Faults``): among them what real modules do to a driver (lines of their own
inside answers, stale bytes in SIM records, multi-line USSD, SMS-only
registration, +CPIN without OK).

Commands run one at a time, in order, as on a real module; a character that
arrives while a command waits for the network aborts it (V.250 5.6.1), as an
ESC abandons the ``> `` prompt.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from ...clock import Clock, SystemClock
from ...modems.at.profiles import Profile, crsm_of_iccid
from ...modems.base import CardInfo
from ...protocol import pdu
from ...protocol.at import split_args
from ...protocol.numbers import NumberError, imei
from ...protocol.pdu_fields import pack_septets
from ...protocol.text import gsm7_septets
from ...protocol.ussd import split_at_line
from ..uicc import CardFiles, Uicc
from .dialects import COMMON_NOISE, Dialect, dialect

log = logging.getLogger(__name__)

CME_TEXT = {
    3: "operation not allowed",
    4: "operation not supported",
    10: "SIM not inserted",
    11: "SIM PIN required",
    12: "SIM PUK required",
    13: "SIM failure",
    14: "SIM busy",
    30: "no network service",
    100: "unknown",
}
NOISE_LINES = (b"^RSSI: 17", b"+QIND: SMS DONE", b"+CREG: 1", b"+CTZV: 26/11/30,16:00:00,+00", b'^HCSQ: "LTE",40')
GARBAGE = b"\xff\xfe\x00\x1b[\x80garbage\x07"
STALE = "0C9144972000000000000100A0F0001A2B3C4D5E6F708192A3B4C5D6E7F8"  # 30 bytes of an older message
REG_STATS = tuple(str(n) for n in range(12))  # TS 27.007 <stat>: 6-10 SMS only / CSFB not preferred, 11 RLOS
REGISTERED_STATS = frozenset({1, 5, 6, 7, 9, 10})  # registered: home, roaming, for SMS only, CSFB not preferred
USSD_MODES = ("multiline", "release")
CHARSETS = ("GSM", "IRA", "UCS2")
# A menu of several lines, as networks send them (python-gsmmodem's captures)
MENU = "Bal:$100.00 *\r\nExp 01 Jan 2013\r\n1. Recharge\r\n2. Balance\r\n00. Home"


@dataclass
class Submitted:
    """What the network made of one SMS-SUBMIT: a TP-MR, or a +CMS error, or no answer at all."""

    mr: int | None = None
    cms: int | None = None
    hang: bool = False


class Backend(Protocol):
    def card(self, modem: EmulatedModem) -> CardInfo: ...
    async def register(self, modem: EmulatedModem) -> int: ...  # CREG <stat> it ends in
    async def signal(self, modem: EmulatedModem) -> int: ...
    async def submit(self, modem: EmulatedModem, message: pdu.Submit) -> Submitted: ...
    async def pause(self, what: str) -> None: ...  # "restart" or "card": how long these take
    # the network's answer: <m> (0 done, 1 more expected, 2 released), its text, and how the network coded it
    # (<dcs> 15: the default alphabet, 72: UCS-2)
    async def ussd_answer(self, modem: EmulatedModem, code: str) -> tuple[int, str, int]: ...

    def ussd_end(self, modem: EmulatedModem) -> None: ...


@dataclass
class Faults:
    """Faults on demand; each stays until cleared."""

    no_answer: bool = False  # the module is hung: it reads and says nothing
    slow: float = 0.0  # seconds before each answer
    cms: int | None = None  # every AT+CMGS fails with this +CMS ERROR
    storage_full: bool = False  # messages are stored but +CMTI/+CDSI stay silent (as a full storage does)
    cmt: bool = False  # messages come as +CMT/+CDS (not stored), as with AT+CNMI=2,2
    noise: bool = False  # URC noise between the lines of every answer
    garbage: bool = False  # garbage bytes between the lines of every answer
    # the registration reads this <stat>: 2 searching, 3 denied, 5 roaming, 0 none; 6/7 SMS only, 8 emergency
    # services only, 9/10 CSFB not preferred, 11 restricted local services only
    creg: int | None = None
    pin: str = ""  # the card asks for "SIM PIN" or "SIM PUK" (values pin, puk)
    sim_busy: bool = False  # the SIM answers "SIM busy" (+CME ERROR: 14) until cleared
    # lines of the module's own that no command answers (+CIEV, +CRING, the vendor's: ^NWTIME, +WIND ...)
    # inside every answer, between a +CMGR/+CMGL header and its PDU too
    stray: bool = False
    stale: bool = False  # messages stored from now on keep 30 bytes of an older one after them, counted in <length>
    ussd: str = ""  # the network's USSD answers: "multiline" (a menu, CR LF inside), "release" (a notice first)
    cpin_bare: bool = False  # +CPIN answers end without OK (as Wavecom modules' do)

    def set(self, name: str, value: str) -> None:
        if name not in self.__dataclass_fields__:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(self.__dataclass_fields__)}")
        current = getattr(self, name)
        off = value in ("", "off", "none", "false", "no")
        if name == "slow":
            setattr(self, name, float(value or 0))
        elif name == "cms":
            setattr(self, name, int(value) if value not in ("", "0", "off", "none") else None)
        elif name == "creg":
            if not off and value not in REG_STATS:
                raise ValueError(f"creg is a registration <stat> 0-11 or off, not {value[:20]!r}")
            self.creg = None if off else int(value)
        elif name == "ussd":
            if not off and value not in USSD_MODES:
                raise ValueError(f"ussd is {' or '.join(USSD_MODES)} or off, not {value[:20]!r}")
            self.ussd = "" if off else value
        elif name == "pin":
            pins = {"1": "SIM PIN", "pin": "SIM PIN", "puk": "SIM PUK", "0": ""}
            if not off and value.lower() not in pins:
                raise ValueError(f"pin is pin, puk or off, not {value[:20]!r}")
            self.pin = "" if off else pins[value.lower()]
        else:
            setattr(self, name, value not in ("", "0", "off", "false", "no"))
        log.debug("fault %s: %s -> %s", name, current, getattr(self, name))


@dataclass
class Stored:
    stat: int  # 0 received unread, 1 received read, 2 stored unsent, 3 stored sent
    hex: str
    length: int


@dataclass
class ModemState:
    echo: bool = True
    cmee: int = 0
    cmgf: int = 0
    creg: int = 0
    cereg: int = 0
    cgreg: int = 0
    c5greg: int = 0
    cscs: str = "GSM"
    cnmi: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)
    cops_format: int = 0
    storage: dict[int, Stored] = field(default_factory=dict)


class EmulatedModem:
    capacity = 30  # messages the SIM storage holds

    def __init__(self, port: int, profile: Profile, backend: Backend, imei: str, clock: Clock | None = None) -> None:
        self.port = port
        self.clock: Clock = clock if clock is not None else SystemClock()  # a module's own delays (faults.slow)
        self.profile = profile
        self.dialect: Dialect = dialect(profile.name)
        self.uicc: Uicc | None = None  # the card's files, with its channels (built when first asked)
        self._stray = 0
        self._name = ""  # the command running (+CCID, #CCID ...)
        # Unsolicited results waiting for the command's end, or for the SMS prompt to be over
        self._held: list[bytes] = []
        self.registers_on_power_on = False  # registers by itself once powered (else when its SIM is first read)
        self.backend = backend
        self._ussd_answer: asyncio.Future[None] | None = None  # the network's +CUSD still to come
        self.imei = imei
        self.slot = 1
        self.faults = Faults()
        self.state = ModemState()
        self.reg_stat = 0  # what the network made of the registration (faults.creg may say otherwise)
        self._registered_for: tuple[int, str] | None = None
        self._registration: asyncio.Task[None] | None = None
        self._out: Callable[[bytes], None] = lambda data: None
        self._line = bytearray()
        self._prompt: int | None = None  # the <length> of an AT+CMGS waiting for its PDU
        self._queue: asyncio.Queue[tuple[str, str | None]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._cycle: asyncio.Task[None] | None = None
        self._interrupt = asyncio.Event()
        self._pending_ack = 0  # +CMT/+CDS sent and not acknowledged with +CNMA yet
        self._hold_ok = False  # a command of a compound line runs that is not its last
        self._last_final: bytes | None = None
        self.sent: list[pdu.Submit] = []  # every SMS-SUBMIT taken (tests look at them)
        self.restarting = False  # powered off for a moment: hears nothing
        self.sim_busy = False  # the SIM is being read after power-on or a slot change
        self.executing = False  # a command runs ...
        self.blocked = False  # ... and waits for the network (simulated time must pass)

    @property
    def unacknowledged(self) -> int:
        """+CMT/+CDS indications sent and not acknowledged with AT+CNMA yet (a module waits for them)."""
        return self._pending_ack

    # --- wiring ------------------------------------------------------------------------------------

    def connect(self, out: Callable[[bytes], None]) -> None:
        self._out = out
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work(), name=f"emulated modem {self.port}")

    async def stop(self) -> None:
        for task in (self._worker, self._registration, self._cycle):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._worker = self._registration = self._cycle = None

    def power_on(self) -> None:
        """A (re)start: settings back to their defaults, the start-up lines a module prints."""
        self.state = ModemState(storage=self.state.storage)
        self._registered_for = None
        self.reg_stat = 0
        self.uicc = None
        self._line.clear()
        self._prompt = None
        self._held.clear()
        for line in self.dialect.boot:
            self._write_line(line.encode("ascii"))
        if self.registers_on_power_on:
            self._sim_ready()

    # --- input -------------------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        if self.faults.no_answer or self.restarting:
            return
        self._interrupt.set()
        for b in data:
            if self._prompt is not None:
                if b == 0x1A:
                    length, self._prompt = self._prompt, None
                    self._queue.put_nowait((f"PDU={length}", self._line.decode("ascii", "replace")))
                    self._line.clear()
                    self._tell_held()
                elif b == 0x1B:
                    self._prompt = None
                    self._line.clear()
                    self._out(b"\r\nOK\r\n")
                    self._tell_held()
                elif b not in (10, 13):
                    self._line.append(b)
                    if self.state.echo:
                        self._out(bytes((b,)))
                continue
            if b == 13:
                line = self._line.decode("ascii", "replace").strip()
                self._line.clear()
                if self.state.echo:
                    self._out(b"\r")
                if line:
                    self._queue.put_nowait((line, None))
            elif b in (10, 0x1B):  # (ESC outside a prompt is ignored, as modules do)
                continue
            elif b in (8, 127):
                del self._line[-1:]
            else:
                self._line.append(b)
                if self.state.echo:
                    self._out(bytes((b,)))

    async def _work(self) -> None:
        while True:
            line, body = await self._queue.get()
            if self.faults.no_answer:
                continue
            self._interrupt.clear()
            self.executing = True
            try:
                if self.faults.slow:
                    self.blocked = True  # waits on the clock: a test clock may move on
                    await self.clock.sleep(self.faults.slow)
                    self.blocked = False
                if body is not None:
                    await self._pdu(int(line[4:]), body)
                else:
                    await self._command(line)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("emulated modem %d: %r failed", self.port, line)
                self._final(b"ERROR")
            finally:
                self.executing = self.blocked = False
                if self._prompt is None:
                    self._tell_held()

    def set_fault(self, name: str, value: str) -> None:
        """A fault on or off, and what the module says of it at once (a registration change, a card ready)."""
        stat, waited = self.stat, self._card_waits()
        self.faults.set(name, value)
        self._announce_reg(stat)
        card = self.card()
        if waited and not self._card_waits() and card.present and not card.error:
            self.urc("+CPIN: READY")
            self._sim_ready()

    def reboot(self) -> None:
        """The module restarts by itself (a watchdog, a brown-out): deaf for a moment, then RDY."""
        if self._registration is not None:
            self._registration.cancel()
        self.restarting = True
        self._spawn_restart()

    @property
    def busy(self) -> bool:
        """Work that needs no simulated time is under way (a command to run or running)."""
        return not self.restarting and (not self._queue.empty() or (self.executing and not self.blocked))

    @property
    def needs_time(self) -> bool:
        """Silent until simulated time passes: waiting for the network, restarting, or hung."""
        return self.blocked or self.restarting or self.faults.no_answer

    # --- output ------------------------------------------------------------------------------------

    def _write_line(self, text: bytes) -> None:
        self._out(b"\r\n" + text + b"\r\n")

    def _answer(self, *lines: str) -> None:
        for line in lines:
            self._disturb()
            self._write_line(line.encode("ascii"))
        self._disturb()

    def _disturb(self) -> None:
        if self.faults.noise:
            self._write_line(NOISE_LINES[self.port % len(NOISE_LINES)])
        if self.faults.garbage:
            self._write_line(GARBAGE)
        if self.faults.stray:
            lines = self.dialect.noise or COMMON_NOISE
            self._stray = (self._stray + 1) % len(lines)
            self._write_line(lines[self._stray].encode("ascii"))

    def _record(self, header: str, entry: Stored) -> None:
        """A +CMGR/+CMGL header and its PDU line, with what disturbs answers around and between them."""
        self._answer(header)
        self._out(entry.hex.encode("ascii") + b"\r\n")

    def _final(self, text: bytes = b"OK") -> None:
        self._last_final = text
        if not (self._hold_ok and text == b"OK"):  # more commands of the line to come
            self._write_line(text)

    def _ok(self, *lines: str) -> None:
        self._answer(*lines)
        self._final()

    def _cme(self, code: int) -> None:
        if self.state.cmee == 0:
            self._final(b"ERROR")
        elif self.state.cmee == 2:
            self._final(f"+CME ERROR: {CME_TEXT.get(code, 'unknown')}".encode())
        else:
            self._final(f"+CME ERROR: {code}".encode())

    def _cms(self, code: int) -> None:
        self._final(b"ERROR" if self.state.cmee == 0 else f"+CMS ERROR: {code}".encode())

    def urc(self, line: str, pdu_line: str | None = None) -> None:
        """An unsolicited result (and the PDU line of +CMT/+CDS).  One that a command causes waits for the
        command's final result (V.250 5.7.2: a TA holds them while a command runs), unless the command waits
        for the network meanwhile; while the module waits at an SMS prompt the line is reserved too (held,
        told once the prompt is over: AT+CNMI <mode> 2)."""
        data = b"\r\n" + line.encode("ascii") + b"\r\n"
        if pdu_line is not None:
            data += pdu_line.encode("ascii") + b"\r\n"
        if (self.executing and not self.blocked) or self._prompt is not None:
            self._held.append(data)
        else:
            self._out(data)

    def _tell_held(self) -> None:
        held, self._held = self._held, []
        for data in held:
            self._out(data)

    def _unsupported(self) -> None:
        self._final(self.dialect.unknown.encode("ascii"))

    # --- the card and the network ------------------------------------------------------------------

    def card(self) -> CardInfo:
        return self.backend.card(self)

    def _card_waits(self) -> bool:
        return bool(self.faults.pin) or self.faults.sim_busy

    @property
    def stat(self) -> int:
        """The registration <stat> the module shows."""
        return self.faults.creg if self.faults.creg is not None else self.reg_stat

    def _sim_ready(self) -> bool:
        card = self.card()
        if card.present and not card.error and not self._card_waits():
            key = (self.slot, card.iccid)
            if self._registered_for != key:
                self._registered_for = key
                self._start_registration()
            return True
        return False

    def _start_registration(self) -> None:
        if self._registration is not None:
            self._registration.cancel()
        self._set_reg(2)
        self._registration = asyncio.get_running_loop().create_task(self._register())

    async def _register(self) -> None:
        stat = await self.backend.register(self)
        self._set_reg(stat)

    def _set_reg(self, stat: int) -> None:
        before = self.stat
        self.reg_stat = stat
        self._announce_reg(before)

    def _registrations(self) -> tuple[str, ...]:
        """The registration commands this module answers (TS 27.007 7.2, 10.1.20, 10.1.22, 10.1.35)."""
        d = self.dialect
        return ("+CREG", "+CGREG") + (("+CEREG",) if d.cereg else ()) + (("+C5GREG",) if d.c5greg else ())

    def _where(self, name: str, stat: int) -> str:
        """``,<lac>,<ci>[,<AcT>]`` of a registration line when <n> is 2 and the module is registered."""
        if stat not in REGISTERED_STATS:
            return ""
        lac, ci = ("1A2B", "00C3F01") if name in ("+CREG", "+CGREG") else ("0A1B", "01A2B3C")
        where = f'"{lac}","{ci}"' if self.dialect.quoted_location else f"{lac},{ci}"
        act = 7 if name == "+CEREG" else 11 if name == "+C5GREG" else self.dialect.act
        return f",{where}" + (f",{act}" if act is not None else "")

    def _announce_reg(self, before: int) -> None:
        """Each registration indication enabled, when the <stat> shown changed from ``before``."""
        stat = self.stat
        if stat == before:
            return
        for name in self._registrations():
            n = getattr(self.state, name.lower().strip("+"))
            if n:
                self.urc(f"{name}: {stat}{self._where(name, stat) if n == 2 else ''}")

    def deliver(self, hexpdu: str, length: int, *, report: bool = False) -> None:
        """The network hands over a received SMS (or a status report): stored, or shown at once."""
        mt, ds = self.state.cnmi[1], self.state.cnmi[3]
        direct = self.faults.cmt or (mt == 2 if not report else ds == 1)
        if direct and (mt if not report else ds) and not self.restarting:
            self._pending_ack += 1
            self.urc(f"+CDS: {length}" if report else f"+CMT: ,{length}", hexpdu)
            return
        free = [i for i in range(self.profile.first_index, self.profile.first_index + self.capacity)]
        free = [i for i in free if i not in self.state.storage]
        if not free:
            log.info("emulated modem %d: storage full, a message is lost", self.port)
            return
        index = free[0]
        if self.faults.stale:  # the record keeps what an older, longer message left, and <length> counts it
            hexpdu, length = hexpdu + STALE, length + len(STALE) // 2
        self.state.storage[index] = Stored(0, hexpdu, length)
        if self.faults.storage_full or self.restarting:  # (restarting: kept on the SIM, announced to nobody)
            return
        if report and ds == 2:
            self.urc(f'+CDSI: "SM",{index}')
        elif not report and mt == 1:
            self.urc(f'+CMTI: "SM",{index}')

    # --- commands ----------------------------------------------------------------------------------

    async def _command(self, line: str) -> None:
        if line.upper().startswith("A/"):
            return
        if not line[:2].upper() == "AT":
            self._final(b"ERROR")
            return
        commands = split_at_line(line)
        if not commands:
            self._ok()
            return
        # One line, several commands (ATE0V1, AT+CSQ;+CREG?): each one's answer lines, one final result;
        # the first error ends the line.
        for i, cmd in enumerate(commands):
            self._hold_ok = i < len(commands) - 1
            self._last_final = None
            try:
                await self._one(cmd.name + cmd.rest)
            finally:
                self._hold_ok = False
            if self._last_final != b"OK":
                break

    async def _one(self, body: str) -> None:
        upper = body.upper()
        if upper[0] in "EVQZI&" or upper[:2] in ("&F",):
            self._basic(upper)
            return
        name, op, arg = _split(body)
        handler = getattr(self, "_c_" + name.lstrip("+^#").upper(), None)
        vendor = VENDOR_SIGNS.get(name[:1])
        if handler is None or (vendor is not None and self.profile.name != vendor):
            self._unsupported()
            return
        self._name = name.upper()
        await handler(op, arg)

    def _basic(self, upper: str) -> None:
        if upper.startswith("E"):
            self.state.echo = upper[1:2] != "0"
            self._ok()
        elif upper.startswith("I"):
            self._ok(*self.dialect.identity())
        elif upper.startswith(("Z", "&F")):
            self.state = ModemState(storage=self.state.storage)
            self._ok()
        else:
            self._ok()

    async def _c_CMEE(self, op: str, arg: str) -> None:
        if op == "?":
            self._ok(f"+CMEE: {self.state.cmee}")
        elif op == "=" and arg in ("0", "1", "2"):
            self.state.cmee = int(arg)
            self._ok()
        else:
            self._cme(3)

    async def _c_CGSN(self, op: str, arg: str) -> None:
        self._ok() if op == "=?" else self._ok(self.imei)

    _c_GSN = _c_CGSN

    async def _c_CGMI(self, op: str, arg: str) -> None:
        self._ok() if op == "=?" else self._ok(self.dialect.manufacturer)

    async def _c_CGMM(self, op: str, arg: str) -> None:
        self._ok() if op == "=?" else self._ok(self.dialect.model)

    async def _c_CGMR(self, op: str, arg: str) -> None:
        if not self.dialect.revision:
            return self._unsupported()
        self._ok() if op == "=?" else self._ok(self.dialect.revision)

    _c_GMI, _c_GMM, _c_GMR = _c_CGMI, _c_CGMM, _c_CGMR

    async def _c_EGMR(self, op: str, arg: str) -> None:
        """The IMEI, read (0,7) and written (1,7,"<imei>"), as MediaTek-based and Quectel modules have it."""
        fields = split_args(arg)
        if op == "=?":
            return self._ok("+EGMR: (0,1),(7)")
        if op != "=" or len(fields) < 2 or fields[1] != "7" or fields[0] not in ("0", "1"):
            return self._cme(3)
        if fields[0] == "0":
            return self._ok(f'+EGMR: "{self.imei}"')
        try:
            self.imei = imei(fields[2] if len(fields) == 3 else "")
        except NumberError:
            return self._cme(3)
        self._ok()

    async def _c_CPIN(self, op: str, arg: str) -> None:
        card = self.card()
        if (self.sim_busy or self.faults.sim_busy) and card.present:
            self._cme(14)
        elif not card.present:
            self._cme(10)
        elif card.error:
            self._cme(13)
        elif op == "?" and self.faults.pin:
            self._cpin(self.faults.pin)
        elif op == "?":
            self._sim_ready()
            self._cpin("READY")
        else:
            self._cme(3)

    def _cpin(self, state: str) -> None:
        if self.dialect.cpin_ok and not self.faults.cpin_bare:
            return self._ok(f"+CPIN: {state}")
        self._answer(f"+CPIN: {state}")  # and no final result: the command ends with the line
        self._last_final = b"OK"

    def _need_sim(self) -> CardInfo | None:
        card = self.card()
        if not card.present:
            self._cme(10)
            return None
        if card.error:
            self._cme(13)
            return None
        if self._card_waits():
            self._cme(14 if self.faults.sim_busy else 12 if self.faults.pin == "SIM PUK" else 11)
            return None
        self._sim_ready()
        return card

    async def _c_CIMI(self, op: str, arg: str) -> None:
        card = self._need_sim()
        if card is not None:
            self._ok(card.imsi)

    async def _iccid(self, prefix: str) -> None:
        card = self._need_sim()
        if card is not None:
            self._ok(f"{prefix}{card.iccid}")

    async def _c_QCCID(self, op: str, arg: str) -> None:
        if self.profile.name != "quectel":
            return self._unsupported()
        await self._iccid("+QCCID: ")

    async def _c_CCID(self, op: str, arg: str) -> None:  # +CCID, Telit's #CCID
        await self._iccid("" if self.profile.name == "simcom" else f"{self._name}: ")

    async def _c_CICCID(self, op: str, arg: str) -> None:
        if self.profile.name != "simcom":
            return self._unsupported()
        await self._iccid("+ICCID: ")

    async def _c_ICCID(self, op: str, arg: str) -> None:  # Huawei's ^ICCID?, Telit's +ICCID
        await self._iccid(f"{self._name}: ")

    # --- the SIM's files ---------------------------------------------------------------------------

    def _card_files(self) -> Uicc | None:
        card = self._need_sim()
        if card is None:
            return None
        files = CardFiles.of(card.iccid, card.imsi, card.number, card.operator)
        if self.uicc is None or self.uicc.files != files:  # another card since: its channels are gone
            self.uicc = Uicc(files)
        return self.uicc

    async def _c_CRSM(self, op: str, arg: str) -> None:
        """Restricted SIM access (TS 27.007 8.18): AT+CRSM=<command>,<fileid>[,<P1>,<P2>,<P3>]."""
        if op == "=?":
            return self._ok()
        fields = [f for f in split_args(arg)]
        if op != "=" or len(fields) < 2 or not all(f.isdigit() for f in fields[:5] if f):
            return self._cme(3)
        uicc = self._card_files()
        if uicc is None:
            return
        if split_args(arg)[:2] == ["176", "12258"]:  # EF_ICCID, in the form every driver profile reads
            return self._ok(f'+CRSM: 144,0,"{crsm_of_iccid(uicc.files.iccid)}"')
        p = [int(f) if f else 0 for f in (fields + ["0"] * 5)[2:5]]
        sw1, sw2, data = uicc.crsm(int(fields[0]), int(fields[1]), *p)
        self._ok(f'+CRSM: {sw1},{sw2},"{data}"' if data else f"+CRSM: {sw1},{sw2}")

    async def _c_CSIM(self, op: str, arg: str) -> None:
        """Generic SIM access (8.17): AT+CSIM=<length>,"<command APDU>" on the basic channel."""
        if op == "=?":
            return self._ok()
        fields = split_args(arg)
        if op != "=" or len(fields) != 2 or not fields[0].isdigit() or int(fields[0]) != len(fields[1]):
            return self._cme(3)
        uicc = self._card_files()
        if uicc is not None:
            response = uicc.apdu(fields[1], 0)
            self._ok(f'+CSIM: {len(response)},"{response}"')

    async def _c_CCHO(self, op: str, arg: str) -> None:
        """Open a logical channel to an application (8.45): AT+CCHO="<AID>" -> +CCHO: <sessionid>."""
        if op == "=?":
            return self._ok()
        fields = split_args(arg)
        if op != "=" or len(fields) != 1 or not fields[0]:
            return self._cme(3)
        uicc = self._card_files()
        if uicc is None:
            return
        number = uicc.open_channel(fields[0])
        if number is None:  # no such application on this card (it is a USIM, not an eUICC), or no channel left
            return self._cme(4)
        self._ok(f"+CCHO: {number}")

    async def _c_CCHC(self, op: str, arg: str) -> None:
        """Close a logical channel (8.46)."""
        if op == "=?":
            return self._ok()
        uicc = self.uicc
        if op != "=" or not arg.strip().isdigit() or uicc is None or not uicc.close_channel(int(arg)):
            return self._cme(3)
        self._ok()

    async def _c_CGLA(self, op: str, arg: str) -> None:
        """An APDU on a logical channel (8.43): AT+CGLA=<sessionid>,<length>,"<command>"."""
        if op == "=?":
            return self._ok()
        fields = split_args(arg)
        uicc = self.uicc
        if op != "=" or len(fields) != 3 or not fields[0].isdigit() or not fields[1].isdigit():
            return self._cme(3)
        if uicc is None or int(fields[0]) not in uicc.channels or int(fields[1]) != len(fields[2]):
            return self._cme(3)
        response = uicc.apdu(fields[2], int(fields[0]))
        self._ok(f'+CGLA: {len(response)},"{response}"')

    async def _c_CURC(self, op: str, arg: str) -> None:
        self._ok()

    async def _c_QDSIM(self, op: str, arg: str) -> None:
        if self.profile.slot_command is None or not self.profile.slot_command.startswith("AT+QDSIM"):
            return self._unsupported()
        if op == "?":
            self._ok(f"+QDSIM: {self.slot - 1}")
        elif arg.isdigit():
            if self.slot != int(arg) + 1:
                self.slot = int(arg) + 1
                self._registered_for = None
                self.reg_stat = 0
                self._cycle = asyncio.get_running_loop().create_task(self._read_sim())
            self._ok()
        else:
            self._cme(3)

    async def _c_CNUM(self, op: str, arg: str) -> None:
        card = self._need_sim()
        if card is None:
            return
        if card.number:
            kind = 145 if card.number.startswith("+") else 129
            self._ok(f'+CNUM: "","{card.number}",{kind}')
        else:
            self._ok()

    async def _c_CSPN(self, op: str, arg: str) -> None:
        card = self._need_sim()
        if card is not None:
            self._ok(f'+CSPN: "{card.operator.partition(" ")[2]}",0')

    async def _c_COPS(self, op: str, arg: str) -> None:
        if op == "=":
            fields = split_args(arg)
            if len(fields) >= 2 and fields[0] == "3" and fields[1] in ("0", "1", "2"):
                self.state.cops_format = int(fields[1])
            self._ok()
            return
        card = self.card()
        if op == "?" and self.stat in (1, 5) and card.present:
            plmn, _, name = card.operator.partition(" ")
            value = plmn if self.state.cops_format == 2 else (name or plmn)
            self._ok(f'+COPS: 0,{self.state.cops_format},"{value}",7')
        elif op == "?":
            self._ok("+COPS: 0")
        else:
            self._ok('+COPS: (2,"EMU","EMU","00101",7),,(0-4),(0-2)')

    async def _reg_query(self, name: str, op: str, arg: str) -> None:
        if name not in self._registrations():
            return self._unsupported()
        attr = name.lower().strip("+")
        if op == "=":
            if arg not in ("0", "1", "2"):
                return self._cme(3)
            setattr(self.state, attr, int(arg))
            self._ok()
        elif op == "?":
            # No card (taken out since): not registered, not searching, whatever the module said before.
            stat = self.stat if self._sim_ready() else 0
            n = getattr(self.state, attr)
            self._ok(f"{name}: {n},{stat}{self._where(name, stat) if n == 2 else ''}")
        else:
            self._ok(f"{name}: (0-2)")

    async def _c_CREG(self, op: str, arg: str) -> None:
        await self._reg_query("+CREG", op, arg)

    async def _c_CGREG(self, op: str, arg: str) -> None:
        await self._reg_query("+CGREG", op, arg)

    async def _c_CEREG(self, op: str, arg: str) -> None:
        await self._reg_query("+CEREG", op, arg)

    async def _c_C5GREG(self, op: str, arg: str) -> None:
        await self._reg_query("+C5GREG", op, arg)

    async def _c_CGATT(self, op: str, arg: str) -> None:
        """Packet domain attach (TS 27.007 10.1.9): attached while registered."""
        if op == "=?":
            return self._ok("+CGATT: (0,1)")
        if op == "?":
            return self._ok(f"+CGATT: {1 if self.stat in REGISTERED_STATS else 0}")
        self._ok() if arg in ("0", "1") else self._cme(3)

    async def _c_CSCS(self, op: str, arg: str) -> None:
        """The character set of text in answers (TS 27.007 5.5): what USSD text comes in."""
        if op == "=?":
            return self._ok("+CSCS: (" + ",".join(f'"{c}"' for c in CHARSETS) + ")")
        if op == "?":
            return self._ok(f'+CSCS: "{self.state.cscs}"')
        wanted = split_args(arg)[0].upper() if op == "=" else ""
        if wanted not in CHARSETS:
            return self._cme(4)
        self.state.cscs = wanted
        self._ok()

    async def _c_CSQ(self, op: str, arg: str) -> None:
        level = await self.backend.signal(self) if self.card().present else 99
        self._ok(f"+CSQ: {level},99")

    async def _c_CFUN(self, op: str, arg: str) -> None:
        if op == "?":
            return self._ok("+CFUN: 1")
        self._ok()
        if split_args(arg)[-1] == "1" and "," in arg:
            self.restarting = True
            self._spawn_restart()

    def _spawn_restart(self) -> None:
        async def cycle() -> None:
            await self.backend.pause("restart")
            self.restarting = False
            self.power_on()
            await self._read_sim()

        self._cycle = asyncio.get_running_loop().create_task(cycle())

    async def _read_sim(self) -> None:
        self.sim_busy = True
        try:
            await self.backend.pause("card")
        finally:
            self.sim_busy = False

    async def _c_CMGF(self, op: str, arg: str) -> None:
        if op == "?":
            self._ok(f"+CMGF: {self.state.cmgf}")
        elif arg in ("0", "1"):
            self.state.cmgf = int(arg)
            self._ok()
        else:
            self._cme(3)

    async def _c_CPMS(self, op: str, arg: str) -> None:
        used = len(self.state.storage)
        if op == "=?":
            return self._ok('+CPMS: ("SM"),("SM"),("SM")')
        if op == "=" and any(m not in ("SM", "ME", "MT") for m in split_args(arg)):
            return self._cms(302)
        if op == "?":
            line = f'+CPMS: "SM",{used},{self.capacity},"SM",{used},{self.capacity},"SM",{used},{self.capacity}'
        else:
            line = f"+CPMS: {used},{self.capacity},{used},{self.capacity},{used},{self.capacity}"
        self._ok(line)

    async def _c_CNMI(self, op: str, arg: str) -> None:
        if op == "=?":
            return self._ok("+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)")
        if op == "?":
            return self._ok("+CNMI: " + ",".join(str(v) for v in self.state.cnmi))
        values = [int(v) if v.isdigit() else 0 for v in split_args(arg)] + [0] * 5
        self.state.cnmi = tuple(values[:5])  # type: ignore[assignment]
        self._ok()

    async def _c_CSMP(self, op: str, arg: str) -> None:
        self._ok("+CSMP: 17,167,0,0") if op == "?" else self._ok()

    async def _c_CSMS(self, op: str, arg: str) -> None:
        self._ok("+CSMS: 1,1,1")

    async def _c_CSCA(self, op: str, arg: str) -> None:
        self._ok('+CSCA: "+10000000000",145') if op == "?" else self._ok()

    async def _c_CMGS(self, op: str, arg: str) -> None:
        if self.state.cmgf != 0:
            return self._cms(304)
        if not arg.isdigit() or not 7 <= int(arg) <= 164:
            return self._cms(304)
        if self._need_sim() is None:
            return
        self._prompt = int(arg)
        self._out(b"\r\n> ")

    async def _pdu(self, length: int, body: str) -> None:
        try:
            message = pdu.decode(body, tpdu_length=length)
        except pdu.PduError:
            return self._cms(304)
        if not isinstance(message, pdu.Submit):
            return self._cms(304)
        if self.faults.cms is not None:
            return self._cms(self.faults.cms)
        if self.stat not in (1, 5):
            return self._cms(331)
        self.sent.append(message)
        self.blocked = True
        work = asyncio.ensure_future(self.backend.submit(self, message))
        interrupted = asyncio.ensure_future(self._interrupt.wait())
        done, _ = await asyncio.wait({work, interrupted}, return_when=asyncio.FIRST_COMPLETED)
        interrupted.cancel()
        if work not in done:
            work.cancel()
            return self._cms(332)  # aborted by a character, as V.250 has it: the network timed out
        self.blocked = False
        result = work.result()
        if result.hang:
            self.blocked = True
            await self._interrupt.wait()
            self.blocked = False
            return self._cms(332)
        if result.cms is not None:
            return self._cms(result.cms)
        self._ok(f"+CMGS: {result.mr}")

    def _stored(self, arg: str) -> tuple[int, Stored] | None:
        if not arg.split(",")[0].isdigit():
            self._cms(321)
            return None
        index = int(arg.split(",")[0])
        entry = self.state.storage.get(index)
        if entry is None:
            self._cms(321)
            return None
        return index, entry

    async def _c_CMGR(self, op: str, arg: str) -> None:
        found = self._stored(arg)
        if found is None:
            return
        _, entry = found
        self._record(f"+CMGR: {entry.stat},{self.dialect.alpha},{entry.length}", entry)
        entry.stat = 1 if entry.stat == 0 else entry.stat
        self._final()

    async def _c_CMGD(self, op: str, arg: str) -> None:
        fields = split_args(arg)
        if len(fields) > 1 and fields[1] not in ("", "0"):
            self.state.storage.clear()
            return self._ok()
        if self._stored(arg) is not None:
            del self.state.storage[int(fields[0])]
            self._ok()

    async def _c_CMGL(self, op: str, arg: str) -> None:
        if op == "=?":
            return self._ok("+CMGL: (0-4)")
        wanted = int(arg) if arg.isdigit() else 4
        for index, entry in sorted(self.state.storage.items()):
            if wanted != 4 and entry.stat != wanted:
                continue
            self._record(f"+CMGL: {index},{entry.stat},{self.dialect.alpha},{entry.length}", entry)
            if entry.stat == 0:
                entry.stat = 1
        self._final()

    async def _c_CNMA(self, op: str, arg: str) -> None:
        if self._pending_ack <= 0:
            return self._cms(340)
        self._pending_ack -= 1
        self._ok()

    async def _c_CUSD(self, op: str, arg: str) -> None:
        fields = split_args(arg)
        if op == "?":
            return self._ok("+CUSD: 1")
        if fields and fields[0] == "2":
            self._end_ussd()
            return self._ok()
        if len(fields) < 2 or not fields[1]:
            return self._ok()
        if self._need_sim() is None:
            return
        self._ok()
        # The network answers later, as an unsolicited +CUSD; the module takes other commands meanwhile.
        if self._ussd_answer is not None and not self._ussd_answer.done():
            self._ussd_answer.cancel()

        async def answer(code: str) -> None:
            mode, text, sent = await self.backend.ussd_answer(self, code)
            if self.faults.ussd == "release":  # a notice of the network's, before the answer
                self.urc('+CUSD: 2,"Initiating Release",15')
            if self.faults.ussd == "multiline":  # a menu in the default alphabet, its lines in the string
                text, sent = f"{text}\r\n{MENU}", 15
            shown, dcs = self._ussd_text(text, sent)
            self.urc(f'+CUSD: {mode},"{shown}",{dcs}')

        self._ussd_answer = asyncio.ensure_future(answer(fields[1]))

    def _ussd_text(self, text: str, sent: int) -> tuple[str, int]:
        """<str> and <dcs> of +CUSD as this module shows the network's text (TS 27.007 7.15, TS 23.038 5).

        Text the network sent in the default alphabet comes with <dcs> 15: as characters of the module's
        character set (AT+CSCS: GSM code points, the way "ä" shows as "{"), as UCS-2 hex in "UCS2", as
        the packed septets in hex on Huawei sticks.  Text sent in UCS-2 comes as its hex, <dcs> 72."""
        try:
            septets = gsm7_septets(text) if sent != 72 else b""
        except ValueError:
            sent = 72
        if sent == 72:
            return text.encode("utf-16-be").hex().upper(), 72
        if self.state.cscs == "UCS2":
            return text.encode("utf-16-be").hex().upper(), 15
        if self.dialect.ussd_packed:
            return pack_septets(septets).hex().upper(), 15
        if self.state.cscs == "IRA":
            return "".join(ch if " " <= ch <= "~" or ch in "\r\n" else "?" for ch in text), 15
        return "".join(_GSM_SHOWN.get(b, chr(b)) for b in septets), 15

    def _end_ussd(self) -> None:
        if self._ussd_answer is not None and not self._ussd_answer.done():
            self._ussd_answer.cancel()
        self.backend.ussd_end(self)


VENDOR_SIGNS = {"^": "huawei", "#": "telit"}  # command names only these vendors' modules know
# How a module's serial line shows default-alphabet code points in its GSM character set: as the bytes
# they are; the few that are no printable ASCII there as their nearest.
_GSM_SHOWN = {0x00: "@", 0x02: "$", 0x11: "_", 0x1B: " "}


def _split(body: str) -> tuple[str, str, str]:
    """``+CMGS=23`` -> ("+CMGS", "=", "23"); ``+CREG?`` -> ("+CREG", "?", ""); ``+CNMI=?`` -> (.., "=?", "")."""
    for i, ch in enumerate(body):
        if ch in "=?":
            name = body[:i]
            rest = body[i:]
            if rest.startswith("=?"):
                return name, "=?", rest[2:]
            if rest.startswith("?"):
                return name, "?", rest[1:]
            return name, "=", rest[1:]
    return body, "", ""


def now_utc() -> datetime:
    return datetime.now(UTC)
