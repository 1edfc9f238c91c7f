"""The simulated GSM network as a driver of the gateway: its modules, and all that comes with them.

Generated SIMs for a new device, background SMS traffic, voice calls, the
eUICC, and the ``/sim/*`` control routes: none of it exists with another driver.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..clock import Clock
from ..gateway.device import write_card
from ..gateway.plugin import DriverHost, Modems
from ..modems.base import CardInfo
from ..protocol.codes import PortState
from ..protocol.ports import DeviceSize, PortAddress
from ..store.base import SlotRecord, Store
from ..web.route import Route
from .at import ModuleView
from .cards import generate_card, generate_imei, generate_slot_card, with_values
from .config import SimSettings, SimSpec
from .euicc import SimulatedEuicc
from .modems import SimulatedModems
from .routes import ROUTES, SimControl
from .traffic import TrafficGenerator
from .ussd import UssdService
from .voice import CallSimulator
from .world import World

if TYPE_CHECKING:
    from ..gateway.config import GatewayConfig
    from ..gateway.receiving import Inbox


log = logging.getLogger(__name__)

NO_CARD = CardInfo(present=False, iccid="", imsi="", number="", operator="", balance=0.0)


class SimulatedNetwork(Modems):
    routes: tuple[Route, ...] = ROUTES

    async def inbound(
        self, inbox: Inbox, addr: PortAddress, sender: str, text: str, ts: float, ref: int, total: int, seq: int
    ) -> list[int] | None:
        """``/sim/inbound``: an SMS (or a part) from the network reaches the slot; the ids of the SMS once
        stored whole, None for a part that leaves its SMS incomplete."""
        if total == 1:
            return await inbox.deliver(inbox.make_sms(addr, sender, text, ts))
        stored, whole = inbox.add_part(addr, sender, text, ts, ref, total, seq)
        if whole is not None:  # this part completed the SMS
            return await whole
        await stored
        return None

    def __init__(self, config: GatewayConfig, clock: Clock, store: Store) -> None:
        settings: SimSettings = config.driver if config.driver is not None else SimSettings()
        self.settings = settings
        self.timing = settings.effective_timing(config.fast)
        self.seed = config.seed
        self.size = DeviceSize(config.ports, config.slots)
        self.clock = clock
        self.world = World(store)
        self.modems = SimulatedModems(clock, self.timing, config.seed, self.world, settings.send_failure_rate)
        self.ussd = UssdService(settings.ussd, self.world, config.fast)
        self.modems.ussd_service = self.ussd
        super().__init__(self.modems)
        self.traffic: TrafficGenerator | None = None
        self.calls: CallSimulator

    def new_slots(self, addrs: list[PortAddress]) -> list[SlotRecord]:
        cards = {}
        imeis = {}
        for addr in addrs:
            assert addr.slot is not None
            imeis[addr] = generate_imei(self.seed, addr.port, addr.slot)
            cards[addr] = generate_slot_card(self.seed, addr.port, addr.slot, self.settings.sim_fill)
            if self.settings.empty_slots == "auto" and self.size.slots > 1:
                if addr.port % 2 == 0 and addr.slot == self.size.slots:
                    cards[addr] = NO_CARD
        for spec in self.settings.sim:
            addr = PortAddress.parse(spec.port, self.size)
            if addr in cards:
                cards[addr] = self._place(spec, addr, cards[addr], imeis)
        records = []
        for addr, card in cards.items():
            record = SlotRecord(port=addr.port, slot=addr.slot or 0, imei=imeis[addr])
            write_card(record, card)
            records.append(record)
        log.info("generated %d slots (seed %d)", len(records), self.seed)
        return records

    def _place(self, spec: SimSpec, addr: PortAddress, card: CardInfo, imeis: dict[PortAddress, str]) -> CardInfo:
        """A ``[[sim]]`` table applied to a generated slot."""
        assert addr.slot is not None
        if spec.empty:
            return NO_CARD
        if not card.present:
            card = generate_card(self.seed, addr.port, addr.slot)
        card = with_values(
            card, iccid=spec.iccid, imsi=spec.imsi, number=spec.number, operator=spec.operator, balance=spec.balance
        )
        if spec.imei is not None:
            imeis[addr] = spec.imei
        if spec.price is not None:
            self.world.set_price(addr, spec.price)
        self.world.set_outcome(addr, int(PortState.REGISTER_FAILED) if spec.fail else None)
        return card

    async def attach(self, gw: DriverHost) -> None:
        await self.world.load(s.record for s in gw.device.slots())

        def holder(digits: str) -> PortAddress | None:
            slot = gw.device.slot_by_number(digits)
            return slot.address if slot is not None else None

        self.modems.directory = holder
        self.ussd.load()

        def view(port: int) -> ModuleView:
            slot = gw.device.port(port).active
            r = slot.record
            return ModuleView(
                r.imei, r.present, r.iccid, r.imsi, r.operator, slot.state, gw.device.signal(port), r.number
            )

        self.modems.module_view = view
        assert self.modems.events is not None
        self.traffic = TrafficGenerator(gw.device, self.modems.events, self.clock, self.settings.traffic, self.seed)
        self.calls = CallSimulator(gw.device, gw.store, self.clock, self.settings.calls, self.seed)
        self.euicc = SimulatedEuicc(gw.device, self.world, self.clock, self.timing, self.seed)

    def start(self) -> None:
        assert self.traffic is not None
        self.traffic.start()
        self.calls.start()

    async def stop(self) -> None:
        if self.euicc is not None:
            self.euicc.stop()
        await self.calls.stop()
        if self.traffic is not None:
            self.traffic.stop()


def create(config: GatewayConfig, clock: Clock, store: Store) -> SimulatedNetwork:
    return SimulatedNetwork(config, clock, store)


def _routes_drive_it(net: SimulatedNetwork) -> SimControl:
    return net  # mypy checks here that the /sim/* routes' view (routes.SimControl) is what the network has
