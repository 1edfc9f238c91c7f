"""``Client`` (sync) and ``AsyncClient`` (asyncio): the whole EJOIN API over httpx.

    from ejoin.client import Client
    with Client("http://127.0.0.1:8080", "root", "root") as dev:
        print(dev.status().status[0].state_text)
        [result] = dev.send_sms("13800000000", "hello")

With ``secure=True`` the client opens a spec 3 session on first use and signs
every request with ``session``/``seq``/``auth`` instead of sending the password;
``crypt="aes-ecb"`` also encrypts POST bodies.  A refused (expired) session is
reopened once, transparently.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from ..protocol import crypt
from . import calls
from .calls import Call
from .errors import DeviceUnreachable, EjoinError, SessionError  # noqa: F401 (EjoinError re-exported)
from .models import TaskResult
from .tasks import SendTask

T = TypeVar("T")


@dataclass
class _Prepared:
    method: str
    path: str
    params: dict[str, str]
    body: bytes | None
    headers: dict[str, str]


class _Auth:
    """Credentials or a secure session: turns a Call into what goes on the wire."""

    def __init__(self, username: str, password: str, secure: bool, crypt_name: str | None) -> None:
        self.username = username
        self.password = password
        self.secure = secure or bool(crypt_name)
        self.crypt = crypt_name or ""
        self.session = ""
        self.auth0 = ""
        self.seq = 0

    def handshake(self) -> Call[dict[str, Any]]:
        cnonce = secrets.token_hex(8)
        self.auth0 = crypt.handshake_auth(self.username, self.password, cnonce)
        params = {"username": self.username, "cnonce": cnonce, "auth": self.auth0}
        if self.crypt:
            params["crypt"] = self.crypt
        return Call("GET", crypt.HANDSHAKE_PATH, lambda a: a, params)

    def handshake_prepared(self) -> tuple[Call[dict[str, Any]], _Prepared]:
        call = self.handshake()
        return call, _Prepared(call.method, call.path, call.params, None, {})

    def opened(self, answer: dict[str, Any]) -> None:
        self.session = str(answer["session"])
        self.seq = 0

    def prepare(self, call: Call[Any]) -> _Prepared:
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
        headers = {"Content-Type": call.content_type} if body else {}
        return _Prepared(call.method, call.path, params, body, headers)


class _Api:
    """The endpoints; ``_run`` (sync or async) executes them."""

    def _run(self, call: Call[T]) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    # status and commands
    def status(
        self, *, all_sims: bool = False, all_slots: bool = False, url: str | None = None, period: int | None = None
    ):
        return self._run(calls.status(all_sims=all_sims, all_slots=all_slots, url=url, period=period))

    def command(self, op: str, ports: Any = None):
        return self._run(calls.command(op, ports))

    def lock(self, ports: Any):
        return self.command("lock", ports)

    def unlock(self, ports: Any):
        return self.command("unlock", ports)

    def switch(self, ports: Any):
        return self.command("switch", ports)

    def reset(self, ports: Any):
        return self.command("reset", ports)

    def led(self, ports: Any, on: bool = True):
        return self.command("ledon" if on else "ledoff", ports)

    def save(self):
        return self.command("save")

    def reboot(self):
        return self.command("reboot")

    def multiple(self, ops: Iterable[tuple[str, Any]]):
        return self._run(calls.multiple(ops))

    def get_params(self, *names: str):
        return self._run(calls.get_params(names))

    def set_params(self, values: dict[str, Any] | None = None, **more: Any):
        return self._run(calls.set_params({**(values or {}), **more}))

    # sending
    def send(self, tasks: SendTask | Iterable[SendTask], **request: Any):
        return self._run(calls.send([tasks] if isinstance(tasks, SendTask) else tasks, **request))

    def send_sms(self, to: str | Iterable[str], text: str, *, request: dict[str, Any] | None = None, **fields: Any):
        """One SMS task; returns its TaskResult."""
        return self._one(self.send(SendTask.text(to, text, **fields), **(request or {})))

    def _one(self, results: Any) -> Any:
        return results[0]

    def pause(self, tids: Iterable[int] | None = None):
        return self._run(calls.change_tasks("pause", tids))

    def resume(self, tids: Iterable[int] | None = None):
        return self._run(calls.change_tasks("resume", tids))

    def remove(self, tids: Iterable[int] | None = None):
        return self._run(calls.change_tasks("remove", tids))

    def tasks(self, port: int, pos: int = 0, num: int = 10, content: bool = False):
        return self._run(calls.tasks(port, pos, num, content))

    # receiving, statistics, eSIM
    def inbox(self, sms_id: int = 1, num: int = 0, delete: bool = False):
        return self._run(calls.inbox(sms_id, num, delete))

    def sms_stats(self, ports: Any = None, slots: Any = None, type: int = 0):
        return self._run(calls.sms_stats(ports, slots, type))

    def call_stats(self, ports: Any = None, slots: Any = None, type: int = 0):
        return self._run(calls.call_stats(ports, slots, type))

    def esims(self, ports: Any = None):
        return self._run(calls.esims(ports))

    def write_esims(self, items: Iterable[dict[str, Any]]):
        return self._run(calls.write_esims(items))

    def delete_esims(self, items: Iterable[dict[str, Any]]):
        return self._run(calls.delete_esims(items))

    # the push queue (ejoin gateways: not part of the vendor's API)
    def pushes(self):
        """The push queue per destination: waiting and dead-letter pushes, retry state (``PushQueue``)."""
        return self._run(calls.pushes())

    def retry_pushes(self, url: str | None = None):
        """Replay dead-letter pushes of ``url`` (None: all); {url: count}."""
        return self._run(calls.retry_pushes(url))

    def drop_pushes(self, url: str | None = None, queued: bool = False):
        """Delete dead-letter pushes (``queued``: waiting ones too) of ``url`` (None: all); {url: count}."""
        return self._run(calls.drop_pushes(url, queued))

    # a fleet's members (ejoin fleet: not part of the vendor's API)
    def fleet_members(self):
        """The fleet's members: name, url, username, ports, secure, up, down_since, registered."""
        return self._run(calls.fleet_members())

    def add_fleet_member(self, member: dict[str, Any]):
        """Add a member (a ``[[member]]`` table: name, url, ports, username, password, secure)."""
        return self._run(calls.add_fleet_member(member))

    def remove_fleet_member(self, name: str, force: bool = False):
        """Remove a member; ``force`` sends its unsent SMS through the others. How many were moved."""
        return self._run(calls.remove_fleet_member(name, force))

    # USSD and AT passthrough
    def ussd(self, port: str | int, code: str, timeout: float | None = None, *, cancel: bool = False):
        """Send a USSD code (or, while the port's session is open, a menu reply); the network's
        UssdAnswer.  ``cancel``: end the port's open session first."""
        return self._run(calls.ussd(port, code, timeout, cancel))

    def ussd_cancel(self, port: str | int):
        """End the port's USSD session."""
        return self._run(calls.ussd(port, None, cancel=True))

    def at(self, port: str | int, command: str, timeout: float | None = None):
        """One AT command line to the module of ``port``; its raw AtAnswer."""
        return self._run(calls.at(port, command, timeout))


def _wait(call: Call[Any]) -> dict[str, Any]:
    """The request's own timeout when the device may take longer than the client's usual one."""
    return {} if call.wait is None else {"timeout": call.wait}


def _backoff(attempt: int) -> float:
    return min(2.0, 0.2 * 2**attempt)


class Client(_Api):
    def __init__(
        self,
        url: str,
        username: str = "root",
        password: str = "root",
        *,
        secure: bool = False,
        crypt: str | None = None,
        timeout: float = 10.0,
        retries: int = 2,
        verify: bool = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(base_url=url.rstrip("/"), timeout=timeout, verify=verify, transport=transport)
        self._auth = _Auth(username, password, secure, crypt)
        self._retries = retries

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, call: Call[T], prepared: _Prepared) -> T:
        attempt = 0
        while True:
            try:
                resp = self._http.request(
                    prepared.method,
                    prepared.path,
                    params=prepared.params,
                    content=prepared.body,
                    headers=prepared.headers,
                    **_wait(call),
                )
                return call.read(resp.status_code, resp.content)
            except httpx.TransportError as exc:
                if not call.idempotent or attempt >= self._retries:
                    raise DeviceUnreachable(f"{type(exc).__name__}: {exc}") from None
                time.sleep(_backoff(attempt))
                attempt += 1
                prepared = self._auth.prepare(call) if self._auth.secure else prepared

    def _run(self, call: Call[T]) -> T:
        auth = self._auth
        if auth.secure and not auth.session:
            auth.opened(self._send(*auth.handshake_prepared()))
        try:
            return self._send(call, auth.prepare(call))
        except SessionError as exc:
            if not auth.secure or exc.code != 401:
                raise
            auth.opened(self._send(*auth.handshake_prepared()))  # expired: once more
            return self._send(call, auth.prepare(call))


class AsyncClient(_Api):
    def __init__(
        self,
        url: str,
        username: str = "root",
        password: str = "root",
        *,
        secure: bool = False,
        crypt: str | None = None,
        timeout: float = 10.0,
        retries: int = 2,
        verify: bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(base_url=url.rstrip("/"), timeout=timeout, verify=verify, transport=transport)
        self._auth = _Auth(username, password, secure, crypt)
        self._retries = retries
        self._lock = asyncio.Lock()  # seq must reach the device in order

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def _one(self, results: Any) -> TaskResult:
        return (await results)[0]

    async def _send(self, call: Call[T], prepared: _Prepared) -> T:
        attempt = 0
        while True:
            try:
                resp = await self._http.request(
                    prepared.method,
                    prepared.path,
                    params=prepared.params,
                    content=prepared.body,
                    headers=prepared.headers,
                    **_wait(call),
                )
                return call.read(resp.status_code, resp.content)
            except httpx.TransportError as exc:
                if not call.idempotent or attempt >= self._retries:
                    raise DeviceUnreachable(f"{type(exc).__name__}: {exc}") from None
                await asyncio.sleep(_backoff(attempt))
                attempt += 1
                prepared = self._auth.prepare(call) if self._auth.secure else prepared

    async def _run(self, call: Call[T]) -> T:
        auth = self._auth
        if not auth.secure:
            return await self._send(call, auth.prepare(call))
        async with self._lock:
            if not auth.session:
                auth.opened(await self._send(*auth.handshake_prepared()))
            try:
                return await self._send(call, auth.prepare(call))
            except SessionError as exc:
                if exc.code != 401:
                    raise
                auth.opened(await self._send(*auth.handshake_prepared()))
                return await self._send(call, auth.prepare(call))


__all__ = ["Client", "AsyncClient", "EjoinError"]
