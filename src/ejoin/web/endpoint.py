"""What every device endpoint shares: body limits, credentials, errors, encoding.

Handlers are ``async def handler(req: ApiRequest, parts: SomeParts) -> Struct``,
where ``SomeParts`` is a Protocol of what that group of handlers uses of the
device (declared beside them); the ``endpoint`` decorator reads the body,
checks credentials, and turns an ``ApiError`` (or anything unexpected) into the
device's JSON error answer, so no client ever sees an HTML error page or a
traceback.  What it reads itself is ``Served``: a gateway has it, and so does
a fleet of them (ejoin.fleet), which serves the same endpoints.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar, cast
from urllib.parse import parse_qsl

import msgspec
from aiohttp import web

from ..clock import Clock
from ..gateway.runtime import Gateway
from ..gateway.security import INVALID_USER as SESSION_INVALID_USER
from ..gateway.security import LoginGuard, SessionRefused, SessionTable, equal_secret
from ..protocol import crypt
from ..protocol.codes import ResultCode
from ..protocol.errors import DeviceError
from ..protocol.messages import Reply, WireError, decode_lenient, encode

log = logging.getLogger(__name__)

T = TypeVar("T")
P = TypeVar("P")


class EndpointConfig(Protocol):
    @property
    def username(self) -> str: ...
    @property
    def password(self) -> str: ...
    @property
    def max_body(self) -> int: ...
    @property
    def read_timeout(self) -> float: ...
    @property
    def max_connections(self) -> int: ...
    @property
    def allowed_origins(self) -> list[str]: ...


class Served(Protocol):
    """What the endpoint machinery reads of the device it serves: credentials and body limits,
    the login guard, the spec 3 sessions and the clock."""

    @property
    def config(self) -> EndpointConfig: ...
    @property
    def guard(self) -> LoginGuard: ...
    @property
    def sessions(self) -> SessionTable: ...
    @property
    def clock(self) -> Clock: ...


# The device the app serves; each handler is handed the parts of it it declares (see endpoint).
DEVICE: web.AppKey[Served] = web.AppKey("device", Served)
# The whole gateway, for what shows all of it (the dashboard, the metrics); a fleet's app has none.
GATEWAY: web.AppKey[Gateway] = web.AppKey("gateway", Gateway)

# Query keys that carry authentication or versioning, never a parameter.
RESERVED = frozenset({"username", "password", "version", "op", "session", "seq", "auth", "expires", "crypt"})
MAX_FORM_FIELDS = 10_000


class ApiError(DeviceError):
    """A request the web layer refuses (bad parameters, a body it cannot read)."""


class _Credentials(msgspec.Struct):
    username: str | int | None = None
    password: str | int | None = None
    Username: str | int | None = None  # the v2.1.0 examples' spelling
    Password: str | int | None = None


def _capitalised(name: str) -> str:
    """The v2.1.0 spelling of some names (``Username``, ``Url``, ``Period``): accepted, never emitted."""
    return name[:1].upper() + name[1:]


def _scalar_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


class ApiRequest:
    """A request as handlers see it: query, raw body, and lenient readers."""

    def __init__(self, request: web.Request, body: bytes) -> None:
        self.http = request
        self.query = request.query
        self.body = body
        self._fields: dict[str, str] | None = None

    def param(self, name: str) -> str | None:
        """A query parameter, also in its v2.1.0 capitalised spelling."""
        value = self.query.get(name)
        return self.query.get(_capitalised(name)) if value is None else value

    def field(self, name: str) -> str | None:
        """A parameter from the query or, in a POST, from the body (JSON object or form; spec 6.3.1.2)."""
        value = self.param(name)
        if value is not None or self.http.method != "POST" or not self.has_body():
            return value
        if self._fields is None:
            if self.body_is_json():
                body = self.json(Any)
                if not isinstance(body, dict):
                    raise ApiError(ResultCode.BAD_REQUEST, "the body is a JSON object of parameters", 400)
                pairs = [(k, _scalar_text(v)) for k, v in body.items()]
                self._fields = {k: v for k, v in pairs if v is not None}
            else:
                self._fields = dict(reversed(self.form()))  # the first of a repeated name, as in the query
        value = self._fields.get(name)
        return self._fields.get(_capitalised(name)) if value is None else value

    def has_body(self) -> bool:
        return bool(self.body.strip())

    def body_is_json(self) -> bool:
        head = self.body.lstrip()[:1]
        return head in (b"{", b"[")

    def json(self, type: type[T]) -> T:
        try:
            return decode_lenient(self.body, type)
        except WireError as exc:
            raise ApiError(ResultCode.BAD_REQUEST, str(exc), 400) from None

    def form(self) -> list[tuple[str, str]]:
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(ResultCode.BAD_REQUEST, "the form body is not UTF-8", 400) from None
        try:
            return parse_qsl(text.strip(), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
        except ValueError as exc:
            raise ApiError(ResultCode.BAD_REQUEST, f"the form body cannot be read: {exc}", 400) from None

    def credentials(self) -> tuple[str | None, str | None]:
        user, password = self.param("username"), self.param("password")
        if user is None and self.http.method == "POST" and self.body_is_json():
            try:
                creds = decode_lenient(self.body, _Credentials)
            except WireError:
                return None, None
            body_user = creds.username if creds.username is not None else creds.Username
            body_password = creds.password if creds.password is not None else creds.Password
            user = None if body_user is None else str(body_user)
            password = None if body_password is None else str(body_password)
        return user, password


def credentials_ok(gw: Served, user: str | None, password: str | None) -> bool:
    # Both comparisons always run, in constant time, so timing tells nothing.
    u_ok = equal_secret(user or "", gw.config.username)
    p_ok = equal_secret(password or "", gw.config.password)
    return u_ok and p_ok and user is not None and password is not None


def json_response(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=encode(obj), status=status, content_type="application/json", charset="utf-8")


def error_response(code: int, reason: str, status: int = 200) -> web.Response:
    return json_response(Reply(code=code, reason=reason), status)


INVALID_USER = Reply(code=ResultCode.INVALID_USER, reason="Invalid User")

# what the aiohttp app routes to
WebHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def endpoint(
    *, auth: bool = True, invalid_user: Callable[[ApiRequest], Any] | None = None
) -> Callable[[Callable[[ApiRequest, P], Awaitable[Any]]], WebHandler]:
    """The handler ``fn(req, parts)`` as an aiohttp handler; ``parts`` is the app's DEVICE, taken as
    what ``fn`` declares: a Protocol of the parts it uses, which web/routes.py has mypy check a Gateway
    has (a fleet's handlers take the Fleet that create_fleet_app serves)."""

    def wrap(fn: Callable[[ApiRequest, P], Awaitable[Any]]) -> WebHandler:
        async def handler(request: web.Request) -> web.StreamResponse:
            gw = request.app[DEVICE]
            body_or_refusal = await read_body(request, gw.config.max_body, gw.config.read_timeout)
            if isinstance(body_or_refusal, web.Response):
                return body_or_refusal
            body = body_or_refusal
            req = ApiRequest(request, body)
            if auth:
                refusal = await _authenticate(req, gw)
                if refusal is not None:
                    return (
                        refusal
                        if refusal is not INVALID_USER
                        else json_response(invalid_user(req) if invalid_user else INVALID_USER)
                    )
            try:
                result = await fn(req, cast(P, gw))
            except DeviceError as exc:  # every refusal with a device code, answered here and only here
                return error_response(exc.code, exc.reason, exc.http_status)
            return result if isinstance(result, web.StreamResponse) else json_response(result)

        handler.__name__ = fn.__name__
        handler.__doc__ = fn.__doc__
        return handler

    return wrap


async def read_body(request: web.Request, limit: int, timeout: float) -> bytes | web.Response:
    """The whole body, or the answer refusing it: too large (declared or sent) or too slow."""
    declared = request.content_length
    refusal: web.Response
    if declared is not None and declared > limit:
        # Refused before reading: waiting for 99999999999 declared bytes would hold the connection.
        refusal = error_response(
            ResultCode.TOO_LARGE, f"the body is larger than the device accepts ({limit} bytes)", 413
        )
    else:
        try:
            if request.content.is_eof():  # all of it arrived (a small body comes with its head): no wait
                return await request.read()
            async with asyncio.timeout(timeout):
                return await request.read()
        except web.HTTPRequestEntityTooLarge:
            refusal = error_response(
                ResultCode.TOO_LARGE, f"the body is larger than the device accepts ({limit} bytes)", 413
            )
        except TimeoutError:
            refusal = error_response(
                ResultCode.REQUEST_TIMEOUT, f"the body did not arrive within {timeout:g} seconds", 408
            )
        except web.RequestPayloadError:
            # aiohttp's parser refused the body's framing (a bad chunk size, chunk data longer than said)
            refusal = error_response(
                ResultCode.BAD_REQUEST, "the body cannot be read: its chunked transfer encoding is broken", 400
            )
    # The rest of the body is never read, so the connection cannot be reused: answer, then close
    # (aiohttp would otherwise keep waiting for the body it was promised).
    refusal.force_close()
    await refusal.prepare(request)
    await refusal.write_eof()
    if request.transport is not None:
        request.transport.close()
    return refusal


async def read_form(request: web.Request, limit: int) -> dict[str, str] | web.Response:
    """A form body (``application/x-www-form-urlencoded``, UTF-8) as a dict (the last of a repeated
    name wins), or the answer refusing it (see read_body); bytes that are not UTF-8 raise ApiError."""
    body = await read_body(request, limit, request.app[DEVICE].config.read_timeout)
    if isinstance(body, web.Response):
        return body
    return dict(ApiRequest(request, body).form())


async def slow_down(gw: Served, req: ApiRequest, what: str) -> None:
    """A wrong credential: logged (never the secret) and answered later the more often it happens."""
    remote = req.http.remote or "unknown"
    delay = gw.guard.delay_after_miss(remote)
    log.info("refused %s from %s: %s (%d in a row)", req.http.path, remote, what, gw.guard.misses(remote))
    if delay:
        await gw.clock.sleep(delay)


async def _authenticate(req: ApiRequest, gw: Served) -> Any:
    """None when the request may go on; else the answer (INVALID_USER: the endpoint's own form)."""
    remote = req.http.remote or "unknown"
    if "session" in req.query:
        q = req.query
        try:
            session = gw.sessions.check(q["session"], q.get("seq"), q.get("auth"), req.http.path, q.get("expires"))
        except SessionRefused as exc:
            if exc.code == SESSION_INVALID_USER:
                await slow_down(gw, req, "wrong session auth")
            return json_response({"code": exc.code, "reason": exc.desc, "desc": exc.desc})
        if session.crypt == "aes-ecb" and req.body:
            try:
                req.body = crypt.decrypt(gw.sessions.key(session), req.body)
            except crypt.CryptError as exc:
                return error_response(ResultCode.BAD_REQUEST, f"the body cannot be decrypted: {exc}", 400)
        gw.guard.succeeded(remote)
        return None
    if credentials_ok(gw, *req.credentials()):
        gw.guard.succeeded(remote)
        return None
    await slow_down(gw, req, "wrong credentials")
    return INVALID_USER


def error_answer(request: web.Request, exc: Exception) -> web.Response | None:
    """What answers a failure raised under a handler: unknown paths, wrong methods and bugs still
    answer JSON, never HTML or a traceback; None for what must go on up (a redirect, a client gone).
    web/layers.py calls it for every device app."""
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            return None
        # The router's 404/405 is an exception kept on the request (its match_info): with its
        # traceback, whose frames hold the request, it made a reference cycle per request, which
        # the server's GC tuning left in memory (benchmarks/bench_junk_memory.py).
        exc.__traceback__ = None
        return error_response(exc.status, exc.reason or "error", exc.status)
    if isinstance(exc, DeviceError):  # raised outside an endpoint (the dashboard's form, say): the same answer
        return error_response(exc.code, exc.reason, exc.http_status)
    if isinstance(exc, ConnectionError):
        # The client left mid-request (a body cut short): nobody to answer, nothing went wrong here.
        log.debug("the client of %s left before its request was read", request.path)
        return None
    log.error("unexpected failure on %s", request.path, exc_info=exc)
    exc.__traceback__ = None
    return error_response(ResultCode.SERVER_ERROR, "internal error; the device logged the details", 500)


def flag(value: str | None, name: str) -> bool:
    if value is None or value.strip() == "":
        return False
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise ApiError(ResultCode.BAD_REQUEST, f"{name} is 0 or 1, not {value[:20]!r}", 400)


MAX_INTEGER = 2**62  # every number the API takes is far below; SQLite's integers end at 2**63


def integer(
    value: str | None, name: str, *, default: int, minimum: int | None = None, maximum: int = MAX_INTEGER
) -> int:
    if value is None or value.strip() == "":
        return default
    try:
        n = int(value.strip())
    except ValueError:
        raise ApiError(ResultCode.BAD_REQUEST, f"{name} must be a whole number, not {value[:20]!r}", 400) from None
    if minimum is not None and n < minimum:
        raise ApiError(ResultCode.BAD_REQUEST, f"{name} must be at least {minimum}", 400)
    if n > maximum:
        raise ApiError(ResultCode.BAD_REQUEST, f"{name} must be at most {maximum}", 400)
    return n
