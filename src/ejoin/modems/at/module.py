"""One GSM module on its AT port: bring-up, card, registration, SMS out and in, USSD, balance.

Nothing received leaves the module before the device has it: a message is
deleted (``AT+CMGD``) or acknowledged (``AT+CNMA``) only once the device's store
acknowledged it — as an SMS, a delivery report, or, if it cannot be read (or is
an outgoing message found in the storage), as a raw PDU.  A crash between the
two shows the message again at the next sweep, and it is stored again: at least
once, never lost (a raw PDU is kept once per slot; a delivery report once, by
what it is: the inbox knows its copy).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ...clock import Clock, Timer
from ...protocol import pdu
from ...protocol.at import BARE, Answers, Urc, dial_string, quoted, split_args
from ...protocol.at_fields import (
    best_stat,
    charset_text,
    charsets,
    imei_in,
    pin_state,
    registration_stat,
    ussd_code,
    ussd_text,
)
from ...protocol.codes import PortState
from ...protocol.ports import PortAddress
from ...protocol.text import Segmented
from ...protocol.ussd import split_at_line
from ..base import NO_CARD, CardInfo, ModemEvents, SendResult, UssdReply
from .channel import Answer, ATError, Channel, CommandTimeout, ModuleGone, Opener
from .errors import cms_reason, refuses_recipient
from .profiles import Profile, iccid_from_crsm

log = logging.getLogger(__name__)

SEND_TIMEOUT = 60.0  # a module may take this long to answer AT+CMGS (network round trips, retries)
CPIN_TRIES, CPIN_WAIT = 80, 0.25  # "SIM busy" right after power-on: asked again for up to 20 s
RESTART_WAIT = 30.0  # seconds a module may take to restart
# +CPIN answers of a card that waits for someone (a PIN, a PUK): the port shows 11 until it is ready
_CPIN_WAITING = frozenset({"SIM PIN", "SIM PUK", "SIM PIN2", "SIM PUK2", "PH-SIM PIN", "PH-NET PIN"})
# "+CUSD: 2" (released) and "+CUSD: 3" (another client answered) may be a notice before the answer
# (Vodacom: "Initiating Release"): the answer is what comes within this long, else the notice.
USSD_NOTICE_GRACE = 2.0
BALANCE_TIMEOUT = 30.0  # seconds the network has to answer a balance code
BALANCE_AFTER_SEND = 30.0  # a balance read follows sends this long after the first of them
_REGISTRATIONS = ("+CREG", "+CEREG", "+C5GREG")  # circuit (2G/3G), LTE, 5G: queried where supported
_BARE_IMSI = re.compile(r"\d{6,15}")


@dataclass(frozen=True)
class BalanceRule:
    """A ``[[balance]]`` table: the USSD code that reads a SIM's balance, and where the number is in
    the answer (the first group of ``pattern``, else its whole match).  ``iccid`` (a prefix) names
    SIMs, ``operator`` (a PLMN, or its prefix) a network; a rule with neither serves every SIM."""

    code: str
    pattern: str
    operator: str = ""
    iccid: str = ""

    def balance_in(self, text: str) -> float | None:
        found = re.search(self.pattern, text)
        if found is None:
            return None
        return parse_amount(found.group(1) if found.groups() else found.group(0))


def parse_amount(text: str) -> float | None:
    """``12.30``, ``12,30``, ``1,234.50``, ``1.234,50``, ``-3``: the number; None if there is none."""
    value = text.strip().replace(" ", "").replace("\u00a0", "")
    if "," in value and "." in value:
        value = value.replace("," if value.rfind(",") < value.rfind(".") else ".", "")
    value = value.replace(",", ".")
    try:
        return float(value)
    except ValueError:
        return None


def rule_for(rules: list[BalanceRule], iccid: str, imsi: str, operator: str) -> BalanceRule | None:
    """The rule of a card: the first naming its ICCID, else its network (home network by the IMSI, or
    the operator's PLMN), else one that names neither."""
    plmn = operator.split(" ", 1)[0]
    for fits in (
        lambda r: bool(r.iccid) and iccid.startswith(r.iccid),
        lambda r: bool(r.operator) and not r.iccid and (imsi.startswith(r.operator) or plmn.startswith(r.operator)),
        lambda r: not r.operator and not r.iccid,
    ):
        for rule in rules:
            if fits(rule):
                return rule
    return None


@dataclass(frozen=True)
class ModemConfig:
    """A ``[[modem]]`` entry: the module serving ``port``."""

    port: int
    device: str
    baud: int = 115200
    profile: str = "generic"


# CREG/CEREG/C5GREG <stat> -> port state.  Denied is 6 (DECISIONS: a failed registration is 6); 7 and
# 8 are SIM locks of the device and of the operator, which the network's answer to a registration is
# not.  LTE's "SMS only" and "CSFB not preferred" (6, 7, 9, 10) carry SMS: registered, for an SMS
# gateway; emergency-only and restricted service (8, 11) do not: still looking.
_REG_STATES = {
    0: PortState.REGISTER_FAILED,  # not registered, not searching
    1: PortState.REGISTERED,
    2: PortState.REGISTERING,  # searching
    3: PortState.REGISTER_FAILED,  # denied
    4: PortState.REGISTERING,  # unknown: still looking
    5: PortState.REGISTERED,  # roaming
    6: PortState.REGISTERED,  # SMS only, home
    7: PortState.REGISTERED,  # SMS only, roaming
    8: PortState.REGISTERING,  # emergency services only
    9: PortState.REGISTERED,  # CSFB not preferred, home
    10: PortState.REGISTERED,  # CSFB not preferred, roaming
    11: PortState.REGISTERING,  # restricted local operator services only
}


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
        self._regs: dict[str, int] = {}  # <stat> last told by +CREG, +CEREG, +C5GREG
        self._reg_queries: tuple[str, ...] = ("+CREG",)  # the registrations this module reports
        # The device brought the module up (its registration ended): what it says on its own from now on
        # (registration lost, back, denied; a restart of its own) is reported as the port's state.
        self.live = False
        self.waiting = False  # the card waits (PIN, PUK, busy): its +CPIN: READY asks for a new bring-up
        self._told: PortState | None = None
        self._reg_changed = asyncio.Event()
        self._rdy = asyncio.Event()  # the module said RDY: it has (re)started
        self._ussd: asyncio.Future[UssdReply] | None = None
        self._ussd_notice: tuple[UssdReply, Timer] | None = None  # a release notice, the answer may follow
        self._ussd_lock = asyncio.Lock()  # one USSD at a time: the device's, or the balance read
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reading: set[tuple[str, int]] = set()  # storage indexes being read
        self._again: set[tuple[str, int]] = set()  # ... and announced again meanwhile
        self.signal_level = 0
        self.imei = ""
        self.charset = ""  # the TE character set (AT+CSCS) the module speaks in text; "": unknown
        self.send_timeout = SEND_TIMEOUT
        self._opening = asyncio.Lock()
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
        self._regs.clear()
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
        reported = []
        for name in _REGISTRATIONS:
            if (await ch.command(f"AT{name}=2")).ok:
                reported.append(name)
        self._reg_queries = tuple(reported) or ("+CREG",)

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
        self._regs.clear()  # what the module said of the card before is not said of this one
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
        await self.sweep()
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
            for name in self._reg_queries:
                answer = await self.channel.command(f"AT{name}?", expect=name)
                for value in answer.values(name) if answer.ok else []:
                    stat = registration_stat(value)
                    if stat is not None:
                        self._regs[name] = stat
            state = self._reg_state()
            left = end - self.clock.monotonic()
            if state is not PortState.REGISTERING or left <= 0:
                state = PortState.REGISTER_FAILED if state is PortState.REGISTERING else state
                self.live, self._told = True, state
                if state is PortState.REGISTERED:
                    self._balance_later(0.0)
                return state
            await self._wait(self._reg_changed, min(left, 2.0))

    def _reg_state(self) -> PortState:
        stat = best_stat(self._regs.values())
        return _REG_STATES.get(stat if stat is not None else 4, PortState.REGISTERING)

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

    def _urc(self, urc: Urc) -> None:
        name = urc.name
        if name in ("+CMTI", "+CDSI"):
            fields = split_args(urc.args)
            if len(fields) >= 2 and fields[1].isdigit():
                mem = charset_text(fields[0], self.charset).upper() or "SM"
                self._spawn(self._read_stored(mem, int(fields[1])))
        elif name in ("+CMT", "+CDS"):
            self._spawn(self._direct(urc.pdu, urc.args))
        elif name in _REGISTRATIONS:
            stat = registration_stat(urc.args)
            if stat is not None:
                self._regs[name] = stat
                self._reg_changed.set()
                if self.live:  # lost the network, found it again, denied, roaming
                    self._tell(self._reg_state())
        elif name == "+CUSD":
            self._ussd_reply(urc.args)
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

    async def _direct(self, hexpdu: str, args: str) -> None:
        """+CMT / +CDS: the message came without being stored; the module wants +CNMA once it is ours."""
        if not hexpdu:
            log.warning(
                "port %d: an indication came without its PDU: not acknowledged (the network sends it again)", self.port
            )
            return
        kept = await self._keep(hexpdu, _length(args), "an indication")
        try:
            # Not kept: a negative acknowledgement, so the network delivers it again rather than the module
            # taking it as delivered.
            await self.channel.command("AT+CNMA" if kept else "AT+CNMA=2")
        except Exception:
            log.debug("port %d: +CNMA failed", self.port, exc_info=True)

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
            async with self._storage(mem):
                answer = await self.channel.command(f"AT+CMGR={index}", expect=Answers.of("+CMGR", pdu=True))
                found = list(_stored(answer, "+CMGR")) if answer.ok else []
                if not found:
                    return
                header, hexpdu = found[0]
                if await self._keep(hexpdu, _length(header), f"{mem} {index}"):
                    await self.channel.command(f"AT+CMGD={index}")
        except Exception:
            log.warning("port %d: could not read stored message %d", self.port, index, exc_info=True)

    def _storage(self, mem: str) -> _Storage:
        """Read and delete in ``mem`` (a status report announced in "SR"), back to "SM" after."""
        return _Storage(self.channel, "" if mem in ("SM", "") else mem)

    async def sweep(self) -> None:
        """Read every stored message (AT+CMGL=4): a full storage stops +CMTI, and a crash may have left some."""
        answer = await self.channel.command("AT+CMGL=4", expect=Answers.of("+CMGL", pdu=True), timeout=20)
        if not answer.ok:
            return
        for header, hexpdu in _stored(answer, "+CMGL"):
            index = split_args(header)[0]
            if not index.isdigit():
                continue
            if await self._keep(hexpdu, _length(header), f"index {index}"):
                await self.channel.command(f"AT+CMGD={index}")

    async def _keep(self, hexpdu: str, length: int | None, where: str) -> bool:
        """Hand a received PDU to the device; True once its store has it (as what it is, or raw)."""
        events = self._events()
        if events is None:
            log.warning(
                "port %d: a received message (%s) is left on the module: nothing takes it yet", self.port, where
            )
            return False
        now = self.clock.time()
        slot = PortAddress(self.port, self.slot)
        stored: Awaitable[Any] | concurrent.futures.Future[Any] | None
        try:
            message = pdu.decode(hexpdu, tpdu_length=length)
        except pdu.PduError as exc:
            log.warning("port %d: a received PDU (%s) cannot be read (%s): stored raw", self.port, where, exc)
            stored = events.raw_pdu(slot, hexpdu, now, str(exc))
        else:
            trailing = b"" if isinstance(message, pdu.StatusReport) else message.trailing
            if trailing:
                log.debug("port %d: %d bytes after the user data of %s ignored", self.port, len(trailing), where)
            stored = self._deliver(events, slot, message, hexpdu, now)
        if stored is None:
            log.warning(
                "port %d: the device did not take a received message (%s): left on the module", self.port, where
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
                "port %d: a received message (%s) could not be stored (%s): left on the module", self.port, where, exc
            )
            return False
        return True

    def _deliver(
        self, events: ModemEvents, slot: PortAddress, message: pdu.Pdu, hexpdu: str, now: float
    ) -> Awaitable[Any] | None:
        if isinstance(message, pdu.StatusReport):
            # The service centre's time makes a report read twice (a line lost before AT+CMGD) the same one.
            centre = message.discharge or message.scts
            return events.delivery_report(
                self.port,
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

    # --- USSD and pass-through ---------------------------------------------------------------------

    async def ussd(self, code: str, timeout: float) -> UssdReply:
        async with self._ussd_lock:
            return await self._ussd_exchange(code, timeout)

    async def _ussd_exchange(self, code: str, timeout: float) -> UssdReply:
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[UssdReply] = loop.create_future()
        self._ussd = reply

        def expired() -> None:
            if not reply.done():
                reply.set_exception(TimeoutError(f"the network did not answer {code!r} in {timeout:g} s"))

        timer = self.clock.call_later(timeout, expired)  # the device's clock, like every timeout here
        try:
            text = ussd_code(code, self.charset, self.profile.ussd_packed)
            try:
                answer = await self.channel.command(
                    f"AT+CUSD=1,{quoted(text)},{self.profile.ussd_dcs}", timeout=timeout
                )
            except CommandTimeout:
                raise TimeoutError(f"no answer to AT+CUSD in {timeout:g} s") from None
            if not answer.ok:
                raise ATError("AT+CUSD", answer.final)
            return await reply
        finally:
            timer.cancel()
            self._ussd = None
            self._drop_notice()

    def _ussd_reply(self, args: str) -> None:
        fields = split_args(args)
        mode = int(fields[0]) if fields and fields[0].isdigit() else 2
        text = fields[1] if len(fields) > 1 else ""
        dcs = int(fields[2]) if len(fields) > 2 and fields[2].isdigit() else 15
        reply = self._ussd
        if reply is None or reply.done():
            return
        decoded = ussd_text(text, dcs, self.charset, self.profile.ussd_packed)
        if mode in (0, 1):
            self._drop_notice()
            reply.set_result(UssdReply(decoded, session_open=mode == 1))
        elif mode == 4:
            self._drop_notice()
            reply.set_result(UssdReply(decoded or "the network does not support this code", session_open=False))
        elif mode == 5:
            self._drop_notice()
            reply.set_exception(TimeoutError("the network timed out (+CUSD: 5)"))
        elif self._ussd_notice is None:
            # Released (2) or answered elsewhere (3): the answer itself may still come.
            notice = UssdReply(decoded, session_open=False)
            self._ussd_notice = (notice, self.clock.call_later(USSD_NOTICE_GRACE, self._notice_is_answer, reply))

    def _notice_is_answer(self, reply: asyncio.Future[UssdReply]) -> None:
        held, self._ussd_notice = self._ussd_notice, None
        if held is not None and not reply.done():
            reply.set_result(held[0])

    def _drop_notice(self) -> None:
        held, self._ussd_notice = self._ussd_notice, None
        if held is not None:
            held[1].cancel()

    async def ussd_cancel(self) -> None:
        await self.channel.command("AT+CUSD=2")

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
        if rule is None or self._ussd_lock.locked():
            return None  # no rule, or someone's USSD runs: the next send asks again
        try:
            async with self._ussd_lock:
                reply = await self._ussd_exchange(rule.code, BALANCE_TIMEOUT)
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


class _Storage:
    """``async with``: the message storage ``mem`` is read from while the body runs ("": the usual one)."""

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


_CHARSETS = frozenset({"GSM", "IRA", "UCS2", "HEX", "PCCP437", "PCDN", "8859-1", "UTF-8", "UTF8"})


# Countries whose networks have three-digit MNCs (E.212): the PLMN is the IMSI's first six digits.
_THREE_DIGIT_MNC = frozenset(
    {
        "302",
        "310",
        "311",
        "312",
        "313",
        "314",
        "315",
        "316",
        "334",
        "338",
        "342",
        "344",
        "346",
        "348",
        "352",
        "354",
        "356",
        "358",
        "360",
        "365",
        "376",
        "405",
        "708",
        "722",
        "732",
    }
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
