"""The request flow toward a device, written once as a generator (httpx's ``auth_flow`` pattern),
for every client stack: the SDK's (httpx, sync and async: client/client.py) and the fleet's link to
each member (aiohttp: fleet/engine/members.py).

``Flow.run(call)`` yields the ``Request``s a call needs (opening a secure session first, signing,
retrying an idempotent call after a network failure, reopening a refused session once) and
receives each one's ``Answer`` (anything with ``status_code`` and ``content``: an httpx response
is one); a request that got no answer is thrown into it as ``NoAnswer``.  It returns what the call
reads from the last answer.  The drivers only send each request (after its ``delay``) with their
own HTTP library and hand back the answer.  No I/O here, and no HTTP library.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Generator
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

import msgspec

from ..protocol import crypt
from .calls import Call
from .errors import DeviceUnreachable

T = TypeVar("T")

# A session the device no longer takes: unknown or expired (401), or a seq out of step (409: two
# requests of one session crossed, or one was lost).  Both refuse the request before acting on it, and
# a new session cures both, so the request is sent once more in a new one, whatever the call.
SESSION_REFUSED = (401, 409)
_REFUSAL_MAX = 512  # bytes: a session's refusal is one short JSON object; longer answers are never one


@dataclass(frozen=True)
class Request:
    """One HTTP request, as the drivers send it."""

    method: str
    path: str
    params: dict[str, str]
    body: bytes | None = None
    headers: dict[str, str] | None = None
    timeout: float | None = None  # None: the client's own timeout
    delay: float = 0.0  # seconds to wait before sending (a retry's backoff)


class Answer(Protocol):
    """What a driver hands back for a request: an ``httpx.Response``, or ``Response``."""

    @property
    def status_code(self) -> int: ...
    @property
    def content(self) -> bytes: ...


@dataclass(frozen=True)
class Response:
    """An answer as a driver without httpx hands it back."""

    status_code: int
    content: bytes


class NoAnswer(Exception):
    """Thrown into the flow by a driver: the request got no answer (refused, reset, timed out);
    ``reason`` in words (errors.unreachable_reason)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


Steps = Generator[Request, Answer, T]


def _answer(answer: dict[str, Any]) -> dict[str, Any]:
    return answer


HANDSHAKE: Call[dict[str, Any]] = Call("GET", crypt.HANDSHAKE_PATH, _answer)


def session_refused(answer: Answer) -> bool:
    """Whether the device refused the request's session (not the request itself)."""
    if len(answer.content) > _REFUSAL_MAX:
        return False
    try:
        body = msgspec.json.decode(answer.content)
    except msgspec.DecodeError:
        return False
    return isinstance(body, dict) and body.get("code") in SESSION_REFUSED


class Auth:
    """Credentials or a secure session (spec 3): turns a Call into a Request."""

    def __init__(self, username: str, password: str, secure: bool, crypt_name: str | None) -> None:
        self.username = username
        self.password = password
        self.secure = secure or bool(crypt_name)
        self.crypt = crypt_name or ""
        self.session = ""
        self.auth0 = ""
        self.seq = 0

    def handshake(self) -> Request:
        """A request to open a session (a new cnonce each time)."""
        cnonce = secrets.token_hex(8)
        self.auth0 = crypt.handshake_auth(self.username, self.password, cnonce)
        params = {"username": self.username, "cnonce": cnonce, "auth": self.auth0}
        if self.crypt:
            params["crypt"] = self.crypt
        return Request(HANDSHAKE.method, HANDSHAKE.path, params)

    def opened(self, answer: dict[str, Any]) -> None:
        self.session = str(answer["session"])
        self.seq = 0

    def request(self, call: Call[Any]) -> Request:
        params = dict(call.params)
        body = call.body
        if not self.secure:
            params.update(username=self.username, password=self.password)
        else:
            self.seq += 1
            params.update(
                session=self.session,
                seq=str(self.seq),
                auth=crypt.request_auth(self.username, self.password, self.session, self.seq, call.path),
            )
            if self.crypt == "aes-ecb" and body:
                key = crypt.session_key(self.username, self.password, self.auth0, self.session, self.seq)
                body = crypt.encrypt(key, body)
        headers = {"Content-Type": call.content_type} if body else None
        return Request(call.method, call.path, params, body, headers, call.wait)


def backoff(attempt: int) -> float:
    return min(2.0, 0.2 * 2.0**attempt)


class Flow:
    """What it takes to execute a call: the requests in order, and how each answer is read.
    ``retries``: how often an idempotent call is sent again after no answer (the fleet: 0, as a
    member that does not answer is down, and its next poll asks again)."""

    def __init__(self, auth: Auth, retries: int) -> None:
        self.auth = auth
        self.retries = retries

    def run(self, call: Call[T]) -> Steps[T]:
        auth = self.auth
        if auth.secure and not auth.session:
            auth.opened((yield from self._open()))
        answer = yield from self._exchange(call, lambda: auth.request(call))
        if auth.secure and session_refused(answer):
            auth.session = ""
            auth.opened((yield from self._open()))  # expired, or the device restarted: once more
            answer = yield from self._exchange(call, lambda: auth.request(call))
        return call.read(answer.status_code, answer.content)

    def _open(self) -> Steps[dict[str, Any]]:
        answer = yield from self._exchange(HANDSHAKE, self.auth.handshake)
        return HANDSHAKE.read(answer.status_code, answer.content)

    def _exchange(self, call: Call[Any], make: Callable[[], Request]) -> Steps[Answer]:
        """One call's request, made again (signed again: the device refuses a seq it has seen) and
        sent again after no answer, while the call allows it."""
        request = make()
        attempt = 0
        while True:
            try:
                return (yield request)
            except NoAnswer as exc:
                if not call.idempotent or attempt >= self.retries:
                    raise DeviceUnreachable(exc.reason) from None
                request = replace(make(), delay=backoff(attempt))
                attempt += 1
