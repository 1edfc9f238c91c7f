"""Dashboard sessions: login with the device credentials, a cookie, a CSRF token per session.

The session cookie is HttpOnly and SameSite=Strict; every POST must also carry
the session's CSRF token (an ``X-CSRF-Token`` header from htmx, or a ``csrf``
form field), compared in constant time.  Before login the token is a cookie of
its own that the login form repeats (double submit).  Wrong credentials go
through the device's login guard, as on the API.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from ...gateway.runtime import Gateway
from ...gateway.security import equal_secret
from .. import endpoint
from ..endpoint import DEVICE, ApiRequest, credentials_ok, slow_down

SESSION_COOKIE = "ejoin_session"
LOGIN_CSRF_COOKIE = "ejoin_csrf"
IDLE_TIMEOUT = 12 * 3600.0
MAX_SESSIONS = 64
MAX_FORM = 256 * 1024
HOME = "/dashboard/overview"  # where a login lands


@dataclass
class LoginSession:
    csrf: str
    seen: float


class Sessions:
    def __init__(self, gw: Gateway) -> None:
        self._gw = gw
        self._sessions: OrderedDict[str, LoginSession] = OrderedDict()

    def open(self) -> tuple[str, LoginSession]:
        token = secrets.token_urlsafe(32)
        session = self._sessions[token] = LoginSession(secrets.token_urlsafe(32), self._gw.clock.time())
        while len(self._sessions) > MAX_SESSIONS:  # the least recently used goes first
            self._sessions.popitem(last=False)
        return token, session

    def find(self, token: str | None) -> LoginSession | None:
        if not token:
            return None
        session = self._sessions.get(token)
        if session is None:
            return None
        now = self._gw.clock.time()
        if now - session.seen > IDLE_TIMEOUT:
            del self._sessions[token]
            return None
        session.seen = now
        self._sessions.move_to_end(token)
        return session

    def close(self, token: str | None) -> None:
        if token:
            self._sessions.pop(token, None)


SESSIONS: web.AppKey[Sessions] = web.AppKey("dashboard_sessions", Sessions)
Page = Callable[[web.Request, LoginSession], Awaitable[web.StreamResponse]]


def _secure(request: web.Request) -> bool:
    return request.secure


def set_cookie(response: web.StreamResponse, request: web.Request, name: str, value: str) -> None:
    response.set_cookie(name, value, path="/", httponly=True, samesite="Strict", secure=_secure(request))


def session_of(request: web.Request) -> LoginSession | None:
    return request.app[SESSIONS].find(request.cookies.get(SESSION_COOKIE))


def see_other(location: str) -> web.Response:
    """A 303 to ``location``, returned, not raised: a raised one (an exception as the answer) left a
    reference cycle per request, kept for long under the server's GC tuning (benchmarks/bench_junk_memory.py)."""
    return web.Response(status=303, text="See Other", headers={"Location": location})


def _to_login(request: web.Request) -> web.StreamResponse:
    if request.headers.get("HX-Request"):
        # htmx follows HX-Redirect with a full page load; a 303 would be swapped into a fragment
        return web.Response(status=401, text="log in again", headers={"HX-Redirect": "/"})
    return see_other("/")


def page(fn: Page) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A GET: needs a session; changes nothing."""

    async def handler(request: web.Request) -> web.StreamResponse:
        session = session_of(request)
        if session is None:
            return _to_login(request)
        return await fn(request, session)

    handler.__name__ = fn.__name__
    return handler


async def read_form(request: web.Request) -> dict[str, str] | web.Response:
    """The form (see endpoint.read_form: the API's reader, so bad bytes are a 400 there and here)."""
    return await endpoint.read_form(request, MAX_FORM)


def action(fn: Callable[[web.Request, LoginSession, dict[str, str]], Awaitable[web.StreamResponse]]):
    """A POST: needs a session and its CSRF token."""

    async def handler(request: web.Request) -> web.StreamResponse:
        session = session_of(request)
        if session is None:
            return _to_login(request)
        form = await read_form(request)
        if isinstance(form, web.Response):
            return form
        token = request.headers.get("X-CSRF-Token") or form.get("csrf", "")
        if not equal_secret(token, session.csrf):
            return web.Response(status=403, text="the form is stale or came from another site; reload the page")
        return await fn(request, session, form)

    handler.__name__ = fn.__name__
    return handler


async def login(request: web.Request) -> web.StreamResponse:
    gw = request.app[DEVICE]  # the device's credentials and login guard
    form = await read_form(request)
    if isinstance(form, web.Response):
        return form
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    given = form.get("csrf", "")
    if not expected or not equal_secret(given, expected):
        return see_other("/?error=stale")
    remote = request.remote or "unknown"
    if not credentials_ok(gw, form.get("username"), form.get("password")):
        await slow_down(gw, ApiRequest(request, b""), "wrong dashboard login")
        return see_other("/?error=login")
    gw.guard.succeeded(remote)
    token, _ = request.app[SESSIONS].open()
    response = see_other(HOME)
    set_cookie(response, request, SESSION_COOKIE, token)
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    session = session_of(request)
    if session is not None:
        form = await read_form(request)
        if isinstance(form, web.Response):
            return form
        if equal_secret(form.get("csrf", ""), session.csrf):
            request.app[SESSIONS].close(request.cookies.get(SESSION_COOKIE))
    response = see_other("/")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response
