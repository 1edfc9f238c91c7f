"""Who may talk to the device: secure sessions (spec 3) and slowing down guessers.

Sessions live in memory: a restart ends them and clients shake hands again.
A request in a session is accepted only if its ``auth`` is right *and* its
``seq`` is greater than the last accepted one, so a captured request cannot be
replayed; only an authenticated request moves ``seq`` on.

Wrong credentials from one address make that address's next wrong tries
slower (doubling, capped); the right credentials are never slowed, so a
stranger guessing cannot lock the real user out.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections import OrderedDict
from dataclasses import dataclass

from ..clock import Clock
from ..protocol import crypt
from ..protocol.errors import DeviceError

log = logging.getLogger(__name__)

CRYPTS = ("", "aes-ecb")


def equal_secret(given: str, expected: str) -> bool:
    """``given`` (from a request) is ``expected``, compared in constant time.  Any text compares:
    a header's bytes that are not UTF-8 arrive as lone surrogates, which ``str.encode()`` refuses."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


class SessionRefused(DeviceError):
    """A refused handshake or session request; spec 3 names its reason ``desc``."""

    @property
    def desc(self) -> str:
        return self.reason


INVALID_USER = 1
BAD_REQUEST = 400
UNKNOWN_SESSION = 401
REPLAYED = 409
TOO_MANY = 503


@dataclass
class Session:
    id: str
    auth0: str
    crypt: str
    lifetime: int
    expires_at: float
    last_seq: int = -1


def _int(text: str | None, name: str) -> int | None:
    if text is None or text.strip() == "":
        return None
    try:
        return int(text.strip())
    except ValueError:
        raise SessionRefused(BAD_REQUEST, f"{name} must be a whole number") from None


class SessionTable:
    def __init__(self, clock: Clock, username: str, password: str, max_sessions: int = 1000) -> None:
        self._clock = clock
        self._username = username
        self._password = password
        self._max = max_sessions
        self._sessions: dict[str, Session] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def clear(self) -> None:
        """Forget every session, as a restart of the device does (their holders must open new ones)."""
        self._sessions.clear()

    def _lifetime(self, text: str | None, default: int) -> int:
        value = _int(text, "expires")
        if value is None:
            return default
        if not 1 <= value <= 86_400:
            raise SessionRefused(BAD_REQUEST, "expires is 1 to 86400 seconds")
        return value

    def open(
        self, username: str | None, cnonce: str | None, auth: str | None, crypt_name: str | None, expires: str | None
    ) -> Session:
        if not username or not cnonce or not auth:
            raise SessionRefused(BAD_REQUEST, "username, cnonce and auth are required")
        if len(cnonce) > 256:
            raise SessionRefused(BAD_REQUEST, "cnonce is too long (256 characters at most)")
        method = (crypt_name or "").strip().lower()
        if method not in CRYPTS:
            raise SessionRefused(BAD_REQUEST, "crypt is aes-ecb, or absent for authentication only")
        lifetime = self._lifetime(expires, 180)
        expected = crypt.handshake_auth(self._username, self._password, cnonce)
        user_ok = equal_secret(username, self._username)
        if not (equal_secret(auth.strip().lower(), expected) and user_ok):
            raise SessionRefused(INVALID_USER, "Invalid User")
        self._expire_old()
        if len(self._sessions) >= self._max:
            raise SessionRefused(TOO_MANY, f"too many open sessions ({self._max}); try again when some expire")
        session = Session(secrets.token_hex(16), expected, method, lifetime, self._clock.time() + lifetime)
        self._sessions[session.id] = session
        return session

    def check(self, session_id: str, seq_text: str | None, auth: str | None, path: str, expires: str | None) -> Session:
        session = self._sessions.get(session_id)
        if session is None:
            raise SessionRefused(UNKNOWN_SESSION, "unknown session; open one with crypt_sess.json")
        if self._clock.time() > session.expires_at:
            del self._sessions[session_id]
            raise SessionRefused(UNKNOWN_SESSION, "session expired; open a new one with crypt_sess.json")
        seq = _int(seq_text, "seq")
        if seq is None or not auth:
            raise SessionRefused(BAD_REQUEST, "a session request needs seq and auth")
        expected = crypt.request_auth(self._username, self._password, session_id, seq, path)
        if not equal_secret(auth.strip().lower(), expected):
            raise SessionRefused(INVALID_USER, "Invalid User")
        if seq <= session.last_seq:
            raise SessionRefused(REPLAYED, f"seq {seq} was not greater than the last one ({session.last_seq}): refused")
        session.last_seq = seq
        session.lifetime = self._lifetime(expires, session.lifetime)
        session.expires_at = self._clock.time() + session.lifetime
        return session

    def key(self, session: Session) -> bytes:
        return crypt.session_key(self._username, self._password, session.auth0, session.id, session.last_seq)

    def _expire_old(self) -> None:
        now = self._clock.time()
        for sid in [sid for sid, s in self._sessions.items() if now > s.expires_at]:
            del self._sessions[sid]


class LoginGuard:
    """Per-address delay after wrong credentials: 0 for the first ``free`` misses, then doubling."""

    def __init__(
        self,
        clock: Clock,
        *,
        free: int = 3,
        base: float = 0.25,
        cap: float = 5.0,
        forget_after: float = 900.0,
        max_addresses: int = 10_000,
    ) -> None:
        self._clock = clock
        self._free = free
        self._base = base
        self._cap = cap
        self._forget_after = forget_after
        self._max = max_addresses
        self._misses: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def misses(self, address: str) -> int:
        count, last = self._misses.get(address, (0, 0.0))
        return 0 if self._clock.time() - last > self._forget_after else count

    def delay_after_miss(self, address: str) -> float:
        """Record a miss; how long to wait before answering it."""
        count = self.misses(address) + 1
        self._misses[address] = (count, self._clock.time())
        self._misses.move_to_end(address)
        while len(self._misses) > self._max:
            self._misses.popitem(last=False)
        if count <= self._free or self._cap <= 0:
            return 0.0
        # the exponent is bounded: 2 ** 1100 is beyond a float (an OverflowError on the 1,100th miss)
        return min(self._cap, self._base * 2 ** min(count - self._free - 1, 64))

    def succeeded(self, address: str) -> None:
        self._misses.pop(address, None)
