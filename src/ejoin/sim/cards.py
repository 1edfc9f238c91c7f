"""Generated SIMs and module IMEIs: plausible, and deterministic per seed and slot."""

from __future__ import annotations

import dataclasses
import hashlib
import random
from dataclasses import dataclass

from ..modems.base import NO_CARD, CardInfo


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


def rng(seed: int, *parts: object) -> random.Random:
    key = ":".join(str(p) for p in (seed, *parts)).encode()
    return random.Random(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))


def generate_imei(seed: int, port: int, slot: int) -> str:
    r = rng(seed, "imei", port, slot)
    body = "86" + "".join(str(r.randrange(10)) for _ in range(12))
    return body + luhn_digit(body)


def generate_card(seed: int, port: int, slot: int) -> CardInfo:
    """A plausible SIM for this slot (the same one for the same seed)."""
    r = rng(seed, "sim", port, slot)
    op = OPERATORS[r.randrange(len(OPERATORS))]
    iccid_body = op.iccid_prefix + "".join(str(r.randrange(10)) for _ in range(18 - len(op.iccid_prefix)))
    msin_len = 15 - len(op.plmn)
    return CardInfo(
        present=True,
        iccid=iccid_body + luhn_digit(iccid_body),
        imsi=op.plmn + "".join(str(r.randrange(10)) for _ in range(msin_len)),
        number=op.number_prefix + "".join(str(r.randrange(10)) for _ in range(7)),
        operator=f"{op.plmn} {op.name}",
        balance=round(r.uniform(1, 100), 2),
    )


def generate_slot_card(seed: int, port: int, slot: int, sim_fill: float) -> CardInfo:
    """The card a generated device has in this slot (``sim_fill``: the share of slots holding one)."""
    if rng(seed, "fill", port, slot).random() < sim_fill:
        return generate_card(seed, port, slot)
    return NO_CARD


def with_values(card: CardInfo, **values: object) -> CardInfo:
    """``card`` with the values given (None: keep the card's)."""
    return dataclasses.replace(card, **{k: v for k, v in values.items() if v is not None})
