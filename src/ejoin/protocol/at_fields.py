"""Values in AT answers as real modules write them: registration, PIN state, USSD strings, IMEI.

Every reader here takes what modules are seen to print (captures in
tests/modems/at/dialects.py), not only what 3GPP TS 27.007 draws: a <stat>
beyond 5, an unsolicited result that repeats ``<n>``, spaces anywhere, quoted
and unquoted strings, text in the module's character set or in hex.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import IntEnum

from .at import split_args
from .pdu_fields import pack_septets, unpack_septets
from .text import gsm7_septets, gsm7_text

__all__ = [
    "RegStat",
    "registration_stat",
    "best_stat",
    "pin_state",
    "charsets",
    "imei_in",
    "cbs_coding",
    "Coding",
    "ussd_text",
    "ussd_code",
    "charset_text",
]


# --- registration (+CREG, +CGREG, +CEREG, +C5GREG) ---------------------------------------------------


class RegStat(IntEnum):
    """<stat> of 27.007 7.2 / 10.1.19 / 10.1.22, with what LTE and 5G added."""

    NOT_SEARCHING = 0
    HOME = 1
    SEARCHING = 2
    DENIED = 3
    UNKNOWN = 4
    ROAMING = 5
    HOME_SMS_ONLY = 6  # E-UTRAN: registered for "SMS only"
    ROAMING_SMS_ONLY = 7
    EMERGENCY_ONLY = 8  # attached for emergency bearer services only
    HOME_CSFB_NOT_PREFERRED = 9
    ROAMING_CSFB_NOT_PREFERRED = 10
    RLOS = 11  # attached for access to restricted local operator services


# An SMS gateway needs SMS: every "registered" form carries them; emergency-only and RLOS do not.
REGISTERED = frozenset({1, 5, 6, 7, 9, 10})
LOOKING = frozenset({2, 4, 8, 11})
_STAT_MAX = 11


def registration_stat(args: str) -> int | None:
    """<stat> of a registration line, whether it answers a query or came on its own.

    A query's answer leads with ``<n>`` (``2,1,"8B37","0A265185",7``), an unsolicited one
    does not (``1,"8B37","0A265185",7``) — but modules repeat ``<n>`` unsolicited too
    (Sony-Ericsson MD400 ``2,5,"0502","0404736D"``, Altair ``1, 2, 0001, 00000100, 7``), so the
    form decides, not who sent it: the location area is the first quoted field, or else an
    unquoted one that is no small number; <stat> is the field before it."""
    raw = [f.strip() for f in args.split(",")]
    fields = [f.strip('"').strip() for f in raw]
    if not fields or not fields[0]:
        return None
    quoted = next((i for i, f in enumerate(raw) if f.startswith('"')), None)
    if quoted is not None:
        at = quoted - 1
    elif len(fields) == 1:
        at = 0
    elif len(fields) == 2:
        at = 1  # n,stat: an unsolicited line has one field, or three and more
    else:
        at = 1 if _small(fields[1]) else 0
    return _stat(fields[at]) if at >= 0 else None


def _small(field: str) -> bool:
    """A <stat> (one or two digits), not a location area (``0001``, ``8BE3``)."""
    return field.isdigit() and len(field) <= 2 and int(field) <= _STAT_MAX


def _stat(field: str) -> int | None:
    return int(field) if field.isdigit() and int(field) <= _STAT_MAX else None


def best_stat(stats: Iterable[int]) -> int | None:
    """One <stat> of every registration a module reports (circuit, packet, LTE, 5G): registered on
    any is registered, else still looking, else denied, else not searching."""
    found = list(stats)
    for wanted in (REGISTERED, LOOKING, {3}, {0}):
        for stat in found:
            if stat in wanted:
                return stat
    return None


# --- SIM ---------------------------------------------------------------------------------------------


def pin_state(args: str) -> str:
    """``READY``, ``SIM PIN`` ...: what +CPIN says, quoted or not (``+CPIN: "SIM PIN"``), upper case."""
    return " ".join(args.strip().strip('"').split()).upper()


def charsets(args: str) -> list[str]:
    """The character sets of ``+CSCS: ("IRA","GSM","UCS2")``, upper case."""
    return [c.upper() for c in split_args(args.strip().strip("()")) if c]


_IMEI = re.compile(r"\d{14,17}")


def imei_in(lines: Iterable[str]) -> str:
    """The IMEI of an ``AT+CGSN`` answer: a bare line, ``+CGSN: "..."`` or ``IMEI: ...`` (14 to 17 digits)."""
    for line in lines:
        value = line.partition(":")[2] if ":" in line else line
        value = value.strip().strip('"').strip()
        if _IMEI.fullmatch(value):
            return value
    return ""


# --- text in the module's character set ---------------------------------------------------------------


def charset_text(text: str, charset: str) -> str:
    """A string of an answer in the TE character set ``charset`` (AT+CSCS), as Unicode.

    ``GSM``: each byte is a GSM 7-bit default alphabet code (``w{hlen`` is "wählen").
    ``UCS2``: hex of UTF-16BE.  Anything else (IRA, 8859-1, unknown) is taken as it came."""
    if charset == "GSM" and all(ord(ch) < 0x80 for ch in text):
        return gsm7_text(text.encode("latin-1"))
    if charset == "UCS2" and _ucs2_hex(text):
        return _utf16(bytes.fromhex(text))
    return text


# --- USSD ----------------------------------------------------------------------------------------------


class Coding(IntEnum):
    GSM7 = 0
    DATA8 = 1
    UCS2 = 2


def cbs_coding(dcs: int) -> tuple[Coding, bool]:
    """The alphabet of a USSD string by its ``dcs`` (the CBS data coding scheme, TS 23.038 5), and
    whether the text starts with a language indication (0x10: two letters and CR; 0x11: two
    letters packed in two octets)."""
    group = dcs >> 4
    if group in (0, 2, 3):
        return Coding.GSM7, False
    if group == 1:
        if dcs == 0x10:
            return Coding.GSM7, True
        if dcs == 0x11:
            return Coding.UCS2, True
        return Coding.GSM7, False  # reserved
    if group in (4, 5, 6, 7, 9):  # general data coding; 9: with a user data header
        alphabet = (dcs >> 2) & 0x3
        return (Coding(alphabet) if alphabet < 3 else Coding.GSM7), False
    if group == 0xF:
        return (Coding.DATA8 if dcs & 0x04 else Coding.GSM7), False
    return Coding.GSM7, False  # reserved groups read as the default alphabet


_HEXDIGITS = re.compile(r"(?:[0-9A-Fa-f]{2})+")


def _hex(text: str) -> bool:
    return _HEXDIGITS.fullmatch(text) is not None


def _ucs2_hex(text: str) -> bool:
    return len(text) % 4 == 0 and _hex(text)


def _utf16(raw: bytes) -> str:
    text = raw[: len(raw) // 2 * 2].decode("utf-16-be", errors="replace")
    return text.split("\x00", 1)[0]  # some networks pad with NUL and what a buffer held after it


def _packed(raw: bytes) -> str:
    count = len(raw) * 8 // 7
    septets = unpack_septets(raw, count)
    if count and septets[-1] == 0x0D and len(raw) * 8 % 7 == 0:  # padding CR (TS 23.038 6.1.2.3.1)
        septets = septets[:-1]
    return gsm7_text(septets)


def ussd_text(text: str, dcs: int, charset: str = "", packed: bool = False) -> str:
    """The network's text of a ``+CUSD`` string.

    ``dcs`` says what the network sent; ``charset`` is the module's AT+CSCS ("" if unknown);
    ``packed``: the module gives 7-bit strings as hex of the packed septets whatever the
    character set (Huawei).  A UCS-2 string comes as hex in any character set; a 7-bit one as
    text in the character set (hex of UTF-16 in UCS2).  With the character set unknown, hex
    is taken for packed septets, as most such modules mean it."""
    coding, language = cbs_coding(dcs)
    hexed = _hex(text)
    if coding is Coding.UCS2 and hexed:
        raw = bytes.fromhex(text)
        return _utf16(raw[2:] if language else raw)
    if coding is Coding.GSM7:
        if hexed and (packed or not charset or charset == "HEX"):
            out = _packed(bytes.fromhex(text))
        elif charset == "UCS2" and _ucs2_hex(text):
            out = _utf16(bytes.fromhex(text))
        else:
            out = charset_text(text, charset)
        if language and len(out) >= 3 and out[2] in "\r\n":
            out = out[3:]
        return out
    return charset_text(text, charset)


def ussd_code(code: str, charset: str, packed: bool) -> str:
    """How ``code`` (digits, ``*``, ``#``, ``+``) goes into ``AT+CUSD=1,"<str>",15``: hex of the packed
    septets for modules that want them, hex of UTF-16 in the UCS2 character set, else as it is."""
    if packed:
        return pack_septets(gsm7_septets(code)).hex().upper()
    if charset == "UCS2":
        return code.encode("utf-16-be").hex().upper()
    return code
