"""One GSM module on its AT port: bring-up, card, registration, SMS out and in, USSD.

Received messages are stored by the device before they are deleted from the
module, so a crash between the two shows the message again at the next sweep
(the inbox keeps what it already has once: see ``Module._seen``).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ...clock import Clock
from ...protocol import pdu
from ...protocol.at import Urc, dial_string, quoted, split_args
from ...protocol.codes import PortState
from ...protocol.pdu_fields import unpack_septets
from ...protocol.ports import PortAddress
from ...protocol.text import Segmented, gsm7_text
from ...protocol.ussd import split_at_line
from ..base import NO_CARD, CardInfo, ModemEvents, SendResult, UssdReply
from .channel import Answer, ATError, Channel, CommandTimeout, ModuleGone
from .errors import cms_reason, refuses_recipient
from .profiles import Profile, iccid_from_crsm

log = logging.getLogger(__name__)

SEND_TIMEOUT = 60.0  # a module may take this long to answer AT+CMGS (network round trips, retries)
CPIN_TRIES, CPIN_WAIT = 80, 0.25  # "SIM busy" right after power-on: asked again for up to 20 s
RESTART_WAIT = 30.0  # seconds a module may take to restart
# +CPIN answers of a card that waits for someone (a PIN, a PUK): the port shows 11 until it is ready
_CPIN_WAITING = frozenset({"SIM PIN", "SIM PUK", "SIM PIN2", "SIM PUK2", "PH-SIM PIN", "PH-NET PIN"})


@dataclass(frozen=True)
class ModemConfig:
    """A ``[[modem]]`` entry: the module serving ``port``."""

    port: int
    device: str
    baud: int = 115200
    profile: str = "generic"


# CREG/CEREG <stat> -> port state.  Denied is 6 (DECISIONS: a failed registration is 6); 7 and 8 are
# SIM locks of the device and of the operator, which the network's answer to a registration is not.
_REG_STATES = {
    0: PortState.REGISTER_FAILED,  # not registered, not searching
    1: PortState.REGISTERED,
    2: PortState.REGISTERING,  # searching
    3: PortState.REGISTER_FAILED,  # denied
    4: PortState.REGISTERING,  # unknown: still looking
    5: PortState.REGISTERED,  # roaming
}


def best_stat(stats: Iterable[int]) -> int | None:
    """One <stat> of the registrations a module reports (+CREG circuit, +CEREG LTE): registered on
    either is registered, else searching, else denied."""
    found = list(stats)
    for wanted in ((1, 5), (2, 4), (3,), (0,)):
        for stat in found:
            if stat in wanted:
                return stat
    return None


def creg_stat(args: str, *, unsolicited: bool) -> int | None:
    """<stat> of ``+CREG: n,stat[,lac,ci]`` (an answer) or ``+CREG: stat[,lac,ci]`` (unsolicited)."""
    fields = split_args(args)
    if not unsolicited and len(fields) >= 2:
        value = fields[1]
    elif unsolicited or len(fields) == 1:
        value = fields[0]
    else:
        return None
    return int(value) if value.isdigit() else None


def decode_ussd(text: str, dcs: int) -> str:
    """A +CUSD string: hex of packed GSM-7 or UCS-2 per ``dcs`` when it is hex, else the text as it came."""
    if not text or len(text) % 2 or any(c not in "0123456789abcdefABCDEF" for c in text):
        return text
    raw = bytes.fromhex(text)
    group = dcs >> 4
    if dcs == 0x48 or (group == 1 and dcs & 0x0F == 1) or (group in (4, 5, 6, 7) and (dcs >> 2) & 3 == 2):
        return raw.decode("utf-16-be", errors="replace")
    if dcs in (0x0F,) or group in (0, 1, 2, 3, 15) or (group in (4, 5, 6, 7) and (dcs >> 2) & 3 == 0):
        count = len(raw) * 8 // 7
        septets = unpack_septets(raw, count)
        if count and septets[-1] == 0x0D and len(raw) * 8 % 7 == 0:  # padding CR (TS 23.038 6.1.2.3.1)
            septets = septets[:-1]
        return gsm7_text(septets)
    return text


class Module:
    def __init__(
        self,
        config: ModemConfig,
        profile: Profile,
        clock: Clock,
        events: Callable[[], ModemEvents | None],
        opener: Callable[[], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]],
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
        self._regs: dict[str, int] = {}  # <stat> last told by +CREG and by +CEREG
        # The device brought the module up (its registration ended): what it says on its own from now on
        # (registration lost, back, denied; a restart of its own) is reported as the port's state.
        self.live = False
        self.waiting = False  # the card waits (PIN, PUK, busy): its +CPIN: READY asks for a new bring-up
        self._told: PortState | None = None
        self._reg_changed = asyncio.Event()
        self._rdy = asyncio.Event()  # the module said RDY: it has (re)started
        self._ussd: asyncio.Future[UssdReply] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reading: set[tuple[str, int]] = set()  # storage indexes being read
        self._again: set[tuple[str, int]] = set()  # ... and announced again meanwhile
        self.signal_level = 0
        self.imei = ""
        self.send_timeout = SEND_TIMEOUT
        self._opening = asyncio.Lock()

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
        self.imei = await self._value("AT+CGSN", "")
        for cmd in self.profile.init:
            await ch.command(cmd)
        self.ready = True

    async def _sms_setup(self) -> None:
        """PDU mode, storage, indications, status reports: needs the SIM ready."""
        ch = self.channel
        await ch.check("AT+CMGF=0")
        await ch.command('AT+CPMS="SM","SM","SM"', expect="+CPMS")
        await ch.command(await self._cnmi())
        await ch.command("AT+CSMP=49,167,0,0")  # SMS-SUBMIT with TP-SRR and a relative validity
        await ch.command("AT+CREG=2")
        await ch.command("AT+CEREG=2")

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
            answer = await self.channel.check(command, expect=expect)
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
        state = await self._cpin()
        if state == "absent":
            return NO_CARD
        if state in _CPIN_WAITING or state == "busy":
            self.waiting = True
            return CardInfo(present=True, waiting=True)
        if state != "READY":
            return CardInfo(present=True, error=True)
        await self._sms_setup()
        imsi = await self._value("AT+CIMI", "")
        iccid = await self._iccid()
        number = ""
        cnum = await self._value("AT+CNUM", "+CNUM")
        if cnum:
            fields = split_args(cnum)
            number = fields[1] if len(fields) > 1 else ""
        operator = await self._operator() or await self._home_operator(imsi)
        await self.sweep()
        return CardInfo(present=True, iccid=iccid, imsi=imsi, number=number, operator=operator)

    async def _cpin(self) -> str:
        """READY, a PIN/PUK the module asks for, "absent", or "busy" when "SIM busy" outlasts the wait."""
        for _ in range(CPIN_TRIES):
            answer = await self.channel.command("AT+CPIN?", expect="+CPIN")
            if answer.ok and answer.lines:
                return answer.lines[0].partition(":")[2].strip()
            code = answer.final.code
            if code == 10:  # SIM not inserted
                return "absent"
            if code not in (14, 515):  # 14 SIM busy, 515 (Quectel) please wait
                return "error"
            await self.clock.sleep(CPIN_WAIT)
        return "busy"

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
        alpha = name[2] if len(name) > 2 else ""
        return " ".join(p for p in (numeric, alpha) if p)

    async def _home_operator(self, imsi: str) -> str:
        """Before registration: the SIM's home network from its IMSI, named by the SIM (AT+CSPN)."""
        plmn = imsi[: 6 if imsi[:3] in _THREE_DIGIT_MNC else 5] if len(imsi) >= 6 else ""
        spn = split_args(await self._value("AT+CSPN?", "+CSPN"))[0]
        return " ".join(p for p in (plmn, spn) if p)

    async def register(self, deadline: float = 120.0) -> PortState:
        """Wait for the network to take the card: +CREG URCs, AT+CREG? now and then."""
        end = self.clock.monotonic() + deadline
        while True:
            self._reg_changed.clear()  # before asking: a +CREG while the answer comes wakes the wait below
            stat = creg_stat(await self._value("AT+CREG?", "+CREG"), unsolicited=False)
            if stat is not None:
                self._regs["+CREG"] = stat
            state = self._reg_state()
            left = end - self.clock.monotonic()
            if state is not PortState.REGISTERING or left <= 0:
                state = PortState.REGISTER_FAILED if state is PortState.REGISTERING else state
                self.live, self._told = True, state
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
        if answer.ok and answer.lines:
            rssi = split_args(answer.lines[0].partition(":")[2])[0]
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
            mr = next((line.partition(":")[2].strip() for line in answer.lines if line.startswith("+CMGS")), "")
            refs.append(int(mr.split(",")[0]) % 256 if mr.split(",")[0].isdigit() else 0)
        return SendResult(True, refs=tuple(refs))

    # --- receiving ---------------------------------------------------------------------------------

    def _urc(self, urc: Urc) -> None:
        name = urc.name
        if name in ("+CMTI", "+CDSI"):
            fields = split_args(urc.args)
            if len(fields) >= 2 and fields[1].isdigit():
                self._spawn(self._read_stored(fields[0] or "SM", int(fields[1])))
        elif name == "+CMT":
            self._spawn(self._direct(urc.pdu, urc.args))
        elif name == "+CDS":
            self._spawn(self._direct(urc.pdu, urc.args))
        elif name in ("+CREG", "+CEREG"):
            stat = creg_stat(urc.args, unsolicited=True)
            if stat is not None:
                self._regs[name] = stat
                self._reg_changed.set()
                if self.live:  # lost the network, found it again, denied, roaming
                    self._tell(self._reg_state())
        elif name == "+CUSD":
            self._ussd_reply(urc.args)
        elif name == "+CPIN":
            if self.waiting and urc.args == "READY":  # the PIN was given, or the SIM is done being busy
                self.waiting = False
                self._told = None
                self._tell(PortState.CARD_DETECTED)
        elif name == "RDY" or (name == "+CFUN" and urc.args == "1"):
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
        length = split_args(args)[-1]
        stored = self._take(hexpdu, int(length) if length.isdigit() else None)
        if stored is not None:
            await stored
        try:
            await self.channel.command("AT+CNMA")
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
            answer = await self.channel.command(f"AT+CMGR={index}", expect="+CMGR")
            if not answer.ok or len(answer.lines) < 2:
                return
            length = split_args(answer.lines[0].partition(":")[2])[-1]
            stored = self._take(answer.lines[1], int(length) if length.isdigit() else None)
            if stored is not None:
                await stored
            await self.channel.command(f"AT+CMGD={index}")
        except Exception:
            log.warning("port %d: could not read stored message %d", self.port, index, exc_info=True)

    async def sweep(self) -> None:
        """Read every stored message (AT+CMGL=4): a full storage stops +CMTI, and a crash may have left some."""
        answer = await self.channel.command("AT+CMGL=4", expect="+CMGL", timeout=20)
        if not answer.ok:
            return
        lines = answer.lines
        for i, line in enumerate(lines):
            if line.startswith("+CMGL") and i + 1 < len(lines):
                fields = split_args(line.partition(":")[2])
                length = fields[-1]
                stored = self._take(lines[i + 1], int(length) if length.isdigit() else None)
                if stored is not None:
                    await stored
                if fields[0].isdigit():
                    await self.channel.command(f"AT+CMGD={fields[0]}")

    def _take(self, hexpdu: str, length: int | None) -> Awaitable[Any] | None:
        """Hand a received PDU to the device; what completes once it is stored."""
        events = self._events()
        if events is None:
            return None
        try:
            message = pdu.decode(hexpdu, tpdu_length=length)
        except pdu.PduError as exc:
            log.warning("port %d: an unreadable PDU is dropped: %s", self.port, exc)
            return None
        now = self.clock.time()
        if isinstance(message, pdu.StatusReport):
            # The service centre's time makes a report read twice (a line lost before AT+CMGD) the same one.
            centre = message.discharge or message.scts
            events.delivery_report(
                self.port,
                message.ref,
                message.recipient,
                message.status,
                now,
                message.smsc,
                smsc_ts=centre.timestamp() if centre is not None else None,
            )
            return None
        if isinstance(message, pdu.Submit):
            return None  # an SMS stored to send: not ours to deliver
        ts = message.scts.timestamp() if message.scts is not None else now
        text = message.text or message.data.decode("latin-1")
        c = message.concat
        ref, total, seq = (c.ref, c.total, c.seq) if c is not None else (0, 1, 1)
        stored = events.sms_part(PortAddress(self.port, self.slot), message.sender, text, ts, ref, total, seq)
        if stored is None:
            return None
        if isinstance(stored, asyncio.Future) or asyncio.iscoroutine(stored):
            return stored
        return asyncio.wrap_future(stored)  # type: ignore[arg-type]

    # --- USSD and pass-through ---------------------------------------------------------------------

    async def ussd(self, code: str, timeout: float) -> UssdReply:
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[UssdReply] = loop.create_future()
        self._ussd = reply

        def expired() -> None:
            if not reply.done():
                reply.set_exception(TimeoutError(f"the network did not answer {code!r} in {timeout:g} s"))

        timer = self.clock.call_later(timeout, expired)  # the device's clock, like every timeout here
        try:
            try:
                answer = await self.channel.command(
                    f"AT+CUSD=1,{quoted(code)},{self.profile.ussd_dcs}", timeout=timeout
                )
            except CommandTimeout:
                raise TimeoutError(f"no answer to AT+CUSD in {timeout:g} s") from None
            if not answer.ok:
                raise ATError("AT+CUSD", answer.final)
            return await reply
        finally:
            timer.cancel()
            self._ussd = None

    def _ussd_reply(self, args: str) -> None:
        fields = split_args(args)
        mode = int(fields[0]) if fields and fields[0].isdigit() else 2
        text = fields[1] if len(fields) > 1 else ""
        dcs = int(fields[2]) if len(fields) > 2 and fields[2].isdigit() else 15
        if self._ussd is not None and not self._ussd.done():
            self._ussd.set_result(UssdReply(decode_ussd(text, dcs), session_open=mode == 1))

    async def ussd_cancel(self) -> None:
        await self.channel.command("AT+CUSD=2")

    async def at_command(self, line: str, timeout: float) -> str:
        if any(ch in line for ch in "\r\n\x1a\x1b"):
            raise ValueError("one command line, without CR, LF, Ctrl-Z or ESC")
        # "+CREG: 0,1" answers AT+CREG? although the same line also comes unsolicited: say which is expected
        # (each command's, on a line of several: AT+CSQ;+CREG?).
        named = frozenset(c.name for c in split_at_line(line.strip()) if c.name[:1] in "+^$%")
        try:
            answer: Answer = await self.channel.command(line, timeout=timeout, expect=named)
        except CommandTimeout:
            raise TimeoutError(f"no answer to {line[:40]!r} in {timeout:g} s") from None
        return answer.raw()


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
