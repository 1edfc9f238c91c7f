"""One GSM module on its AT port: bring-up, card, SMS out, what it says on its own, pass-through.

Its parts with a job of their own sit beside it: what it received (``storage.py``: nothing is
deleted from a module before the device stored it), its registrations (``registration.py``), USSD
(``ussd.py``) and the balance read by USSD (``balance.py``).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ...clock import Clock, Timer
from ...protocol import pdu
from ...protocol.at import BARE, Answers, Urc, dial_string, split_args
from ...protocol.at_fields import (
    charset_text,
    charsets,
    imei_in,
    pin_state,
)
from ...protocol.codes import PortState
from ...protocol.text import Segmented
from ...protocol.ussd import split_at_line
from ..base import NO_CARD, CardInfo, ModemEvents, SendResult, UssdReply
from .balance import BALANCE_AFTER_SEND, BALANCE_TIMEOUT, BalanceRule, rule_for
from .channel import Answer, ATError, Channel, CommandTimeout, ModuleGone, Opener
from .errors import cms_reason, refuses_recipient
from .profiles import Profile, iccid_from_crsm
from .registration import REGISTRATIONS, Registration
from .storage import INDICATIONS, ReceivedMessages
from .ussd import UssdExchange

log = logging.getLogger(__name__)

SEND_TIMEOUT = 60.0  # a module may take this long to answer AT+CMGS (network round trips, retries)
CPIN_TRIES, CPIN_WAIT = 80, 0.25  # "SIM busy" right after power-on: asked again for up to 20 s
RESTART_WAIT = 30.0  # seconds a module may take to restart
# +CPIN answers of a card that waits for someone (a PIN, a PUK): the port shows 11 until it is ready
_CPIN_WAITING = frozenset({"SIM PIN", "SIM PUK", "SIM PIN2", "SIM PUK2", "PH-SIM PIN", "PH-NET PIN"})
_BARE_IMSI = re.compile(r"\d{6,15}")


@dataclass(frozen=True)
class ModemConfig:
    """A ``[[modem]]`` entry: the module serving ``port``."""

    port: int
    device: str
    baud: int = 115200
    profile: str = "generic"


class Module:
    def __init__(
        self,
        config: ModemConfig,
        profile: Profile,
        clock: Clock,
        events: Callable[[], ModemEvents | None],
        opener: Opener,
        balance_rules: list[BalanceRule] | None = None,
    ) -> None:
        self.config = config
        self.port = config.port
        self.profile = profile
        self.clock = clock
        self._events = events
        self._opener = opener
        self.channel = Channel(f"port {config.port} ({config.device})", self._urc, clock)
        self.slot = 1
        self.ready = False
        self._concat_ref = 0
        self.registration = Registration(self.channel)
        # The device brought the module up (its registration ended): what it says on its own from now on
        # (registration lost, back, denied; a restart of its own) is reported as the port's state.
        self.live = False
        self.waiting = False  # the card waits (PIN, PUK, busy): its +CPIN: READY asks for a new bring-up
        self._told: PortState | None = None
        self._reg_changed = asyncio.Event()
        self._rdy = asyncio.Event()  # the module said RDY: it has (re)started
        self._tasks: set[asyncio.Task[Any]] = set()
        self.signal_level = 0
        self.imei = ""
        self.charset = ""  # the TE character set (AT+CSCS) the module speaks in text; "": unknown
        self.send_timeout = SEND_TIMEOUT
        self._opening = asyncio.Lock()
        self.ussd_exchange = UssdExchange(self.channel, clock, profile, lambda: self.charset)
        self.received = ReceivedMessages(
            self.channel, clock, self.port, lambda: self.slot, lambda: self.charset, events, self._spawn
        )
        self.balance_rules = balance_rules or []
        self._card = CardInfo(present=False)  # the card last read (its rule for the balance)
        self._balance_timer: Timer | None = None

    # --- bring-up ----------------------------------------------------------------------------------

    async def open(self) -> None:
        async with self._opening:
            if not self.channel.is_open:
                reader, writer = await self._opener()
                self.channel.attach(reader, writer)
            try:
                await self._init()
            except CommandTimeout as exc:
                raise ModuleGone(str(exc)) from None

    @property
    def opening(self) -> bool:
        """The serial line is being opened or the module set up (no answer is due on the line yet)."""
        return self._opening.locked()

    async def close(self) -> None:
        if self._balance_timer is not None:
            self._balance_timer.cancel()
            self._balance_timer = None
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.channel.close()
        self.ready = False

    async def _init(self) -> None:
        ch = self.channel
        self.live = False
        self.registration.forget()
        await ch.command("AT", timeout=2)  # flush: whatever was half-typed ends here
        await ch.check("ATE0")
        await ch.check("AT+CMEE=1")
        answer = await ch.command("AT+CGSN", expect=Answers.of("+CGSN", bare=True))
        self.imei = imei_in(answer.lines) if answer.ok else ""
        for cmd in self.profile.init:
            await ch.command(cmd)
        self.charset = await self._set_charset()
        self.ready = True

    async def _set_charset(self) -> str:
        """Set the profile's TE character set where the module has it; the one it speaks ("" unknown)."""
        ch = self.channel
        wanted = self.profile.charset
        if wanted:
            offered = await ch.command("AT+CSCS=?", expect="+CSCS")
            values = offered.values("+CSCS")
            known = charsets(values[0]) if offered.ok and values else []
            if (not known or wanted in known) and (await ch.command(f'AT+CSCS="{wanted}"')).ok:
                return wanted
        current = await ch.command("AT+CSCS?", expect="+CSCS")
        values = current.values("+CSCS")
        if not current.ok or not values:
            return ""
        name = values[0].strip().strip('"').upper()
        return charset_text(name, "UCS2").upper() if name not in _CHARSETS else name  # "0055004300530032"

    async def _sms_setup(self) -> None:
        """PDU mode, storage, indications, status reports, registration reports: needs the SIM ready."""
        ch = self.channel
        await ch.check("AT+CMGF=0")
        await ch.command('AT+CPMS="SM","SM","SM"', expect="+CPMS")
        await ch.command(await self._cnmi())
        await ch.command("AT+CSMP=49,167,0,0")  # SMS-SUBMIT with TP-SRR and a relative validity
        await self.registration.report_changes()

    async def _cnmi(self) -> str:
        """AT+CNMI preferring stored messages with +CMTI/+CDSI; what the module supports decides."""
        answer = await self.channel.command("AT+CNMI=?", expect="+CNMI")
        ranges = re.findall(r"\(([^)]*)\)", answer.lines[0]) if answer.ok and answer.lines else []
        mt = "1" if not ranges or len(ranges) < 2 or "1" in _values(ranges[1]) else "2"
        ds = "2" if len(ranges) >= 4 and "2" in _values(ranges[3]) else "1"
        return f"AT+CNMI=2,{mt},0,{ds},0"

    async def _value(self, command: str, expect: str) -> str:
        """The first answer line of ``command`` without its prefix, or "" if it failed."""
        try:
            answer = await self.channel.check(command, expect=Answers.of(expect) if expect else BARE)
        except ATError:
            return ""
        for line in answer.lines:
            if expect and line.startswith(expect):
                return line.partition(":")[2].strip()
            if not expect:
                return line.strip()
        return ""

    # --- card and registration --------------------------------------------------------------------

    async def detect_card(self, slot: int) -> CardInfo:
        ch = self.channel
        if self.profile.slot_command is not None and slot != self.slot:
            await ch.check(self.profile.slot_command.format(slot - 1), timeout=10)
        self.slot = slot
        self.live = self.waiting = False
        self.registration.forget()  # what the module said of the card before is not said of this one
        self._card = CardInfo(present=False)
        state = await self._cpin()
        if state == "absent":
            return NO_CARD
        if state in _CPIN_WAITING or state == "busy":
            self.waiting = True
            return CardInfo(present=True, waiting=True, imei=self.imei)
        if state != "READY":
            return CardInfo(present=True, error=True, imei=self.imei)
        await self._sms_setup()
        imsi = await self._imsi()
        iccid = await self._iccid()
        number = ""
        cnum = await self._value("AT+CNUM", "+CNUM")
        if cnum:
            fields = split_args(cnum)
            number = charset_text(fields[1], self.charset) if len(fields) > 1 else ""
            number = number if re.fullmatch(r"\+?[0-9*#]{1,20}", number) else ""
        operator = await self._operator() or await self._home_operator(imsi)
        await self.received.sweep()
        self._card = CardInfo(present=True, iccid=iccid, imsi=imsi, number=number, operator=operator, imei=self.imei)
        return self._card

    async def _cpin(self) -> str:
        """READY, a PIN/PUK the module asks for, "absent", or "busy" when "SIM busy" outlasts the wait."""
        for _ in range(CPIN_TRIES):
            # Wavecom answers "+CPIN: READY" and no final result at all
            answer = await self.channel.command("AT+CPIN?", expect=Answers.of("+CPIN", final_optional=True))
            values = answer.values("+CPIN")
            if answer.ok and values:
                return pin_state(values[0])
            code = answer.final.code
            if code == 10:  # SIM not inserted
                return "absent"
            if code not in (14, 515):  # 14 SIM busy, 515 (Quectel) please wait
                return "error"
            await self.clock.sleep(CPIN_WAIT)
        return "busy"

    async def _imsi(self) -> str:
        answer = await self.channel.command("AT+CIMI", expect=Answers.of("+CIMI", bare=True))
        for line in answer.lines if answer.ok else []:
            value = (line.partition(":")[2] if ":" in line else line).strip().strip('"')
            if _BARE_IMSI.fullmatch(value):
                return value
        return ""

    async def _iccid(self) -> str:
        for command, prefix in self.profile.iccid:
            value = await self._value(command, prefix)
            if command.startswith("AT+CRSM"):
                value = iccid_from_crsm(value)
            value = value.strip('"').rstrip("Ff")
            if value:
                return value
        return ""

    async def _operator(self) -> str:
        """``<PLMN> <name>`` as the status shows it."""
        await self.channel.command("AT+COPS=3,2")
        plmn = split_args(await self._value("AT+COPS?", "+COPS"))
        await self.channel.command("AT+COPS=3,0")
        name = split_args(await self._value("AT+COPS?", "+COPS"))
        numeric = plmn[2] if len(plmn) > 2 else ""
        alpha = charset_text(name[2], self.charset) if len(name) > 2 else ""
        return " ".join(p for p in (numeric, alpha) if p)

    async def _home_operator(self, imsi: str) -> str:
        """Before registration: the SIM's home network from its IMSI, named by the SIM (AT+CSPN)."""
        plmn = imsi[: 6 if imsi[:3] in _THREE_DIGIT_MNC else 5] if len(imsi) >= 6 else ""
        spn = charset_text(split_args(await self._value("AT+CSPN?", "+CSPN"))[0], self.charset)
        return " ".join(p for p in (plmn, spn) if p)

    async def register(self, deadline: float = 120.0) -> PortState:
        """Wait for the network to take the card: +CREG/+CEREG/+C5GREG reports, and each asked now and then."""
        end = self.clock.monotonic() + deadline
        while True:
            self._reg_changed.clear()  # before asking: a report while the answers come wakes the wait below
            await self.registration.ask()
            state = self.registration.state
            left = end - self.clock.monotonic()
            if state is not PortState.REGISTERING or left <= 0:
                state = PortState.REGISTER_FAILED if state is PortState.REGISTERING else state
                self.live, self._told = True, state
                if state is PortState.REGISTERED:
                    self._balance_later(0.0)
                return state
            await self._wait(self._reg_changed, min(left, 2.0))

    def _tell(self, state: PortState) -> None:
        """Report the port's state as the module says it on its own (once per change)."""
        if state is self._told:
            return
        self._told = state
        events = self._events()
        if events is not None:
            events.module_state(self.port, state)

    async def _wait(self, event: asyncio.Event, seconds: float) -> None:
        """Until ``event`` is set or ``seconds`` of the device clock have passed."""
        waiter = asyncio.ensure_future(event.wait())
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        try:
            await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            sleeper.cancel()

    async def signal(self) -> int:
        answer = await self.channel.command("AT+CSQ", expect="+CSQ")
        values = answer.values("+CSQ")
        if answer.ok and values:
            rssi = split_args(values[0])[0]
            if rssi.isdigit():
                self.signal_level = 0 if int(rssi) == 99 else min(int(rssi), 31)
        return self.signal_level

    async def restart(self) -> None:
        """Power-cycle the module: it says RDY (or at least answers AT) when it is back."""
        self.ready = self.live = False
        self._rdy.clear()
        await self.channel.command(self.profile.restart, timeout=10)
        await self._wait(self._rdy, RESTART_WAIT)
        await self._init()

    # --- sending -----------------------------------------------------------------------------------

    async def send(self, number: str, text: Segmented, report: bool, smsc: str = "") -> SendResult:
        """Every part by AT+CMGS in PDU mode; ``smsc`` "" uses the SIM's service centre."""
        try:
            recipient = dial_string(number)
            centre = dial_string(smsc) if smsc else None
        except ValueError as exc:
            return SendResult(False, f"21 {exc}", recipient_refused=True)
        self._concat_ref = (self._concat_ref + 1) % 256
        parts = pdu.encode_submit_parts(
            recipient, text, concat_ref=self._concat_ref, request_report=report, smsc=centre
        )
        refs: list[int] = []
        for part in parts:
            try:
                answer = await self.channel.command(
                    f"AT+CMGS={part.tpdu_length}", timeout=self.send_timeout, expect="+CMGS", pdu=part.hex
                )
            except (ModuleGone, CommandTimeout) as exc:
                if not (refs or exc.handed_over):
                    raise  # nothing of this SMS reached the module: it failed, and the module is the driver's to handle
                # The module has (part of) it and said nothing more: it may have gone out.  The channel finds
                # out on its own whether the module is still there (a closed line, a resync after a timeout).
                what = "went away" if isinstance(exc, ModuleGone) else "fell silent"
                return SendResult(False, f"the module {what} after taking the SMS", refs=tuple(refs), unknown=True)
            if not answer.ok:
                return SendResult(
                    False, cms_reason(answer.final), refs=tuple(refs), recipient_refused=refuses_recipient(answer.final)
                )
            mr = next(iter(answer.values("+CMGS")), "")
            refs.append(int(mr.split(",")[0]) % 256 if mr.split(",")[0].isdigit() else 0)
        self._balance_later(BALANCE_AFTER_SEND)
        return SendResult(True, refs=tuple(refs))

    # --- receiving ---------------------------------------------------------------------------------

    # --- what it says on its own ------------------------------------------------------------------

    def _urc(self, urc: Urc) -> None:
        name = urc.name
        if name in INDICATIONS:
            self.received.indication(urc)
        elif name in REGISTRATIONS:
            if self.registration.heard(name, urc.args):
                self._reg_changed.set()
                if self.live:  # lost the network, found it again, denied, roaming
                    self._tell(self.registration.state)
        elif name == "+CUSD":
            self.ussd_exchange.heard(urc.args)
        elif name == "+CPIN":
            if self.waiting and pin_state(urc.args) == "READY":  # the PIN was given, or the SIM is done being busy
                self.waiting = False
                self._told = None
                self._tell(PortState.CARD_DETECTED)
        elif name == "RDY" or (name == "+CFUN" and urc.args.strip() == "1"):
            self._rdy.set()
            if self.live:  # not a restart of ours: the module forgot its settings, bring-up starts over
                self.ready = self.live = False
                self._tell(PortState.ACCESS_NETWORK)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def sweep(self) -> None:
        """Every stored message read and taken (a full storage stops +CMTI, and a crash may have left some)."""
        await self.received.sweep()

    # --- USSD and pass-through ---------------------------------------------------------------------

    async def ussd(self, code: str, timeout: float) -> UssdReply:
        async with self.ussd_exchange.lock:  # one USSD at a time: the device's, or the balance read
            return await self.ussd_exchange.ask(code, timeout)

    async def ussd_cancel(self) -> None:
        await self.ussd_exchange.cancel()

    # --- balance -------------------------------------------------------------------------------------

    def _balance_later(self, delay: float) -> None:
        """Read the balance ``delay`` seconds from now (once, however many sends ask meanwhile)."""
        if self._balance_timer is not None or not self.balance_rules:
            return

        def due() -> None:
            self._balance_timer = None
            self._spawn(self.read_balance())

        self._balance_timer = self.clock.call_later(delay, due)

    async def read_balance(self) -> float | None:
        """The balance of the card by its ``[[balance]]`` rule, reported to the device; None if unknown."""
        card = self._card
        rule = rule_for(self.balance_rules, card.iccid, card.imsi, card.operator) if card.present else None
        exchange = self.ussd_exchange
        if rule is None or exchange.lock.locked():
            return None  # no rule, or someone's USSD runs: the next send asks again
        try:
            async with exchange.lock:
                reply = await exchange.ask(rule.code, BALANCE_TIMEOUT)
                if reply.session_open:
                    await self.channel.command("AT+CUSD=2")
        except (TimeoutError, ATError, ModuleGone, ValueError) as exc:
            log.info("port %d: the balance (%s) could not be read: %s", self.port, rule.code, exc)
            return None
        value = rule.balance_in(reply.text)
        if value is None:
            log.info("port %d: no balance found in the answer to %s by its pattern", self.port, rule.code)
            return None
        events = self._events()
        if events is not None and self.live:
            events.balance(self.port, value)
        return value

    async def at_command(self, line: str, timeout: float) -> str:
        if any(ch in line for ch in "\r\n\x1a\x1b"):
            raise ValueError("one command line, without CR, LF, Ctrl-Z or ESC")
        # "+CREG: 0,1" answers AT+CREG? although the same line also comes unsolicited: say which is expected
        # (each command's, on a line of several: AT+CSQ;+CREG?); lines without a prefix are answers too.
        commands = split_at_line(line.strip())
        named = [c.name for c in commands if c.name[:1] in "+^$%"]
        if any(c.name.upper() == "I" for c in commands):
            named.append("+GCAP")  # ATI's text often ends with the capabilities list (V.250 6.1.9)
        try:
            answer: Answer = await self.channel.command(line, timeout=timeout, expect=Answers.of(*named, bare=True))
        except CommandTimeout:
            raise TimeoutError(f"no answer to {line[:40]!r} in {timeout:g} s") from None
        return answer.raw()


_CHARSETS = frozenset({"GSM", "IRA", "UCS2", "HEX", "PCCP437", "PCDN", "8859-1", "UTF-8", "UTF8"})


# Countries whose networks have three-digit MNCs (E.212): the PLMN is the IMSI's first six digits.
_THREE_DIGIT_MNC = frozenset(
    "302 310 311 312 313 314 315 316 334 338 342 344 346 348 352 354 356 358 360 365 376 405 708 722 732".split()
)


def _values(field: str) -> set[str]:
    """``(0-2)`` or ``(0,1,3)`` -> the values it allows."""
    inner = field.strip("()")
    out: set[str] = set()
    for piece in inner.split(","):
        lo, dash, hi = piece.partition("-")
        if dash and lo.isdigit() and hi.isdigit():
            out.update(str(v) for v in range(int(lo), int(hi) + 1))
        elif piece.strip():
            out.add(piece.strip())
    return out
