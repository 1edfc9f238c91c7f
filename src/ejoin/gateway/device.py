"""The device: ports with their slots, and the SIM state machine.

State (the 0-16 codes) is derived by this module alone, along the transitions
sim_states.py allows (a move it does not allow is refused: see there); every change of a slot
bumps the slot's ``seq``, is written to the store and announced to listeners
(the status reporter turns that into a port-status push).  Transitions that take
time (card detection, registration, module restart) run in one task per port
on the injected clock; a new command on the port cancels the running one, as a
module would abandon a registration when told to switch.

The device keeps what it learns of cards in its records: the driver answers
with values (``CardInfo``) and the device writes them.  Signals are read from
the driver every ``signal_period`` and cached for the status.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar

from ..clock import Clock, Timer
from ..modems.base import CardInfo, ModemDriver, module_failure
from ..protocol.codes import PortState
from ..protocol.ports import DeviceSize, PortAddress, PortNameStyle
from ..store.base import PortRecord, SlotRecord, Store
from .sim_states import StateRefused, can_follow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeviceIdentity:
    mac: str
    ip: str
    sw_ver: str


class Slot:
    __slots__ = ("record", "state", "name")

    def __init__(self, record: SlotRecord, name: str) -> None:
        self.record = record
        self.state = PortState.NO_SIM
        self.name = name  # as emitted on the wire ("1.01" or "1A")

    @property
    def address(self) -> PortAddress:
        return PortAddress(self.record.port, self.record.slot)

    @property
    def present(self) -> bool:
        return self.record.present


class Port:
    __slots__ = ("number", "record", "slots", "task")

    def __init__(self, record: PortRecord, slots: list[Slot]) -> None:
        self.number = record.port
        self.record = record
        self.slots = slots
        self.task: asyncio.Task | None = None

    @property
    def active(self) -> Slot:
        return self.slots[self.record.active_slot - 1]


SlotListener = Callable[[Slot], None]
# Registered, and something more the module's registration does not know of: kept when it says "registered".
_REGISTERED_AND_MORE = (
    PortState.CALL_CONNECTED,
    PortState.NO_BALANCE,
    PortState.INTER_CALLING,
    PortState.INTER_CALLING_HOLDING,
)


def _card_part(r: SlotRecord) -> tuple:
    return (
        r.present,
        r.iccid,
        r.imsi,
        r.number,
        r.operator,
        r.balance,
        r.imei,
        r.esim,
        r.esim_ac,
        r.esim_cc,
        r.esim_provider,
    )


def write_card(record: SlotRecord, card: CardInfo) -> bool:
    """Write what was read of a slot's card into its record; True if anything changed."""
    before = _card_part(record)
    another = card.iccid != record.iccid and bool(card.iccid and record.iccid)
    record.present = card.present
    record.iccid, record.imsi, record.number, record.operator = card.iccid, card.imsi, card.number, card.operator
    if not card.present:
        record.balance = 0.0
    elif card.balance is not None:
        record.balance = card.balance
    elif another:
        record.balance = None  # another card: the balance read of the one before is not its own
    if card.imei:
        record.imei = card.imei  # the module's own, as it says it
    record.esim, record.esim_ac, record.esim_cc = card.esim, card.esim_ac, card.esim_cc
    record.esim_provider = card.esim_provider
    return _card_part(record) != before


class Device:
    # True in tests (tests/conftest.py): a move sim_states.py does not allow raises StateRefused.
    # In production it is logged as an error and the slot keeps its state.
    strict_states: ClassVar[bool] = False

    def __init__(
        self,
        size: DeviceSize,
        identity: DeviceIdentity,
        clock: Clock,
        store: Store,
        driver: ModemDriver,
        name_style: PortNameStyle = PortNameStyle.DOTTED,
    ) -> None:
        self.size = size
        self.identity = identity
        self.clock = clock
        self.store = store
        self.driver = driver
        self.name_style = name_style
        self.ports: list[Port] = []
        self._listeners: list[SlotListener] = []
        self._running = False
        self._by_number: dict[str, Slot] | None = None  # rebuilt after any change
        self._signals: dict[int, int] = {}  # port -> last signal read from its module
        self._signal_timer: Timer | None = None
        self._lost: set[int] = set()  # ports whose module stopped answering

    # --- life cycle ----------------------------------------------------------

    def attach(self, slots: Iterable[SlotRecord], ports: Iterable[PortRecord]) -> None:
        """Take the inventory (from the store, completed by the generator)."""
        by_addr = {(r.port, r.slot): r for r in slots}
        port_recs = {r.port: r for r in ports}
        self.ports = []
        for p in range(1, self.size.ports + 1):
            prec = port_recs.get(p) or PortRecord(port=p)
            if not 1 <= prec.active_slot <= self.size.slots:
                prec.active_slot = 1
            port = Port(
                prec,
                [Slot(by_addr[(p, s)], PortAddress(p, s).name(self.name_style)) for s in range(1, self.size.slots + 1)],
            )
            # Power-on state, not a change: only what happens from here on is announced.
            for slot in port.slots:
                slot.state = self._idle_state(slot)
            self.ports.append(port)

    def add_listener(self, listener: SlotListener) -> None:
        self._listeners.append(listener)

    def start(self) -> None:
        """Power on: every port reads its active card and registers."""
        self._running = True
        for port in self.ports:
            self._bring_up(port, restart=False)
        self._schedule_signal_reads()

    async def stop(self) -> None:
        self._running = False
        if self._signal_timer is not None:
            self._signal_timer.cancel()
            self._signal_timer = None
        tasks = [p.task for p in self.ports if p.task is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- lookups ---------------------------------------------------------------

    def port(self, number: int) -> Port:
        return self.ports[number - 1]

    def slot(self, addr: PortAddress) -> Slot:
        port = self.port(addr.port)
        return port.active if addr.slot is None else port.slots[addr.slot - 1]

    def slots(self) -> Iterable[Slot]:
        for port in self.ports:
            yield from port.slots

    def is_active(self, slot: Slot) -> bool:
        return self.port(slot.record.port).record.active_slot == slot.record.slot

    def name(self, addr: PortAddress) -> str:
        return addr.name(self.name_style)

    def signal(self, port: int) -> int:
        """The module's signal as last read (0 before the first read)."""
        return self._signals.get(port, 0)

    async def read_signal(self, port: int, *, announce: bool = False) -> None:
        """Read the module's signal now; ``announce``: push the port's state even if it did not change."""
        try:
            self._signals[port] = await self.driver.signal(port)
        except Exception as exc:
            log.warning("port %d: the module did not tell its signal: %s", port, exc, exc_info=not module_failure(exc))
        if announce:
            self._changed(self.port(port).active)

    async def read_signals(self) -> None:
        """Every answering module at once (each may take a round trip to its module)."""
        await asyncio.gather(*(self.read_signal(p.number) for p in self.ports if p.number not in self._lost))

    def _schedule_signal_reads(self) -> None:
        # At whole multiples of the period, so every port is read at the same moment.
        period = self.driver.signal_period
        delay = period - self.clock.time() % period
        self._signal_timer = self.clock.call_later(delay, self._read_signals_now)

    def _read_signals_now(self) -> None:
        task = asyncio.get_running_loop().create_task(self.read_signals(), name="signal reads")
        task.add_done_callback(lambda t: None if t.cancelled() else t.exception())
        if self._running:
            self._schedule_signal_reads()

    # --- changes -------------------------------------------------------------

    def slot_by_number(self, digits: str) -> Slot | None:
        """The slot holding a SIM with this number (digits only), if any."""
        if self._by_number is None:
            self._by_number = {}
            for s in self.slots():
                if s.present and s.record.number:
                    self._by_number["".join(c for c in s.record.number if c.isdigit())] = s
        return self._by_number.get(digits)

    def set_state(self, slot: Slot, state: PortState) -> None:
        """Move the slot to ``state`` if sim_states.py allows it (else: refused, see there)."""
        self._set_state(slot, state)

    def may_become(self, slot: Slot, state: PortState) -> bool:
        """Whether the slot may move to ``state`` now: for reports that may come too late (a result of
        work the slot was doing before a lock or a switch)."""
        return can_follow(slot.state, state)

    def _changed(self, slot: Slot) -> None:
        self._by_number = None
        slot.record.seq += 1
        self.store.save_slot(slot.record)
        for listener in self._listeners:
            try:
                listener(slot)
            except Exception:
                log.exception("a slot listener failed")

    def _set_state(self, slot: Slot, state: PortState) -> None:
        if slot.state == state:
            return
        if not can_follow(slot.state, state):
            refused = StateRefused(slot.name, slot.state, state)
            log.error("%s; kept", refused, extra={"state_refused": refused})
            if self.strict_states:
                raise refused
            return
        slot.state = state
        self._changed(slot)

    def _touch(self, slot: Slot, state: PortState) -> None:
        """A change of the slot's data: announced once, whether or not the state moved."""
        if slot.state != state:
            self._set_state(slot, state)
        else:
            self._changed(slot)

    def _learnt(self, slot: Slot, state: PortState, data_changed: bool) -> None:
        """After a card was read: the new state, announced also when only the card's data changed."""
        if data_changed:
            self._touch(slot, state)
        else:
            self._set_state(slot, state)

    def _save_port(self, port: Port) -> None:
        self.store.save_port(port.record)

    def _idle_state(self, slot: Slot) -> PortState:
        if slot.record.locked:
            return PortState.USER_LOCKED
        return PortState.IDLE_SIM if slot.present else PortState.NO_SIM

    def _bring_up(self, port: Port, *, restart: bool) -> None:
        """(Re)start the port's module work on its active slot."""
        if port.task is not None and not port.task.done():
            port.task.cancel()
        for slot in port.slots:
            if slot is not port.active:
                self._set_state(slot, self._idle_state(slot))
        if not self._running:
            return
        if port.number in self._lost:  # module_back brings it up
            locked = port.active.record.locked
            self._set_state(port.active, PortState.USER_LOCKED if locked else PortState.MODULE_TIMEOUT)
            return
        port.task = asyncio.get_running_loop().create_task(self._run_port(port, restart), name=f"port {port.number}")

    async def _run_port(self, port: Port, restart: bool) -> None:
        slot = port.active
        try:
            if slot.record.locked:
                self._set_state(slot, PortState.USER_LOCKED)
                return
            if restart:
                self._set_state(slot, PortState.ACCESS_NETWORK if slot.present else PortState.NO_SIM)
                await self.driver.restart_module(port.number)
            if slot.present:  # known from before: shown while the card is read
                self._set_state(slot, PortState.CARD_DETECTED)
            card = await self.driver.detect_card(port.number, slot.record.slot)
            changed = write_card(slot.record, card)
            if not card.present or card.error:
                self._learnt(slot, PortState.SIM_ERROR if card.present else PortState.NO_SIM, changed)
                return
            self._learnt(slot, PortState.CARD_DETECTED, changed)
            if card.waiting:  # for a PIN, or the SIM is busy: the driver says when it is ready
                return
            self._set_state(slot, PortState.REGISTERING)
            outcome = await self.driver.register(port.number, slot.record.slot)
            self._set_state(slot, outcome)
        except (asyncio.CancelledError, StateRefused):
            raise  # a refused move is this module's bug, not the module failing
        except Exception as exc:
            expected = module_failure(exc)  # a lost or silent module is one line; a bug has its traceback
            level = logging.WARNING if expected else logging.ERROR
            log.log(level, "port %d: module failed: %s", port.number, exc, exc_info=not expected)
            self._set_state(slot, PortState.MODULE_TIMEOUT)

    # --- commands (spec 5) ---------------------------------------------------

    def lock(self, addrs: Iterable[PortAddress]) -> None:
        self._set_lock(addrs, True)

    def unlock(self, addrs: Iterable[PortAddress]) -> None:
        self._set_lock(addrs, False)

    def _set_lock(self, addrs: Iterable[PortAddress], locked: bool) -> None:
        for addr in addrs:
            port = self.port(addr.port)
            targets = port.slots if addr.slot is None else [port.slots[addr.slot - 1]]
            touched_active = False
            for slot in targets:
                if slot.record.locked == locked:
                    continue
                slot.record.locked = locked
                if slot is port.active:
                    touched_active = True
                else:
                    self._set_state(slot, self._idle_state(slot))
            if touched_active:
                if locked:
                    if port.task is not None:
                        port.task.cancel()
                    self._set_state(port.active, PortState.USER_LOCKED)
                else:
                    self._bring_up(port, restart=False)

    def switch(self, addrs: Iterable[PortAddress]) -> None:
        """Change active slots; callers check ``driver.can_switch_slots`` first (commands.plan does)."""
        for addr in addrs:
            port = self.port(addr.port)
            target = addr.slot if addr.slot is not None else self._next_slot(port)
            if target == port.record.active_slot:
                continue
            old, new = port.active, port.slots[target - 1]
            seqs = (old.record.seq, new.record.seq)
            port.record.active_slot = target
            self._save_port(port)
            self._bring_up(port, restart=False)
            # Both slots' `active` changed: announced even when no state moved (an empty slot stays 0).
            for slot, seq in zip((old, new), seqs, strict=True):
                if slot.record.seq == seq:
                    self._changed(slot)

    def _next_slot(self, port: Port) -> int:
        """For a switch naming only the port: the next slot holding a card, cyclic."""
        n = self.size.slots
        current = port.record.active_slot
        for step in range(1, n + 1):
            candidate = (current - 1 + step) % n + 1
            if port.slots[candidate - 1].present:
                return candidate
        return current % n + 1

    def reset(self, addrs: Iterable[PortAddress]) -> None:
        for number in dict.fromkeys(a.port for a in addrs):
            self._bring_up(self.port(number), restart=True)

    def reboot(self) -> None:
        for port in self.ports:
            self._bring_up(port, restart=True)

    def set_led(self, addrs: Iterable[PortAddress], on: bool) -> None:
        for number in dict.fromkeys(a.port for a in addrs):
            port = self.port(number)
            if port.record.led != on:
                port.record.led = on
                self._save_port(port)
                self._changed(port.active)

    # --- parameters of a slot ----------------------------------------------

    def set_slot_field(self, addr: PortAddress, name: str, value: object) -> None:
        slot = self.slot(addr)
        if getattr(slot.record, name) != value:
            setattr(slot.record, name, value)
            self._changed(slot)

    def announce(self, addr: PortAddress) -> None:
        """Push the slot's state although nothing the device keeps changed (its conditions did)."""
        self._changed(self.slot(addr))

    # --- what the driver reports on its own ------------------------------------

    def card_inserted(self, addr: PortAddress, card: CardInfo) -> None:
        """A card appeared in a slot (hot-swap, an eSIM profile written): the active slot reads and
        registers it; another slot shows it idle."""
        port = self.port(addr.port)
        slot = self.slot(addr)
        write_card(slot.record, card)
        if slot is port.active:
            self._bring_up(port, restart=False)
        else:
            self._touch(slot, self._idle_state(slot))

    def card_removed(self, addr: PortAddress) -> None:
        port = self.port(addr.port)
        slot = self.slot(addr)
        write_card(slot.record, CardInfo(present=False))
        if slot is port.active and port.task is not None:
            port.task.cancel()
        self._touch(slot, self._idle_state(slot))

    def module_lost(self, port_number: int) -> None:
        """The module stopped answering: whatever it was doing is abandoned, its active slot shows 16."""
        port = self.port(port_number)
        self._lost.add(port_number)
        self._signals[port_number] = 0  # nothing heard from it
        if port.task is not None:
            port.task.cancel()
        if not port.active.record.locked:
            self._set_state(port.active, PortState.MODULE_TIMEOUT)

    def module_back(self, port_number: int) -> None:
        """The module answers again: it reads its card anew and registers (15 while it starts over)."""
        if port_number in self._lost:
            self._lost.discard(port_number)
            port = self.port(port_number)
            if not port.active.record.locked:
                self._set_state(port.active, PortState.ACCESS_NETWORK)
            self._bring_up(port, restart=False)

    def module_balance(self, port_number: int, value: float) -> None:
        """The module read its active card's balance."""
        port = self.port(port_number)
        if port.active.present:
            self.set_slot_field(port.active.address, "balance", round(value, 2))

    def module_state(self, port_number: int, state: PortState) -> None:
        """The module says on its own how its active slot stands (see ``ModemEvents.module_state``)."""
        port = self.port(port_number)
        slot = port.active
        if not self._running or port_number in self._lost or slot.record.locked or not slot.present:
            return
        if state in (PortState.CARD_DETECTED, PortState.ACCESS_NETWORK):  # the card is to be read anew
            self._set_state(slot, state)
            self._bring_up(port, restart=False)
        elif port.task is None or port.task.done():  # else the bring-up running ends in what it finds
            if state == PortState.REGISTERED and slot.state in _REGISTERED_AND_MORE:
                return
            self._set_state(slot, state)
