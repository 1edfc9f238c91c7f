"""``modems = "emulated"``: the simulated network behind AT modem emulators, driven by the real AT driver.

Every port is an emulated module on a serial line (in memory, or a
pseudo-terminal with ``modem_line = "pty"``); the gateway talks to it through
``ejoin.modems.at`` exactly as to a real one.  Behind the modules
is the simulated network: the same cards, registration outcomes, signal,
deterministic numbers (999 rejected, 998 no answer, 997 failed delivery
reports), SMS between the device's own SIMs, and the ``/sim/*`` routes, plus
``/sim/fault`` to make a module misbehave.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from ...clock import Clock
from ...config import Refused
from ...gateway.plugin import DriverHost
from ...modems.at.channel import Opener
from ...modems.at.driver import ATDriver, serial_opener
from ...modems.at.module import ModemConfig
from ...modems.at.profiles import PROFILES, profile
from ...modems.base import CardInfo, ModemEvents
from ...protocol import pdu
from ...protocol.codes import PortState
from ...protocol.ports import PortAddress
from ...protocol.text import segment
from ...store.base import Store
from ..cards import generate_imei, rng
from ..config import SimSettings
from ..modems import DELIVERED, NOT_DELIVERED, normalize_number
from ..network import SimulatedNetwork
from .engine import EmulatedModem, Submitted
from .memory import MemoryLine, quiesce_lines
from .pty import PtyModem
from .routes import FAULT_ROUTES, Emulators

EmulatorLine = MemoryLine[EmulatedModem] | PtyModem

if TYPE_CHECKING:
    from ...gateway.config import GatewayConfig
    from ...gateway.receiving import Inbox


log = logging.getLogger(__name__)

_CREG = {PortState.REGISTERED: 1, PortState.NO_BALANCE: 1, PortState.MODULE_TIMEOUT: 2}  # else 3: denied
SMSC = "+10000000000"
HEARD_WITHIN = 10.0  # real seconds a /sim/inbound SMS may take from the module to the device's inbox


class FaultSpec(msgspec.Struct, forbid_unknown_fields=True):
    """A ``[[fault]]`` table: a fault a module has from the start."""

    port: int
    fault: str
    value: str = "1"


class EmulatedSettings(SimSettings):
    modem_profile: str = "quectel"  # the vendor every emulated module plays
    # "memory": lines in the process (exact, fast, no kernel); "pty": a pseudo-terminal per module,
    # so the serial layer (serialx, termios) runs too
    modem_line: Literal["memory", "pty"] = "memory"
    fault: list[FaultSpec] = msgspec.field(default_factory=list)

    def check(self, config: GatewayConfig) -> None:
        if self.modem_profile not in PROFILES:
            raise Refused(
                ("modem_profile",), f"unknown profile {self.modem_profile!r}; known: {', '.join(sorted(PROFILES))}"
            )
        for i, f in enumerate(self.fault):
            if not 1 <= f.port <= config.ports:
                raise Refused(("fault", i, "port"), f"{f.port} is not a port of this device (1-{config.ports})")
            try:
                EmulatedModem(0, profile(self.modem_profile), None, "").faults.set(f.fault, f.value)  # type: ignore[arg-type]
            except ValueError as exc:
                raise Refused(("fault", i, "fault"), str(exc)) from None
        super().check(config)


class _Routed(ModemEvents):
    """What the simulated network reports (background traffic) goes to the emulated modules, over the air."""

    def __init__(self, net: EmulatedNetwork) -> None:
        self._net = net

    def sms_part(self, slot: PortAddress, sender: str, text: str, ts: float, ref: int, total: int, seq: int) -> None:
        self._net.deliver_text(slot, sender, text, ts, (ref, total, seq) if total > 1 else None)

    def delivery_report(
        self, port: int, ref: int, recipient: str, status: int, ts: float, smsc: str, smsc_ts: float | None = None
    ) -> None:
        self._net.report(port, ref, recipient, status, smsc or SMSC)

    def raw_pdu(self, slot: PortAddress, pdu: str, ts: float, reason: str) -> None:
        pass  # the network sends messages; it never holds undecodable ones

    def balance(self, port: int, value: float) -> None:
        pass

    def module_lost(self, port: int) -> None:
        pass

    def module_back(self, port: int) -> None:
        pass

    def module_state(self, port: int, state: PortState) -> None:
        pass


class _Heard(ModemEvents):
    """The device's events, watched for the SMS ``/sim/inbound`` sent over the air (to answer with its id)."""

    def __init__(self, inner: ModemEvents, awaited: dict[tuple, asyncio.Future[Any]]) -> None:
        self._inner = inner
        self._awaited = awaited

    def sms_part(self, slot: PortAddress, sender: str, text: str, ts: float, ref: int, total: int, seq: int) -> Any:
        stored = self._inner.sms_part(slot, sender, text, ts, ref, total, seq)
        heard = self._awaited.pop((slot.port, text, ref, total, seq), None)
        if heard is not None and not heard.done():
            heard.set_result(stored)
        return stored

    def delivery_report(
        self, port: int, ref: int, recipient: str, status: int, ts: float, smsc: str, smsc_ts: float | None = None
    ) -> Any:
        return self._inner.delivery_report(port, ref, recipient, status, ts, smsc, smsc_ts)

    def raw_pdu(self, slot: PortAddress, pdu: str, ts: float, reason: str) -> Any:
        return self._inner.raw_pdu(slot, pdu, ts, reason)

    def balance(self, port: int, value: float) -> None:
        self._inner.balance(port, value)

    def module_lost(self, port: int) -> None:
        self._inner.module_lost(port)

    def module_back(self, port: int) -> None:
        self._inner.module_back(port)

    def module_state(self, port: int, state: PortState) -> None:
        self._inner.module_state(port, state)


class EmulatedNetwork(SimulatedNetwork):
    def __init__(self, config: GatewayConfig, clock: Clock, store: Store) -> None:
        settings: EmulatedSettings = config.driver if config.driver is not None else EmulatedSettings()
        config.driver = settings
        super().__init__(config, clock, store)
        self.routes = (*self.routes, *FAULT_ROUTES)
        self.profile = profile(settings.modem_profile)
        self.dir: Path | None = None
        self.emulators: dict[int, EmulatorLine] = {}
        if settings.modem_line == "pty":
            self.dir = Path(tempfile.mkdtemp(prefix="ejoin-modems-"))
        for port in range(1, config.ports + 1):
            modem = EmulatedModem(port, self.profile, self, generate_imei(config.seed, port, 1), clock)
            if self.dir is not None:
                self.emulators[port] = PtyModem(modem, self.dir / f"port{port}")
            else:
                self.emulators[port] = MemoryLine(modem, f"memory:port{port}")
        for spec in settings.fault:
            self.emulators[spec.port].modem.faults.set(spec.fault, spec.value)
        modems = [ModemConfig(p, line.path, 115200, self.profile.name) for p, line in self.emulators.items()]
        self.at = ATDriver(modems, clock, self._opener)
        self.driver = self.at
        self._mr: dict[int, int] = {}
        self._send_rng = rng(config.seed, "emulated send")
        self._counts: dict[int, tuple[int, int, int, int]] = {}
        self._still: dict[int, int] = {}
        self._busy_looks = 0
        self._heard: dict[tuple, asyncio.Future[Any]] = {}  # /sim/inbound SMS on their way to the device
        self._inbound_ref = 0
        add_quiescer = getattr(clock, "add_quiescer", None)
        if add_quiescer is not None:  # a test clock: time moves on once the serial lines are quiet
            add_quiescer(self.quiesce)

    def _opener(self, config: ModemConfig) -> Opener:
        line = self.emulators[config.port]
        if isinstance(line, MemoryLine):
            return line.open
        return serial_opener(config)

    async def quiesce(self) -> bool:
        """Wait a moment if bytes are on a line or a module works without needing simulated time."""
        if self.dir is None:
            return await self._quiesce_memory()
        busy = False
        for port, pty in self.emulators.items():
            assert isinstance(pty, PtyModem)
            module = self.at.modules[port]
            ch = module.channel
            if pty.plugged and module.opening and not ch.is_open:
                busy = True  # the line is being opened (in real time)
                continue
            if not pty.plugged or not ch.is_open:
                continue
            counts = (pty.bytes_out, ch.bytes_in, ch.bytes_out, pty.bytes_in)
            # bytes on the line, unless nothing moved for many looks (a tty flushed on opening loses some)
            still = self._still.get(port, 0) + 1 if self._counts.get(port) == counts else 0
            self._counts[port], self._still[port] = counts, still
            moving = (counts[0] != counts[1] or counts[2] != counts[3]) and still < 50
            if pty.modem.busy or moving:
                busy = True
            elif ch.in_flight and not pty.modem.needs_time:
                busy = True
        # The clock gives up waiting after so many looks; a loaded machine may take a while to answer on a
        # line, and time moving on meanwhile would time the command out: look less often the longer it is.
        self._busy_looks = self._busy_looks + 1 if busy else 0
        if busy:
            await asyncio.sleep(0.001 if self._busy_looks < 100 else 0.02)
        return busy

    async def _quiesce_memory(self) -> bool:
        return await quiesce_lines(self.emulators, self.at)  # type: ignore[arg-type]  # all MemoryLines

    def modem(self, port: int) -> EmulatedModem:
        return self.emulators[port].modem

    async def attach(self, gw: DriverHost) -> None:
        self.modems.events = _Routed(self)
        if self.at.events is not None:
            self.at.events = _Heard(self.at.events, self._heard)
        await super().attach(gw)
        for line in self.emulators.values():
            line.plug()

    def start(self) -> None:
        super().start()
        self.at.start_sweeps()

    async def stop(self) -> None:
        await super().stop()
        await self.at.stop()
        for line in self.emulators.values():
            line.unplug()
            await line.modem.stop()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)

    # --- the Backend of the emulated modules ------------------------------------------------------

    def card(self, modem: EmulatedModem) -> CardInfo:
        return self.world.card(PortAddress(modem.port, modem.slot))

    async def register(self, modem: EmulatedModem) -> int:
        self.ussd.cancel(modem.port)  # a SIM that registers (again, or another one) has no USSD session
        state = await self.modems.register(modem.port, modem.slot)
        return _CREG.get(state, 3)

    async def pause(self, what: str) -> None:
        await self.clock.sleep(self.timing.module_restart if what == "restart" else self.timing.card_detect)

    async def signal(self, modem: EmulatedModem) -> int:
        return await self.modems.signal(modem.port)

    async def submit(self, modem: EmulatedModem, message: pdu.Submit) -> Submitted:
        t = self.timing
        first = message.concat is None or message.concat.seq == 1
        if t.send_max > 0 and first:  # the simulator's send time is per SMS, whatever its parts
            await self.clock.sleep(self._send_rng.uniform(t.send_min, t.send_max))
        digits = normalize_number(message.recipient)
        if digits.startswith("998"):
            return Submitted(hang=True)
        if digits.startswith("999"):
            return Submitted(cms=21)
        rate = self.settings.send_failure_rate
        if rate > 0 and self._send_rng.random() < rate:
            return Submitted(cms=38)
        card = self.card(modem)
        # The network charges the SIM a part at a time, as the simulator does per SMS; over AT the
        # device only learns it by asking (a balance USSD), as with a real card.
        addr = PortAddress(modem.port, modem.slot)
        price = self.world.price(addr)
        if price:
            balance = card.balance or 0.0
            if balance < price:
                return Submitted(cms=21)  # the network refuses: no credit
            self.world.set_balance(addr, round(balance - price, 2))
        mr = self._mr[modem.port] = (self._mr.get(modem.port, -1) + 1) % 256
        target = self.modems.directory(digits)
        if target is not None:
            c = message.concat
            self.deliver_text(
                target, card.number, message.text, self.clock.time(), (c.ref, c.total, c.seq) if c else None
            )
        if message.request_report:
            status = NOT_DELIVERED if digits.startswith("997") else DELIVERED
            centre = message.smsc or SMSC
            self.clock.call_later(t.delivery, self.report, modem.port, mr, message.recipient, status, centre)
        return Submitted(mr=mr)

    async def ussd_answer(self, modem: EmulatedModem, code: str) -> tuple[int, str, int]:
        """The simulated network's USSD service answering the modem's SIM (the same menus as the simulator),
        sent in UCS-2 as networks send menus in any script: a module shows it in hex, <dcs> 72."""
        delay, reply = self.ussd.answer(PortAddress(modem.port, modem.slot), code)
        if delay:
            await self.clock.sleep(delay)
        return (1 if reply.session_open else 0), reply.text, 72

    def ussd_end(self, modem: EmulatedModem) -> None:
        self.ussd.cancel(modem.port)

    # --- over the air ------------------------------------------------------------------------------

    async def inbound(
        self, inbox: Inbox, addr: PortAddress, sender: str, text: str, ts: float, ref: int, total: int, seq: int
    ) -> list[int] | None:
        """Over the air: the module of ``addr`` gets it (+CMTI), the AT driver reads it, the device stores it.
        [] when the module has not announced it in time (a full storage: the driver's sweep reads it)."""
        if total == 1 and segment(text).count > 1:  # longer than one SMS: it comes in parts, as phones send it
            parts = segment(text).parts
            self._inbound_ref = (self._inbound_ref + 1) % 256
            ids = None
            for seq, part in enumerate(parts, 1):
                ids = await self.inbound(inbox, addr, sender, part, ts, self._inbound_ref, len(parts), seq)
            return ids
        key = (addr.port, text, ref if total > 1 else 0, total, seq)
        heard = self._heard[key] = asyncio.get_running_loop().create_future()
        try:
            sent = self.deliver_text(addr, sender, text, ts, (ref, total, seq) if total > 1 else None)
        except pdu.PduError as exc:
            self._heard.pop(key, None)
            raise ValueError(f"this cannot go over the air: {exc}") from None
        if not sent:
            self._heard.pop(key, None)
            raise LookupError(f"no module has the SIM of {addr} active: the SMS is lost")
        try:
            # Real seconds: the AT lines work in real time, and the virtual clock waits for them.
            stored = await asyncio.wait_for(heard, HEARD_WITHIN)
        except TimeoutError:
            return []
        finally:
            self._heard.pop(key, None)
        result = await stored if stored is not None else None
        return result if isinstance(result, list) else None

    def deliver_text(self, slot: PortAddress, sender: str, text: str, ts: float, concat: Any) -> bool:
        """An SMS reaches the module holding ``slot`` if that slot is its active one (else it is lost)."""
        line = self.emulators.get(slot.port)
        if line is None or not line.plugged or line.modem.slot != slot.slot:
            log.info("an SMS to %s is lost: no module has that SIM active", slot)
            return False
        when = datetime.fromtimestamp(ts, UTC)
        encoded = pdu.encode_deliver(sender or "0", text, when, concat=concat, smsc=SMSC)
        line.modem.deliver(encoded.hex, encoded.tpdu_length)
        return True

    def report(self, port: int, mr: int, recipient: str, status: int, smsc: str = SMSC) -> None:
        line = self.emulators.get(port)
        if line is None or not line.plugged:
            return
        now = datetime.fromtimestamp(self.clock.time(), UTC)
        encoded = pdu.encode_status_report(mr, recipient, status, now, now, smsc=smsc)
        line.modem.deliver(encoded.hex, encoded.tpdu_length, report=True)

    async def replug(self, port: int) -> None:
        line = self.emulators[port]
        line.unplug()
        await asyncio.sleep(0)
        line.plug()


def create(config: GatewayConfig, clock: Clock, store: Store) -> EmulatedNetwork:
    return EmulatedNetwork(config, clock, store)


def _fault_route_drives_it(net: EmulatedNetwork) -> Emulators:
    return net  # mypy checks here that /sim/fault's view (routes.Emulators) is what the network has
