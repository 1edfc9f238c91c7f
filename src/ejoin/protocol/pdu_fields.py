"""The fields an SMS TPDU is made of (3GPP TS 23.040 / 23.038): pure codecs, no message logic.

Septet packing with fill bits, addresses (BCD and alphanumeric), time stamps with their
quarter-hour zone, the validity period, the data coding scheme and the user data header.
``protocol/pdu.py`` assembles them into SMS-SUBMIT, SMS-DELIVER and SMS-STATUS-REPORT.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import IntEnum

from .text import Alphabet, TextError, gsm7_septets, gsm7_text

__all__ = [
    "PduError",
    "Reader",
    "Ton",
    "Address",
    "Concat",
    "Ports",
    "InfoElement",
    "DataCoding",
    "pack_septets",
    "unpack_septets",
    "encode_address",
    "decode_address",
    "encode_smsc",
    "decode_smsc",
    "encode_timestamp",
    "decode_timestamp",
    "encode_relative_validity",
    "decode_relative_validity",
    "decode_enhanced_validity",
    "Dcs",
    "decode_dcs",
    "encode_dcs",
    "alphabet_coding",
    "text_septets",
    "Udh",
    "encode_udh",
    "decode_udh",
]


class PduError(ValueError):
    """A PDU that cannot be read or a message that cannot be encoded; the message says why."""


class Reader:
    """Octets read front to back; running out is a ``PduError`` naming the field, never an IndexError."""

    def __init__(self, data: bytes, name: str = "PDU") -> None:
        self.data = data
        self.name = name
        self.pos = 0

    @property
    def left(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int, what: str) -> bytes:
        if n > self.left:
            raise PduError(f"the {self.name} ends inside the {what} ({self.left} of {n} bytes there)")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def byte(self, what: str) -> int:
        return self.take(1, what)[0]


# --- GSM-7 septet packing --------------------------------------------------------------------------


def pack_septets(septets: bytes, fill_bits: int = 0) -> bytes:
    """Septets packed low bit first (TS 23.038 6.1.2.1.1), after ``fill_bits`` zero bits.

    The fill bits align the text to a septet boundary after a user data header.
    """
    nbits = fill_bits + 7 * len(septets)
    acc = 0
    for i, s in enumerate(septets):
        acc |= (s & 0x7F) << (fill_bits + 7 * i)
    return acc.to_bytes((nbits + 7) // 8, "little")


def unpack_septets(data: bytes, count: int, fill_bits: int = 0) -> bytes:
    """``count`` septets from packed ``data``, skipping ``fill_bits`` first."""
    if fill_bits + 7 * count > 8 * len(data):
        raise PduError(f"{count} septets do not fit in {len(data)} bytes")
    acc = int.from_bytes(data, "little") >> fill_bits
    return bytes((acc >> (7 * i)) & 0x7F for i in range(count))


# --- addresses -------------------------------------------------------------------------------------


class Ton(IntEnum):
    """Type of number (TS 23.040 9.1.2.5): bits 6-4 of the type-of-address octet."""

    UNKNOWN = 0
    INTERNATIONAL = 1
    NATIONAL = 2
    NETWORK = 3
    SUBSCRIBER = 4
    ALPHANUMERIC = 5
    ABBREVIATED = 6
    RESERVED = 7


@dataclass(frozen=True, slots=True)
class Address:
    """A decoded address: international numbers carry a leading ``+``, alphanumeric ones are text."""

    value: str
    ton: Ton
    npi: int  # numbering plan: 1 ISDN/E.164 for phone numbers


_BCD = "0123456789*#abc"  # semi-octet values 0-14 (TS 23.040 9.1.2.3); 15 is the filler
_ISDN = 1


def _bcd_encode(digits: str) -> bytes:
    nibbles = [_BCD.index(d) for d in digits]
    if len(nibbles) % 2:
        nibbles.append(0xF)
    return bytes(lo | (hi << 4) for lo, hi in zip(nibbles[::2], nibbles[1::2], strict=True))


def _bcd_decode(data: bytes, count: int) -> str:
    out: list[str] = []
    for b in data:
        for nibble in (b & 0xF, b >> 4):
            if len(out) < count and nibble != 0xF:
                out.append(_BCD[nibble])
    return "".join(out)


def _number(number: str, what: str) -> tuple[Ton, str]:
    digits = number.strip()
    ton = Ton.UNKNOWN
    if digits.startswith("+"):
        ton, digits = Ton.INTERNATIONAL, digits[1:]
    if not digits or any(d not in "0123456789*#" for d in digits):
        raise PduError(f"the {what} {number[:30]!r} is not a phone number (digits, * and # after an optional +)")
    if len(digits) > 20:
        raise PduError(f"the {what} has {len(digits)} digits; an SMS address holds at most 20")
    return ton, digits


def _toa(ton: Ton, npi: int = _ISDN) -> int:
    return 0x80 | (ton << 4) | npi


def encode_address(number: str, what: str = "number") -> bytes:
    """A TP-DA style address: digit count, type of address, swapped BCD digits."""
    ton, digits = _number(number, what)
    return bytes((len(digits), _toa(ton))) + _bcd_encode(digits)


def decode_address(r: Reader, what: str) -> Address:
    """A TP-OA/TP-DA/TP-RA address: its length counts semi-octets (digits, or 7-bit text's nibbles)."""
    nibbles = r.byte(f"{what} length")
    toa = r.byte(f"{what} type")
    ton, npi = Ton((toa >> 4) & 0x7), toa & 0xF
    raw = r.take((nibbles + 1) // 2, what)
    if ton is Ton.ALPHANUMERIC:
        return Address(gsm7_text(unpack_septets(raw, nibbles * 4 // 7)), ton, npi)
    digits = _bcd_decode(raw, nibbles)
    return Address("+" + digits if ton is Ton.INTERNATIONAL and digits else digits, ton, npi)


def encode_smsc(smsc: str | None) -> bytes:
    """The service centre prefix of a PDU for AT+CMGS: ``00`` (the SIM's own) or length in octets, TOA, BCD."""
    if not smsc:
        return b"\x00"
    ton, digits = _number(smsc, "service centre number")
    body = bytes((_toa(ton),)) + _bcd_encode(digits)
    return bytes((len(body),)) + body


def decode_smsc(r: Reader) -> Address | None:
    octets = r.byte("service centre length")
    if octets == 0:
        return None
    raw = r.take(octets, "service centre address")
    ton = Ton((raw[0] >> 4) & 0x7)
    digits = _bcd_decode(raw[1:], 2 * (octets - 1))
    return Address("+" + digits if ton is Ton.INTERNATIONAL and digits else digits, ton, raw[0] & 0xF)


# --- time stamps and validity ----------------------------------------------------------------------


def _swapped(value: int) -> int:
    return (value % 10) << 4 | (value // 10)


def encode_timestamp(when: datetime) -> bytes:
    """TP-SCTS / TP-DT: the local time and its zone in signed quarter hours (7 octets).

    A naive datetime is taken as UTC; the offset is rounded to whole quarter hours.
    """
    offset = when.utcoffset() or timedelta(0)
    quarters = round(offset.total_seconds() / 900)
    if abs(quarters) > 79:
        raise PduError(f"a time zone of {offset} is outside what a time stamp can carry (±19:45)")
    fields = (when.year % 100, when.month, when.day, when.hour, when.minute, when.second)
    zone = _swapped(abs(quarters)) | (0x08 if quarters < 0 else 0)
    return bytes(_swapped(v) for v in fields) + bytes((zone,))


def decode_timestamp(raw: bytes) -> datetime | None:
    """An aware datetime from 7 octets, or None when the network filled them with nonsense.

    Years 90-99 are 1990-1999, 00-89 are 2000-2089. A bad time stamp does not make the
    whole message unreadable.
    """
    digits = []
    for b in raw[:6]:
        lo, hi = b & 0xF, b >> 4
        if lo > 9 or hi > 9:
            return None
        digits.append(lo * 10 + hi)
    zone = raw[6]
    tens, units = zone & 0x7, zone >> 4
    if units > 9:
        return None
    quarters = (tens * 10 + units) * (-1 if zone & 0x08 else 1)
    year, month, day, hour, minute, second = digits
    zone_info = timezone(timedelta(minutes=15 * quarters))
    try:
        return datetime(year + (1900 if year >= 90 else 2000), month, day, hour, minute, second, tzinfo=zone_info)
    except ValueError:
        return None


_MINUTE = timedelta(minutes=1)


def decode_relative_validity(vp: int) -> timedelta:
    """TP-VP relative format (TS 23.040 9.2.3.12.1)."""
    if vp <= 143:
        return (vp + 1) * 5 * _MINUTE
    if vp <= 167:
        return timedelta(hours=12) + (vp - 143) * 30 * _MINUTE
    if vp <= 196:
        return timedelta(days=vp - 166)
    return timedelta(weeks=vp - 192)


def encode_relative_validity(period: timedelta) -> int:
    """The smallest TP-VP value lasting at least ``period``: the SMSC never gives up earlier than asked.

    Periods beyond 63 weeks are 63 weeks; the shortest is 5 minutes.
    """
    if period <= timedelta(0):
        raise PduError(f"a validity period must be positive, not {period}")
    minutes = -(-period // _MINUTE)  # whole minutes, rounded up
    if minutes <= 720:
        return max(0, -(-minutes // 5) - 1)
    if minutes <= 1440:
        return 143 + -(-(minutes - 720) // 30)
    days = -(-minutes // 1440)
    if days <= 30:
        return 166 + days
    return min(255, 192 + -(-days // 7))


def decode_enhanced_validity(raw: bytes) -> timedelta | None:
    """TP-VP enhanced format (TS 23.040 9.2.3.12.3): the relative forms; None for none or reserved."""
    form = raw[0] & 0x7
    if form == 1:
        return decode_relative_validity(raw[1])
    if form == 2:
        return timedelta(seconds=raw[1])
    if form == 3:
        nibbles = [(b & 0xF) * 10 + (b >> 4) for b in raw[1:4]]
        if all(b & 0xF <= 9 and b >> 4 <= 9 for b in raw[1:4]):
            return timedelta(hours=nibbles[0], minutes=nibbles[1], seconds=nibbles[2])
    return None


# --- data coding scheme ----------------------------------------------------------------------------


class DataCoding(IntEnum):
    """The user data's alphabet as TS 23.038 names it; ``Alphabet`` covers the two that carry text."""

    GSM7 = 0
    DATA8 = 1
    UCS2 = 2


@dataclass(frozen=True, slots=True)
class Dcs:
    coding: DataCoding
    message_class: int | None  # 0 flash, 1 ME, 2 SIM, 3 TE
    compressed: bool


def decode_dcs(dcs: int) -> Dcs:
    """TS 23.038 section 4. Reserved groups and alphabets read as GSM-7, as the standard says."""
    group = dcs >> 4
    if group <= 0x7:  # general data coding (0x4-0x7: the same, marked for automatic deletion)
        alphabet = (dcs >> 2) & 0x3
        coding = DataCoding(alphabet) if alphabet < 3 else DataCoding.GSM7
        return Dcs(coding, dcs & 0x3 if dcs & 0x10 else None, bool(dcs & 0x20))
    if group in (0xC, 0xD):  # message waiting indication, GSM-7
        return Dcs(DataCoding.GSM7, None, False)
    if group == 0xE:  # message waiting indication, UCS-2
        return Dcs(DataCoding.UCS2, None, False)
    if group == 0xF:
        return Dcs(DataCoding.DATA8 if dcs & 0x04 else DataCoding.GSM7, dcs & 0x3, False)
    return Dcs(DataCoding.GSM7, None, False)


def encode_dcs(coding: DataCoding, message_class: int | None = None) -> int:
    if message_class is None:
        return coding << 2
    if message_class not in range(4):
        raise PduError(f"a message class is 0-3, not {message_class}")
    return 0x10 | coding << 2 | message_class


def alphabet_coding(alphabet: Alphabet) -> DataCoding:
    return DataCoding.GSM7 if alphabet is Alphabet.GSM7 else DataCoding.UCS2


def text_septets(text: str) -> bytes:
    try:
        return gsm7_septets(text)
    except TextError as e:
        raise PduError(str(e)) from None


# --- user data header ------------------------------------------------------------------------------

IEI_CONCAT8, IEI_PORTS8, IEI_PORTS16, IEI_CONCAT16 = 0x00, 0x04, 0x05, 0x08


@dataclass(frozen=True, slots=True)
class Concat:
    """One part of a concatenated SMS: ``seq`` of ``total`` (1-based) of message ``ref``."""

    ref: int
    total: int
    seq: int
    ref_bits: int = 8  # 8 or 16: the size of the reference on the wire


@dataclass(frozen=True, slots=True)
class Ports:
    """Application port addressing (IEI 0x04/0x05): WAP push, vCards, ..."""

    destination: int
    source: int


@dataclass(frozen=True, slots=True)
class InfoElement:
    iei: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Udh:
    elements: tuple[InfoElement, ...]
    concat: Concat | None
    ports: Ports | None


def encode_udh(concat: Concat | None) -> bytes:
    """The header with an 8-bit concatenation element, with its length octet (b"" without)."""
    if concat is None:
        return b""
    if not (0 <= concat.ref <= 0xFF and 1 <= concat.total <= 0xFF and 1 <= concat.seq <= concat.total):
        raise PduError(f"concatenation needs ref 0-255 and 1 <= seq <= total <= 255, not {concat}")
    return bytes((5, IEI_CONCAT8, 3, concat.ref, concat.total, concat.seq))


def decode_udh(header: bytes) -> Udh:
    """The information elements of a header (without its length octet).

    An element that runs past the header is an error; a concatenation element with a zero
    count or number is ignored, as TS 23.040 9.2.3.24.1 asks.
    """
    r = Reader(header, "user data header")
    elements: list[InfoElement] = []
    concat: Concat | None = None
    ports: Ports | None = None
    while r.left:
        iei = r.byte("element identifier")
        data = r.take(r.byte("element length"), f"element 0x{iei:02X}")
        elements.append(InfoElement(iei, data))
        if iei == IEI_CONCAT8 and len(data) == 3:
            concat = _concat(data[0], data[1], data[2], 8) or concat
        elif iei == IEI_CONCAT16 and len(data) == 4:
            concat = _concat(data[0] << 8 | data[1], data[2], data[3], 16) or concat
        elif iei == IEI_PORTS8 and len(data) == 2:
            ports = Ports(data[0], data[1])
        elif iei == IEI_PORTS16 and len(data) == 4:
            ports = Ports(data[0] << 8 | data[1], data[2] << 8 | data[3])
    return Udh(tuple(elements), concat, ports)


def _concat(ref: int, total: int, seq: int, bits: int) -> Concat | None:
    return Concat(ref, total, seq, bits) if 1 <= seq <= total else None
