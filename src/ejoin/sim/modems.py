"""The simulated GSM network's modules: they register, send and report in simulated time.

Everything is deterministic from the seed: registration durations, send
outcomes and the signal's drift, so a platform's test sees the same device
every run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ..clock import Clock
from ..modems.base import CardInfo, ModemDriver, SendResult, UssdReply
from ..protocol.codes import PortState
from ..protocol.ports import PortAddress
from ..protocol.text import Segmented
from . import at
from .cards import rng
from .config import Timing
from .ussd import UssdService
from .world import World

# Carrier answers of the simulated network (RP-cause numbers of 3GPP 24.011).
REJECTED = "21 Short message transfer rejected"
OUT_OF_ORDER = "38 Network out of order"
NO_CREDIT = "42 Insufficient balance"

SMSC = "+10000000000"  # the simulated network's service centre
DELIVERED, NOT_DELIVERED = 0, 64  # TP-Status: delivered / permanent error


def normalize_number(number: str) -> str:
    if number.isascii() and number.isdigit():
        return number  # the usual case: nothing to take out
    return "".join(ch for ch in number if ch.isdigit())


class SimulatedModems(ModemDriver):
    """Deterministic outcomes: numbers starting 999 are rejected by the carrier,
    998 never answer (the task's tmo applies), 997 fail delivery reports
    (receiving); the rest succeed, but for ``failure_rate`` at random.  An SMS
    to the number of a SIM of this network arrives there (loopback)."""

    def __init__(self, clock: Clock, timing: Timing, seed: int, world: World, failure_rate: float = 0.0) -> None:
        self._clock = clock
        self._timing = timing
        self._seed = seed
        self._world = world
        self._failure_rate = failure_rate
        self._send_rng = rng(seed, "send")
        self._attempts: dict[int, int] = {}
        self._ref = 0  # concatenation reference of loopback SMS
        self._mr: dict[int, int] = {}  # port -> last TP-MR
        # who holds a number (set when the network is attached to a device)
        self.directory: Callable[[str], PortAddress | None] = lambda number: None
        self._signal: dict[int, tuple[int, int]] = {}  # port -> (bucket, value)
        self._selected: dict[int, int] = {}  # port -> the slot its module last read
        self.ussd_service: UssdService | None = None  # set with the network
        # the port as the device shows it (set when the network is attached to a device)
        self.module_view: Callable[[int], at.ModuleView] | None = None
        self._memory: dict[int, at.ModuleMemory] = {}  # what each module keeps between AT lines (SIM channels)

    async def _no_answer(self, timeout: float) -> None:
        await self._clock.sleep(timeout)
        raise TimeoutError

    async def restart_module(self, port: int) -> None:
        if self.ussd_service is not None:
            self.ussd_service.cancel(port)
        await self._clock.sleep(self._timing.module_restart)

    async def detect_card(self, port: int, slot: int) -> CardInfo:
        self._selected[port] = slot
        if self.ussd_service is not None:
            self.ussd_service.cancel(port)  # a session belongs to the card that opened it
        card = self._world.card(PortAddress(port, slot))
        if card.present:
            await self._clock.sleep(self._timing.card_detect)
        return card

    async def register(self, port: int, slot: int) -> PortState:
        attempt = self._attempts.get(port, 0) + 1
        self._attempts[port] = attempt
        t = self._timing
        r = rng(self._seed, "register", port, attempt)
        await self._clock.sleep(r.uniform(t.register_min, t.register_max))
        outcome = self._world.outcomes.get(PortAddress(port, slot))
        return PortState(outcome) if outcome is not None else PortState.REGISTERED

    async def send_sms(
        self, port: int, slot: int, number: str, text: Segmented, smsc: str, report: bool = False
    ) -> SendResult:
        t = self._timing
        r = self._send_rng
        addr = PortAddress(port, slot)
        delay = r.uniform(t.send_min, t.send_max) if t.send_max > 0 else 0.0
        fails_at_random = self._failure_rate > 0 and r.random() < self._failure_rate
        card = self._world.card(addr)
        balance = card.balance or 0.0
        cost = round(self._world.price(addr) * text.count, 2)
        if cost and balance < cost:
            return SendResult(False, NO_CREDIT, no_balance=True)
        if delay:
            await self._clock.sleep(delay)
        digits = normalize_number(number)
        if digits.startswith("998"):
            await asyncio.get_running_loop().create_future()  # the network never answers
        if digits.startswith("999"):
            return SendResult(False, REJECTED, recipient_refused=True)
        if fails_at_random:
            return SendResult(False, OUT_OF_ORDER)
        if cost:
            self._world.set_balance(addr, round(balance - cost, 2))
        target = self.directory(digits)
        if target is not None and self.events is not None:
            self._ref = (self._ref + 1) % 256
            for seq, part in enumerate(text.parts, 1):
                self.events.sms_part(target, card.number, part, self._clock.time(), self._ref, text.count, seq)
        refs = tuple(self._next_mr(port) for _ in range(text.count))
        if report:
            status = NOT_DELIVERED if digits.startswith("997") else DELIVERED
            self._clock.call_later(self._timing.delivery, self._report, port, refs, number, status, smsc or SMSC)
        return SendResult(True, cost=cost, refs=refs)

    def _next_mr(self, port: int) -> int:
        self._mr[port] = (self._mr.get(port, -1) + 1) % 256
        return self._mr[port]

    def _report(self, port: int, refs: tuple[int, ...], number: str, status: int, smsc: str) -> None:
        if self.events is not None:
            for ref in refs:  # one report per part, as networks send them
                self.events.delivery_report(port, ref, number, status, self._clock.time(), smsc)

    async def signal(self, port: int) -> int:
        fixed = self._world.fixed_signals.get(port)
        if fixed is not None:
            return fixed
        # Drifts every 30 s of device time around a per-port level.
        bucket = int(self._clock.time() // 30)
        cached = self._signal.get(port)
        if cached is not None and cached[0] == bucket:
            return cached[1]
        base = rng(self._seed, "signal", port).randint(14, 28)
        value = max(0, min(31, base + rng(self._seed, "drift", port, bucket).randint(-3, 3)))
        self._signal[port] = (bucket, value)
        return value

    async def ussd(self, port: int, code: str, timeout: float) -> UssdReply:
        if self.ussd_service is None:
            raise NotImplementedError("this network has no USSD service")
        delay, reply = self.ussd_service.answer(PortAddress(port, self._selected.get(port, 1)), code)
        if delay > timeout:
            self.ussd_service.cancel(port)  # the network gives up on the session too
            await self._no_answer(timeout)
        if delay:
            await self._clock.sleep(delay)
        return reply

    async def ussd_cancel(self, port: int) -> None:
        if self.ussd_service is not None:
            self.ussd_service.cancel(port)

    async def at_command(self, port: int, line: str, timeout: float) -> str:
        if self.module_view is None:
            raise NotImplementedError("this module is not attached to a device")
        view = self.module_view(port)
        if view.state == PortState.MODULE_TIMEOUT:  # the module stopped answering
            await self._no_answer(timeout)
        return at.answer(line, view, self._memory.setdefault(port, at.ModuleMemory()))
