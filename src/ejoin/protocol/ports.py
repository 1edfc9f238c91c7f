"""Port and slot notation.

Every notation seen in the wild is accepted wherever a port is taken
(DECISIONS.md "Addressing ports and slots"): whole ports (``1``, ``"1"``),
ranges and lists (``"4-32"``, ``"1,2,4-6"``), slots in letter form (``"1A"``)
or dotted form (``"1.01"``, ``"1.1"``), and ``"all"``/``"*"``.  We emit the
dotted form with two-digit slots, or the letter form for old clients.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "PortAddress",
    "PortSpecError",
    "PortNameStyle",
    "DeviceSize",
    "parse_port_spec",
    "parse_number_list",
    "array_index",
    "address_of_index",
]


class PortSpecError(ValueError):
    """A port notation that cannot be parsed or is outside the device."""


class PortNameStyle(StrEnum):
    DOTTED = "dotted"  # "1.01" (v2.4.0 devices)
    LETTER = "letter"  # "1A" (v2.1.0 devices)


@dataclass(frozen=True, slots=True)
class DeviceSize:
    ports: int
    slots: int

    def __post_init__(self) -> None:
        if not 1 <= self.ports <= 256:
            raise ValueError(f"a device has 1 to 256 ports, not {self.ports}")
        if not 1 <= self.slots <= 32:
            raise ValueError(f"a port has 1 to 32 slots, not {self.slots}")


@dataclass(frozen=True, slots=True, order=True)
class PortAddress:
    """A whole port (``slot is None``) or one slot of a port, both from 1."""

    port: int
    slot: int | None = None

    @classmethod
    def parse(cls, text: str | int, size: DeviceSize | None = None) -> PortAddress:
        """Parse exactly one port or slot ("1", "1A", "1.01")."""
        items = parse_port_spec(text, size) if size else _parse_items(text, None)
        if len(items) != 1:
            raise PortSpecError(f"{text!r} names {len(items)} ports, expected one")
        return items[0]

    @property
    def dotted(self) -> str:
        if self.slot is None:
            return str(self.port)
        return f"{self.port}.{self.slot:02d}"

    @property
    def letter(self) -> str:
        if self.slot is None:
            return str(self.port)
        if self.slot > 26:
            # Letters stop at Z; past that only the dotted form can say it.
            return self.dotted
        return f"{self.port}{chr(ord('A') + self.slot - 1)}"

    def name(self, style: PortNameStyle = PortNameStyle.DOTTED) -> str:
        return self.letter if style is PortNameStyle.LETTER else self.dotted

    def with_slot(self, slot: int) -> PortAddress:
        return PortAddress(self.port, slot)

    def __str__(self) -> str:
        return self.dotted


_WHOLE = re.compile(r"^(\d{1,3})$")
_RANGE = re.compile(r"^(\d{1,3})\s*-\s*(\d{1,3})$")
_LETTER = re.compile(r"^(\d{1,3})([A-Za-z])$")
_DOTTED = re.compile(r"^(\d{1,3})\.(\d{1,2})$")
_MAX_TOKENS = 4096


def _check(addr: PortAddress, size: DeviceSize | None, token: str) -> PortAddress:
    if addr.port < 1:
        raise PortSpecError(f"{token!r}: ports are numbered from 1")
    if addr.slot is not None and addr.slot < 1:
        raise PortSpecError(f"{token!r}: slots are numbered from 1")
    if size is not None:
        if addr.port > size.ports:
            raise PortSpecError(f"{token!r}: port {addr.port} does not exist (the device has {size.ports} ports)")
        if addr.slot is not None and addr.slot > size.slots:
            raise PortSpecError(f"{token!r}: slot {addr.slot} does not exist (each port has {size.slots} slots)")
    return addr


def _parse_items(spec: str | int, size: DeviceSize | None) -> list[PortAddress]:
    if isinstance(spec, bool):
        raise PortSpecError(f"{spec!r} is not a port")
    if isinstance(spec, int):
        return [_check(PortAddress(spec), size, str(spec))]
    if not isinstance(spec, str):
        raise PortSpecError(f"a port is a string or an integer, not {type(spec).__name__}")
    text = spec.strip()
    if not text:
        raise PortSpecError("no port given")
    tokens = text.split(",")
    if len(tokens) > _MAX_TOKENS:
        raise PortSpecError(f"too many port items ({len(tokens)}, at most {_MAX_TOKENS})")
    out: list[PortAddress] = []
    seen: set[PortAddress] = set()

    def add(addr: PortAddress) -> None:
        if addr not in seen:
            seen.add(addr)
            out.append(addr)

    for raw in tokens:
        token = raw.strip()
        if token.lower() in ("all", "*"):
            if size is None:
                raise PortSpecError("'all' needs a device to expand against")
            for p in range(1, size.ports + 1):
                add(PortAddress(p))
            continue
        if m := _WHOLE.match(token):
            add(_check(PortAddress(int(m[1])), size, token))
        elif m := _RANGE.match(token):
            lo, hi = int(m[1]), int(m[2])
            if lo > hi:
                raise PortSpecError(f"{token!r}: a range goes from low to high")
            _check(PortAddress(lo), size, token)
            _check(PortAddress(hi), size, token)
            for p in range(lo, hi + 1):
                add(PortAddress(p))
        elif m := _LETTER.match(token):
            slot = ord(m[2].upper()) - ord("A") + 1
            add(_check(PortAddress(int(m[1]), slot), size, token))
        elif m := _DOTTED.match(token):
            add(_check(PortAddress(int(m[1]), int(m[2])), size, token))
        else:
            shown = token if len(token) <= 40 else token[:40] + "..."
            raise PortSpecError(f"{shown!r} is not a port; use 1, 1-4, 1A, 1.01 or all")
    return out


def parse_port_spec(spec: str | int, size: DeviceSize) -> list[PortAddress]:
    """Expand a port notation into addresses, in the order given, without duplicates."""
    return _parse_items(spec, size)


def parse_number_list(spec: str | int | None, upper: int, what: str = "port") -> list[int] | None:
    """Parse ``all``/``1``/``1-2,4`` into sorted numbers in 1..upper (None: all).

    Used for statistics and eSIM selectors where only plain numbers are valid.
    """
    if spec is None:
        return None
    if isinstance(spec, bool):
        raise PortSpecError(f"{spec!r} is not a {what} list")
    if isinstance(spec, int):
        spec = str(spec)
    text = spec.strip()
    if text == "" or text.lower() in ("all", "*"):
        return None
    numbers: set[int] = set()
    for raw in text.split(","):
        token = raw.strip()
        if m := _WHOLE.match(token):
            lo = hi = int(m[1])
        elif m := _RANGE.match(token):
            lo, hi = int(m[1]), int(m[2])
        else:
            raise PortSpecError(f"{token!r} is not a {what} number or range")
        if lo > hi:
            raise PortSpecError(f"{token!r}: a range goes from low to high")
        if lo < 1 or hi > upper:
            raise PortSpecError(f"{token!r}: {what}s are numbered 1 to {upper}")
        numbers.update(range(lo, hi + 1))
    return sorted(numbers)


def array_index(addr: PortAddress, size: DeviceSize) -> int:
    """The index of a slot in array parameters: ``(port-1)*max_slots + (slot-1)``."""
    if addr.slot is None:
        raise PortSpecError(f"{addr} names a whole port, not a slot")
    return (addr.port - 1) * size.slots + (addr.slot - 1)


def address_of_index(index: int, size: DeviceSize) -> PortAddress:
    if not 0 <= index < size.ports * size.slots:
        raise PortSpecError(
            f"index {index} is outside 0..{size.ports * size.slots - 1} ({size.ports} ports x {size.slots} slots)"
        )
    return PortAddress(index // size.slots + 1, index % size.slots + 1)


def all_slots(size: DeviceSize) -> Iterable[PortAddress]:
    for p in range(1, size.ports + 1):
        for s in range(1, size.slots + 1):
            yield PortAddress(p, s)
