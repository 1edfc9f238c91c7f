"""The request flow of both clients, written once as a generator (httpx's ``auth_flow`` pattern).

``Flow.run(call)`` yields the ``Request``s a call needs (opening a secure session first, signing,
retrying an idempotent call after a network failure, reopening an expired session once) and
receives each one's ``httpx.Response``; a network failure is thrown into it.  It returns what the
call reads from the last answer.  ``Client`` and ``AsyncClient`` only drive it: send each request
(after its ``delay``) with their own httpx client and hand back the answer.  No I/O here.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Generator
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import httpx

from ..protocol import crypt
from .calls import Call
from .errors import DeviceUnreachable, SessionError

T = TypeVar("T")


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


Steps = Generator[Request, httpx.Response, T]


def _answer(answer: dict[str, Any]) -> dict[str, Any]:
    return answer


HANDSHAKE: Call[dict[str, Any]] = Call("GET", crypt.HANDSHAKE_PATH, _answer)


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
    """What it takes to execute a call: the requests in order, and how each answer is read."""

    def __init__(self, auth: Auth, retries: int) -> None:
        self.auth = auth
        self.retries = retries

    def run(self, call: Call[T]) -> Steps[T]:
        auth = self.auth
        if auth.secure and not auth.session:
            auth.opened((yield from self._open()))
        try:
            return (yield from self._exchange(call, lambda: auth.request(call)))
        except SessionError as exc:
            if not auth.secure or exc.code != 401:
                raise
            auth.opened((yield from self._open()))  # expired: once more
            return (yield from self._exchange(call, lambda: auth.request(call)))

    def _open(self) -> Steps[dict[str, Any]]:
        return self._exchange(HANDSHAKE, self.auth.handshake)

    def _exchange(self, call: Call[T], make: Callable[[], Request]) -> Steps[T]:
        """One call's request, made again (signed again: the device refuses a seq it has seen) and
        sent again after a network failure, while the call allows it."""
        request = make()
        attempt = 0
        while True:
            try:
                response = yield request
            except httpx.TransportError as exc:
                if not call.idempotent or attempt >= self.retries:
                    raise DeviceUnreachable(f"{type(exc).__name__}: {exc}") from None
                request = replace(make(), delay=backoff(attempt))
                attempt += 1
                continue
            return call.read(response.status_code, response.content)
