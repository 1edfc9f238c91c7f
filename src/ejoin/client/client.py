"""``Client`` (sync) and ``AsyncClient`` (asyncio): the whole EJOIN API over httpx.

    from ejoin.client import Client
    with Client("http://127.0.0.1:8080", "root", "root") as dev:
        print(dev.status().status[0].state_text)
        result = dev.send_sms("13800000000", "hello")

With ``secure=True`` the client opens a spec 3 session on first use and signs
every request with ``session``/``seq``/``auth`` instead of sending the password;
``crypt="aes-ecb"`` also encrypts POST bodies.  A refused (expired) session is
reopened once, transparently.

Nothing is written twice: calls.py says what each endpoint sends and reads,
flow.py how a call becomes requests (session, signing, retries), and the two
clients only drive that flow, one with blocking I/O, one with asyncio (as the
fleet drives it toward its members over aiohttp).  The
endpoint methods are declared once (``_Endpoints``); each is typed precisely
for both clients: ``Client.status()`` returns a ``DevStatus``,
``AsyncClient.status()`` a coroutine of one.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Coroutine
from typing import Any, Generic, ParamSpec, TypeVar, overload

import httpx

from . import calls
from .calls import Call
from .errors import EjoinError, unreachable_reason
from .flow import Auth, Flow, NoAnswer, Request, Steps

T = TypeVar("T")
P = ParamSpec("P")


def _options(request: Request) -> dict[str, Any]:
    options: dict[str, Any] = {"params": request.params, "content": request.body, "headers": request.headers}
    if request.timeout is not None:  # the device may take longer than the client's usual timeout
        options["timeout"] = request.timeout
    return options


def _drive(http: httpx.Client, steps: Steps[T]) -> T:
    try:
        request = next(steps)
        while True:
            if request.delay:
                time.sleep(request.delay)
            try:
                response = http.request(request.method, request.path, **_options(request))
            except httpx.TransportError as exc:
                request = steps.throw(NoAnswer(unreachable_reason(exc)))
            else:
                request = steps.send(response)
    except StopIteration as done:
        result: T = done.value
        return result


async def _adrive(http: httpx.AsyncClient, steps: Steps[T]) -> T:
    try:
        request = next(steps)
        while True:
            if request.delay:
                await asyncio.sleep(request.delay)
            try:
                response = await http.request(request.method, request.path, **_options(request))
            except httpx.TransportError as exc:
                request = steps.throw(NoAnswer(unreachable_reason(exc)))
            else:
                request = steps.send(response)
    except StopIteration as done:
        result: T = done.value
        return result


class _Endpoint(Generic[P, T]):
    """An endpoint method: the calls.py function that builds the call, executed by the client."""

    def __init__(self, make: Callable[P, Call[T]]) -> None:
        self._make = make
        self.__doc__ = make.__doc__
        self._signature = inspect.signature(make).replace(return_annotation=inspect.Signature.empty)

    @overload
    def __get__(self, client: None, owner: type) -> _Endpoint[P, T]: ...
    @overload
    def __get__(self, client: Client, owner: type) -> Callable[P, T]: ...
    @overload
    def __get__(self, client: AsyncClient, owner: type) -> Callable[P, Coroutine[Any, Any, T]]: ...
    def __get__(self, client: Client | AsyncClient | None, owner: type) -> Any:
        if client is None:
            return self
        make = self._make

        def method(*args: P.args, **kwargs: P.kwargs) -> Any:
            return client.execute(make(*args, **kwargs))

        method.__name__ = method.__qualname__ = make.__name__
        method.__doc__ = make.__doc__
        method.__signature__ = self._signature  # type: ignore[attr-defined]
        return method


class _Endpoints:
    """The API, for both clients."""

    # status and commands
    status = _Endpoint(calls.status)
    command = _Endpoint(calls.command)
    lock = _Endpoint(calls.lock)
    unlock = _Endpoint(calls.unlock)
    switch = _Endpoint(calls.switch)
    reset = _Endpoint(calls.reset)
    led = _Endpoint(calls.led)
    save = _Endpoint(calls.save)
    reboot = _Endpoint(calls.reboot)
    multiple = _Endpoint(calls.multiple)
    get_params = _Endpoint(calls.get_params)
    set_params = _Endpoint(calls.set_params)
    # sending
    send = _Endpoint(calls.send)
    send_sms = _Endpoint(calls.send_sms)
    pause = _Endpoint(calls.pause)
    resume = _Endpoint(calls.resume)
    remove = _Endpoint(calls.remove)
    tasks = _Endpoint(calls.tasks)
    # receiving, statistics, eSIM
    inbox = _Endpoint(calls.inbox)
    sms_stats = _Endpoint(calls.sms_stats)
    call_stats = _Endpoint(calls.call_stats)
    esims = _Endpoint(calls.esims)
    write_esims = _Endpoint(calls.write_esims)
    delete_esims = _Endpoint(calls.delete_esims)
    # the push queue (ejoin gateways: not part of the vendor's API)
    pushes = _Endpoint(calls.pushes)
    retry_pushes = _Endpoint(calls.retry_pushes)
    drop_pushes = _Endpoint(calls.drop_pushes)
    # a fleet's members (ejoin fleet: not part of the vendor's API)
    fleet_members = _Endpoint(calls.fleet_members)
    add_fleet_member = _Endpoint(calls.add_fleet_member)
    remove_fleet_member = _Endpoint(calls.remove_fleet_member)
    # USSD and AT passthrough
    ussd = _Endpoint(calls.ussd)
    ussd_cancel = _Endpoint(calls.ussd_cancel)
    at = _Endpoint(calls.at)


class Client(_Endpoints):
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
        self._flow = Flow(Auth(username, password, secure, crypt), retries)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def execute(self, call: Call[T]) -> T:
        """Any call (calls.py): its answer, read."""
        return _drive(self._http, self._flow.run(call))


class AsyncClient(_Endpoints):
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
        self._flow = Flow(Auth(username, password, secure, crypt), retries)
        self._lock = asyncio.Lock()  # a session's seq must reach the device in order

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def execute(self, call: Call[T]) -> T:
        """Any call (calls.py): its answer, read."""
        if not self._flow.auth.secure:
            return await _adrive(self._http, self._flow.run(call))
        async with self._lock:
            return await _adrive(self._http, self._flow.run(call))


__all__ = ["Client", "AsyncClient", "EjoinError"]
