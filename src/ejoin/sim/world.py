"""The simulated network's side of things: what only a simulator knows.

Which card is in which slot (and its balance at the operator), how a slot's
registrations end, what its SMS cost, and signals fixed by ``/sim/signal``.
Cards are remembered through the device's inventory (the device stores what
it detects, and the simulator is the only source of cards), the rest in the
store's driver state, so both survive a restart.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from ..modems.base import NO_CARD, CardInfo
from ..protocol.ports import PortAddress
from ..store.base import SlotRecord, Store

NAME = "simulated"  # the driver state's owner in the store


def card_of(record: SlotRecord) -> CardInfo:
    """The card the device last detected in a slot."""
    if not record.present:
        return NO_CARD
    return CardInfo(
        present=True,
        iccid=record.iccid,
        imsi=record.imsi,
        number=record.number,
        operator=record.operator,
        balance=record.balance,
        esim=record.esim,
        esim_ac=record.esim_ac,
        esim_cc=record.esim_cc,
        esim_provider=record.esim_provider,
    )


def _slot_key(kind: str, addr: PortAddress) -> str:
    return f"{kind}:{addr.port}.{addr.slot}"


class World:
    def __init__(self, store: Store) -> None:
        self._store = store
        self.cards: dict[PortAddress, CardInfo] = {}
        self.outcomes: dict[PortAddress, int] = {}  # the state the next registration ends in
        self.prices: dict[PortAddress, float] = {}  # balance taken per SMS part
        self.fixed_signals: dict[int, int] = {}

    async def load(self, records: Iterable[SlotRecord]) -> None:
        for rec in records:
            self.cards[PortAddress(rec.port, rec.slot)] = card_of(rec)
        state: dict[str, Any] = await self._store.load_driver_state(NAME)
        for key, value in state.items():
            kind, _, where = key.partition(":")
            if kind == "signal":
                self.fixed_signals[int(where)] = int(value)
                continue
            port, _, slot = where.partition(".")
            addr = PortAddress(int(port), int(slot))
            if kind == "outcome":
                self.outcomes[addr] = int(value)
            elif kind == "price":
                self.prices[addr] = float(value)

    def card(self, addr: PortAddress) -> CardInfo:
        return self.cards.get(addr, NO_CARD)

    def put_card(self, addr: PortAddress, card: CardInfo) -> None:
        self.cards[addr] = card

    def take_card(self, addr: PortAddress) -> None:
        self.cards[addr] = NO_CARD
        self.set_outcome(addr, None)

    def set_balance(self, addr: PortAddress, balance: float) -> None:
        card = self.card(addr)
        if card.present:
            self.cards[addr] = dataclasses.replace(card, balance=balance)

    def set_outcome(self, addr: PortAddress, outcome: int | None) -> None:
        if outcome is None:
            if self.outcomes.pop(addr, None) is not None:
                self._store.save_driver_state(NAME, _slot_key("outcome", addr), None)
        else:
            self.outcomes[addr] = outcome
            self._store.save_driver_state(NAME, _slot_key("outcome", addr), outcome)

    def price(self, addr: PortAddress) -> float:
        return self.prices.get(addr, 0.0)

    def set_price(self, addr: PortAddress, price: float) -> None:
        self.prices[addr] = price
        self._store.save_driver_state(NAME, _slot_key("price", addr), price or None)

    def fix_signal(self, port: int, value: int | None) -> None:
        if value is None:
            self.fixed_signals.pop(port, None)
        else:
            self.fixed_signals[port] = value
        self._store.save_driver_state(NAME, f"signal:{port}", value)
