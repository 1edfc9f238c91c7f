"""SMS text: content decoding, alphabet choice and segmentation (spec 6.3.1.3).

- ``chs``: ``utf8`` (the text as is) or ``base64`` (base64 of UTF-8).
- ``coding``: 0 picks GSM-7 when every character is in GSM 03.38 (basic table
  or extension table), else UCS-2; 1 forces UCS-2; 2 forces GSM-7 (characters
  it cannot carry become ``?``, as modems do).
- A text that does not fit one SMS is split into concatenated parts: 160/153
  septets for GSM-7 (an extension character costs two septets and is never split
  from its escape), 70/67 UTF-16 code units for UCS-2 (a surrogate pair is never
  split).
"""

from __future__ import annotations

import base64
import binascii
import unicodedata
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from gsm0338.charset import BASIC_CHARACTER_SET, BASIC_CHARACTER_SET_EXTENSION

__all__ = [
    "Alphabet",
    "Coding",
    "Segmented",
    "TextError",
    "decode_content",
    "segment",
    "gsm7_septets",
    "gsm7_text",
    "GSM7_SINGLE",
    "GSM7_MULTI",
    "UCS2_SINGLE",
    "UCS2_MULTI",
]

GSM7_SINGLE, GSM7_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67
ESCAPE = 0x1B


class TextError(ValueError):
    pass


class Coding(IntEnum):
    AUTO = 0
    UCS2 = 1
    GSM7 = 2


class Alphabet(StrEnum):
    GSM7 = "gsm7"
    UCS2 = "ucs2"


def _table(names: dict[int, str]) -> dict[str, int]:
    out = {}
    for code, name in names.items():
        if code == ESCAPE:
            continue
        try:
            out[unicodedata.lookup(name)] = code
        except KeyError:  # a control name unicodedata does not know (LINE FEED, CARRIAGE RETURN...)
            out[{"LINE FEED": "\n", "CARRIAGE RETURN": "\r", "FORM FEED": "\f"}[name]] = code
    return out


_BASIC: dict[str, int] = _table(BASIC_CHARACTER_SET)
_EXTENSION: dict[str, int] = {c: v for c, v in _table(BASIC_CHARACTER_SET_EXTENSION).items() if c not in _BASIC}
_BASIC_SET = frozenset(_BASIC)
_BASIC_CHAR: dict[int, str] = {code: ch for ch, code in _BASIC.items()}
_EXTENSION_CHAR: dict[int, str] = {code: ch for ch, code in _EXTENSION.items()}


def _septets_of(ch: str) -> int:
    """Septets a character takes in GSM-7: 1 (basic), 2 (extension), 0 (not representable)."""
    if ch in _BASIC:
        return 1
    if ch in _EXTENSION:
        return 2
    return 0


def decode_content(sms: str, chs: str | None) -> str:
    name = (chs or "utf8").strip().lower().replace("-", "")
    if name in ("utf8", ""):
        return sms
    if name == "base64":
        try:
            raw = base64.b64decode(sms.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise TextError("sms is not valid base64") from None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise TextError("the base64 content is not UTF-8") from None
    raise TextError(f"chs is utf8 or base64, not {(chs or '')[:20]!r}")


@dataclass(frozen=True)
class Segmented:
    alphabet: Alphabet
    text: str  # what is sent (after GSM-7 replacement, if forced)
    parts: tuple[str, ...]
    units: tuple[int, ...]  # septets (GSM-7) or UTF-16 code units (UCS-2) per part

    @property
    def count(self) -> int:
        return len(self.parts)


def _cost(ch: str, alphabet: Alphabet) -> int:
    if alphabet is Alphabet.GSM7:
        return _septets_of(ch)
    return 2 if ord(ch) > 0xFFFF else 1


def _split(text: str, alphabet: Alphabet, single: int, multi: int) -> Segmented:
    costs = [_cost(ch, alphabet) for ch in text]
    total = sum(costs)
    if total <= single:
        return Segmented(alphabet, text, (text,), (total,))
    parts: list[str] = []
    units: list[int] = []
    start = used = 0
    for i, cost in enumerate(costs):
        if used + cost > multi:
            parts.append(text[start:i])
            units.append(used)
            start, used = i, 0
        used += cost
    parts.append(text[start:])
    units.append(used)
    return Segmented(alphabet, text, tuple(parts), tuple(units))


def segment(text: str, coding: int = Coding.AUTO) -> Segmented:
    try:
        mode = Coding(coding)
    except ValueError:
        raise TextError(f"coding is 0, 1 or 2, not {coding}") from None
    if mode is not Coding.UCS2 and len(text) <= GSM7_SINGLE and _BASIC_SET.issuperset(text):
        return Segmented(Alphabet.GSM7, text, (text,), (len(text),))  # the common case, without a per-character walk
    if mode is Coding.AUTO:
        mode = Coding.GSM7 if all(_septets_of(ch) for ch in text) else Coding.UCS2
    if mode is Coding.GSM7:
        carried = "".join(ch if _septets_of(ch) else "?" for ch in text)
        return _split(carried, Alphabet.GSM7, GSM7_SINGLE, GSM7_MULTI)
    return _split(text, Alphabet.UCS2, UCS2_SINGLE, UCS2_MULTI)


def gsm7_septets(text: str) -> bytes:
    """Unpacked GSM-7 septets (one per byte, extension characters escaped)."""
    out = bytearray()
    for ch in text:
        if ch in _BASIC:
            out.append(_BASIC[ch])
        elif ch in _EXTENSION:
            out += bytes((ESCAPE, _EXTENSION[ch]))
        else:
            raise TextError(f"{ch!r} has no GSM-7 code")
    return bytes(out)


def gsm7_text(septets: bytes) -> str:
    """The text of unpacked GSM-7 septets (one per byte, values 0-127), the inverse of ``gsm7_septets``.

    As 3GPP TS 23.038 asks of a receiver: an escape before a code the extension table
    does not have shows the basic table's character, and a doubled escape (reserved for
    a further table) shows a space. A lone escape at the very end shows nothing.
    """
    out: list[str] = []
    escaped = False
    for code in septets:
        code &= 0x7F
        if escaped:
            escaped = False
            out.append(" " if code == ESCAPE else _EXTENSION_CHAR.get(code) or _BASIC_CHAR[code])
        elif code == ESCAPE:
            escaped = True
        else:
            out.append(_BASIC_CHAR[code])
    return "".join(out)
