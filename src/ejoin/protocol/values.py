"""Where and how often a device pushes: push URLs, periods and batch counts, one rule for every entry.

``op=set`` and the dashboard (gateway/parameters.py), ``goip_get_status``'s ``url``, a send
request's ``sr_url``/``sms_url`` and its request-level counts and periods (protocol/sms.py), and
the fleet's own settings all read these values here, so what one accepts the others accept too.

The bounds are what a platform can mean: a URL that an HTTP request can be made to (a CR or LF in
it cannot be sent, so the pushes to it would wait forever), a period of at most a day, a batch of
at most 10,000 SMS or reports.  ``sms_prd=99999999999999999999`` is nobody's intent, and received
SMS behind it would never be pushed.
"""

from __future__ import annotations

import functools
import math
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048
MAX_PERIOD = 86_400  # seconds: a day
MAX_COUNT = 10_000


class ValueRefused(ValueError):
    """A value a device does not take; ``str()`` says why, naming the value."""


def _shown(value: object, limit: int = 40) -> str:
    text = str(value)
    return repr(text[:limit] + "…" if len(text) > limit else text)


def push_url(value: str) -> str:
    """An http:// or https:// URL, stripped of outer blanks; "" (no URL) stays "".

    Refused: other schemes, no host, a port outside 1-65535, characters below 0x20 or DEL
    anywhere inside (CR/LF would split the request line), over 2,048 characters."""
    return _push_url(value) if len(value) <= MAX_URL_LENGTH else _checked_push_url(value)


# A platform names the same report URL in every request, thousands a second: its check is kept.
@functools.lru_cache(maxsize=256)
def _push_url(value: str) -> str:
    return _checked_push_url(value)


def _checked_push_url(value: str) -> str:
    value = value.strip()
    if value == "":
        return value
    if len(value) > MAX_URL_LENGTH:
        raise ValueRefused(f"a URL is at most {MAX_URL_LENGTH} characters (this one has {len(value)})")
    bad = next((c for c in value if ord(c) < 0x20 or ord(c) == 0x7F), None)
    if bad is not None:
        raise ValueRefused(f"{_shown(value, 80)} holds a control character ({bad!r}); a URL cannot carry one")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise ValueRefused(f"{_shown(value, 80)} is not a URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueRefused(f"{_shown(value, 80)} is not an http:// or https:// URL")
    if port == 0:
        raise ValueRefused(f"{_shown(value, 80)}: port 0 cannot be reached")
    return value


def _whole(value: object, what: str) -> int:
    if isinstance(value, bool):
        raise ValueRefused(f"{_shown(value, 20)} is not a whole number{what}")
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise ValueRefused(f"{_shown(value, 20)} is not a whole number{what}")
        return int(value)
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValueRefused(f"{_shown(value, 20)} is not a whole number{what}") from None


def period(value: object) -> int:
    """Seconds, 0 to a day (86,400); 0 keeps the meaning each setting gives it."""
    n = _whole(value, " of seconds")
    if n < 0:
        raise ValueRefused("a period cannot be negative")
    if n > MAX_PERIOD:
        raise ValueRefused(f"a period is at most {MAX_PERIOD} seconds (a day), not {_shown(n, 20)}")
    return n


def count(value: object) -> int:
    """A batch size, 0 to 10,000 (for ``sms_cnt``, 1 or less: each at once)."""
    n = _whole(value, "")
    if n < 0:
        raise ValueRefused("a count cannot be negative")
    if n > MAX_COUNT:
        raise ValueRefused(f"a count is at most {MAX_COUNT}, not {_shown(n, 20)}")
    return n
