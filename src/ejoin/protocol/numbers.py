"""Phone numbers, IMEIs and sender ids: the one validation every entry point uses.

Only ASCII digits count: ``str.isdigit`` and the regex ``\\d`` also accept
Arabic-Indic (``١٣٨``), full-width (``１２３``) and other Unicode digits, which
no modem can dial and no receiver expects back.  A refusal names the value
(shortened, with ``repr`` so invisible characters show).
"""

from __future__ import annotations

import re

__all__ = [
    "NumberError",
    "phone_number",
    "imei",
    "sender",
    "PHONE_PATTERN",
    "MIN_DIGITS",
    "MAX_DIGITS",
    "IMEI_DIGITS",
    "SENDER_ID_MAX",
]

MIN_DIGITS = 1  # operators have short service codes; a lower bound would refuse real ones and buys nothing
MAX_DIGITS = 20  # E.164 allows 15; operators' internal numbers run a little longer
IMEI_DIGITS = 15
SENDER_ID_MAX = 11  # GSM 03.40: an alphanumeric originator is at most 11 characters

PHONE_PATTERN = rf"\+?[0-9]{{{MIN_DIGITS},{MAX_DIGITS}}}"
_PHONE = re.compile(PHONE_PATTERN, re.ASCII)
_IMEI = re.compile(rf"[0-9]{{{IMEI_DIGITS}}}", re.ASCII)
_SENDER_ID = re.compile(rf"[A-Za-z0-9 ._-]{{1,{SENDER_ID_MAX}}}", re.ASCII)


class NumberError(ValueError):
    """A value that is not a number of the kind asked for; ``str()`` names the value and the rule."""


def _shown(raw: object) -> str:
    text = raw if isinstance(raw, str) else str(raw)
    return repr(text if len(text) <= 32 else text[:32] + "…")


def phone_number(raw: object) -> str:
    """``raw`` as a phone number: ASCII digits with an optional leading ``+``, 1 to 20 digits.

    Surrounding blanks are dropped; nothing else is rewritten (no spaces or dashes
    removed inside), so what is sent is what the client gave.
    """
    text = raw.strip() if isinstance(raw, str) else raw
    if isinstance(raw, int) and not isinstance(raw, bool):
        text = str(raw)
    if not isinstance(text, str) or not _PHONE.fullmatch(text):
        raise NumberError(
            f"{_shown(raw)} is not a phone number "
            f"({MIN_DIGITS}-{MAX_DIGITS} ASCII digits 0-9, optionally after a leading +)"
        )
    return text


def imei(raw: object) -> str:
    """``raw`` as an IMEI: exactly 15 ASCII digits.

    The Luhn check digit is not enforced: the vendor's own examples
    (``865847053403202``) fail it, and operators write IMEIs as they are given.
    """
    text = raw.strip() if isinstance(raw, str) else raw
    if not isinstance(text, str) or not _IMEI.fullmatch(text):
        raise NumberError(f"{_shown(raw)} is not an IMEI (exactly {IMEI_DIGITS} ASCII digits 0-9)")
    return text


def sender(raw: object) -> str:
    """Who an inbound SMS is from: a phone number, or an alphanumeric sender id.

    Networks deliver names as originators ("Google", "VERIFY"): ASCII letters,
    digits, space, ``.``, ``_``, ``-``, at most 11 characters, at least one letter.
    """
    try:
        return phone_number(raw)
    except NumberError:
        pass
    text = raw.strip() if isinstance(raw, str) else ""
    if _SENDER_ID.fullmatch(text) and any(c.isalpha() for c in text):
        return text
    raise NumberError(
        f"{_shown(raw)} is neither a phone number ({MIN_DIGITS}-{MAX_DIGITS} ASCII digits, optional leading +) "
        f"nor a sender id (1-{SENDER_ID_MAX} ASCII letters, digits, space . _ -, with a letter)"
    )
