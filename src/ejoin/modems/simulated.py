"""The simulated GSM network: modules that register in simulated time.

Everything is deterministic from the seed: the generated SIMs, registration
durations and the signal's drift, so a platform's test sees the same device
every run.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass

from ..gateway.clock import Clock
from ..gateway.config import SimSpec, Timing
from ..protocol.codes import PortState
from ..protocol.ports import DeviceSize, PortAddress, PortSpecError
from ..protocol.text import Segmented
from ..store.base import SlotRecord
from .base import ModemDriver, SendResult

# Carrier answers of the simulated network (RP-cause numbers of 3GPP 24.011).
REJECTED = "21 Short message transfer rejected"
OUT_OF_ORDER = "38 Network out of order"
NO_CREDIT = "42 Insufficient balance"

SMSC = "+10000000000"  # the simulated network's service centre
DELIVERED, NOT_DELIVERED = 0, 64  # TP-Status: delivered / permanent error


@dataclass(frozen=True)
class Operator:
    plmn: str
    name: str
    iccid_prefix: str  # 89 + country code + issuer
    number_prefix: str


OPERATORS = (
    Operator("46001", "CHINA UNICOM GSM", "898601", "1301"),
    Operator("46000", "CHINA MOBILE", "898600", "1390"),
    Operator("310260", "T-Mobile US", "8901260", "1206"),
    Operator("23410", "O2 UK", "894410", "4477"),
)


def luhn_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def _rng(seed: int, *parts: object) -> random.Random:
    key = ":".join(str(p) for p in (seed, *parts)).encode()
    return random.Random(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))


def generate_imei(seed: int, port: int, slot: int) -> str:
    r = _rng(seed, "imei", port, slot)
    body = "86" + "".join(str(r.randrange(10)) for _ in range(12))
    return body + luhn_digit(body)


def generate_card(seed: int, port: int, slot: int, record: SlotRecord) -> None:
    """Fill a plausible SIM into ``record`` (deterministic per seed and slot)."""
    r = _rng(seed, "sim", port, slot)
    op = OPERATORS[r.randrange(len(OPERATORS))]
    iccid_body = op.iccid_prefix + "".join(str(r.randrange(10)) for _ in range(18 - len(op.iccid_prefix)))
    record.present = True
    record.iccid = iccid_body + luhn_digit(iccid_body)
    msin_len = 15 - len(op.plmn)
    record.imsi = op.plmn + "".join(str(r.randrange(10)) for _ in range(msin_len))
    record.number = op.number_prefix + "".join(str(r.randrange(10)) for _ in range(7))
    record.operator = f"{op.plmn} {op.name}"
    record.balance = round(r.uniform(1, 100), 2)


def generate_slot(seed: int, port: int, slot: int, sim_fill: float) -> SlotRecord:
    record = SlotRecord(port=port, slot=slot, imei=generate_imei(seed, port, slot))
    if _rng(seed, "fill", port, slot).random() < sim_fill:
        generate_card(seed, port, slot, record)
    return record


def apply_sim_spec(spec: SimSpec, size: DeviceSize, seed: int, records: dict[PortAddress, SlotRecord]) -> None:
    addr = PortAddress.parse(spec.port, size)
    if addr.slot is None:
        raise PortSpecError(f"[[sim]] port {spec.port!r} must name a slot, like 1.02")
    record = records[addr]
    if spec.empty:
        record.present = False
        record.iccid = record.imsi = record.number = record.operator = ""
        record.balance = 0.0
        return
    if not record.present:
        generate_card(seed, addr.port, addr.slot, record)
    for name in ("iccid", "imsi", "number", "operator", "balance", "imei", "price"):
        value = getattr(spec, name)
        if value is not None:
            setattr(record, name, value)
    record.reg_outcome = int(PortState.REGISTER_FAILED) if spec.fail else None


def normalize_number(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())


class SimulatedModems(ModemDriver):
    """Deterministic outcomes: numbers starting 999 are rejected by the carrier,
    998 never answer (the task's tmo applies), 997 fail delivery reports
    (receiving); the rest succeed, but for ``failure_rate`` at random.  An SMS
    to the number of a SIM of this network arrives there (loopback)."""

    def __init__(self, clock: Clock, timing: Timing, seed: int, failure_rate: float = 0.0) -> None:
        self._clock = clock
        self._timing = timing
        self._seed = seed
        self._failure_rate = failure_rate
        self._send_rng = _rng(seed, "send")
        self._attempts: dict[int, int] = {}
        self._ref = 0
        # who holds a number (set by the gateway)
        self.directory: Callable[[str], PortAddress | None] = lambda number: None
        self._signal: dict[int, tuple[int, int]] = {}  # port -> (bucket, value)

    async def restart_module(self, port: int) -> None:
        await self._clock.sleep(self._timing.module_restart)

    async def detect_card(self, port: int, slot: SlotRecord) -> bool:
        await self._clock.sleep(self._timing.card_detect)
        return slot.present

    async def register(self, port: int, slot: SlotRecord) -> PortState:
        attempt = self._attempts.get(port, 0) + 1
        self._attempts[port] = attempt
        t = self._timing
        r = _rng(self._seed, "register", port, attempt)
        await self._clock.sleep(r.uniform(t.register_min, t.register_max))
        if slot.reg_outcome is not None:
            return PortState(slot.reg_outcome)
        return PortState.REGISTERED

    async def send_sms(
        self, port: int, slot: SlotRecord, number: str, text: Segmented, smsc: str, report: bool = False
    ) -> SendResult:
        t = self._timing
        rng = self._send_rng
        delay = rng.uniform(t.send_min, t.send_max) if t.send_max > 0 else 0.0
        fails_at_random = self._failure_rate > 0 and rng.random() < self._failure_rate
        cost = round(slot.price * text.count, 2)
        if cost and slot.balance < cost:
            return SendResult(False, NO_CREDIT, no_balance=True)
        if delay:
            await self._clock.sleep(delay)
        digits = normalize_number(number)
        if digits.startswith("998"):
            await asyncio.get_running_loop().create_future()  # the network never answers
        if digits.startswith("999"):
            return SendResult(False, REJECTED)
        if fails_at_random:
            return SendResult(False, OUT_OF_ORDER)
        target = self.directory(digits)
        if target is not None and self.events is not None:
            self._ref = (self._ref + 1) % 256
            for seq, part in enumerate(text.parts, 1):
                self.events.sms_part(target, slot.number, part, self._clock.time(), self._ref, text.count, seq)
        if report:
            status = NOT_DELIVERED if digits.startswith("997") else DELIVERED
            self._clock.call_later(
                self._timing.delivery, self._report, PortAddress(port, slot.slot), number, status, smsc or SMSC
            )
        return SendResult(True, cost=cost)

    def _report(self, slot: PortAddress, number: str, status: int, smsc: str) -> None:
        if self.events is not None:
            self.events.delivery_report(slot, number, status, self._clock.time(), smsc)

    def signal(self, port: int) -> int:
        # Drifts every 30 s of device time around a per-port level.
        bucket = int(self._clock.time() // 30)
        cached = self._signal.get(port)
        if cached is not None and cached[0] == bucket:
            return cached[1]
        base = _rng(self._seed, "signal", port).randint(14, 28)
        value = max(0, min(31, base + _rng(self._seed, "drift", port, bucket).randint(-3, 3)))
        self._signal[port] = (bucket, value)
        return value
