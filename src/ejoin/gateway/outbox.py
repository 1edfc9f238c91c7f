"""The durable push outbox: every push the device makes goes through here.

A push is committed to the store before anyone tries to send it and deleted
only after the receiver answered 2xx, so it survives a receiver outage and a
kill -9 (delivery is at-least-once: a push in flight at a crash is sent again).
Each destination has its own worker that sends strictly in order and retries
the head with capped exponential back-off and jitter; destinations do not wait
for each other, and nothing here ever blocks the API.
"""

from __future__ import annotations

import asyncio
import logging
import random
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
from yarl import URL

from .. import __version__
from ..clock import Clock
from ..store.base import OutboxItem, PushMarks, Store

log = logging.getLogger(__name__)

JSON_CONTENT_TYPE = "application/json; charset=utf-8"


class PushTransport(ABC):
    @abstractmethod
    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST and return the HTTP status; raise on a network failure."""

    async def close(self) -> None:  # noqa: B027 - optional hook, most transports hold nothing
        pass


class AiohttpTransport(PushTransport):
    def __init__(self, timeout: float = 10.0) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, headers={"User-Agent": f"ejoin-gateway/{__version__}"}
            )
        async with self._session.post(url, data=body, headers=headers) as resp:
            await resp.read()
            return resp.status

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


@dataclass(frozen=True)
class RetryPolicy:
    base: float = 1.0  # first retry after about this many seconds
    cap: float = 300.0  # never wait longer than this between tries
    jitter: float = 0.5  # a delay is scaled by a random factor in [1 - jitter, 1]

    def delay(self, attempts: int, rng: random.Random) -> float:
        raw = min(self.cap, self.base * (2 ** min(attempts - 1, 30)))
        return raw * (1.0 - self.jitter * rng.random())


class Outbox:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        transport: PushTransport,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
        batch: int = 64,
    ) -> None:
        self._store = store
        self._clock = clock
        self._transport = transport
        self._policy = policy or RetryPolicy()
        self._rng = rng or random.Random()
        self._batch = batch
        self._workers: dict[str, asyncio.Task] = {}
        self._dirty: set[str] = set()
        self._closed = False
        # Extra headers computed at each try (push signatures carry the time of sending).
        self.signer: Callable[[bytes], dict[str, str]] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self.delivered = 0
        self.failed_attempts = 0

    async def start(self) -> None:
        for dest in await self._store.outbox_destinations():
            self._wake(dest)

    async def stop(self) -> None:
        self._closed = True
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        self._workers.clear()
        await self._transport.close()

    def push(
        self,
        dest: str,
        kind: str,
        body: bytes,
        content_type: str = JSON_CONTENT_TYPE,
        headers: dict[str, str] | None = None,
        marks: PushMarks | None = None,
    ) -> asyncio.Future[int]:
        """Queue a push; the returned future resolves with its id once it is durable.

        ``marks`` (task progress reported, inbox rows pushed) are recorded in the same commit.
        """
        all_headers = {"Content-Type": content_type, **(headers or {})}
        fut = self._store.outbox_add(dest, kind, content_type, body, all_headers, self._clock.time(), marks)

        def committed(f: asyncio.Future[int]) -> None:
            if not f.cancelled() and f.exception() is None:
                self._wake(dest)
            elif not f.cancelled():
                log.error("a %s push to %s could not be stored: %s", kind, _safe_url(dest), f.exception())

        fut.add_done_callback(committed)
        return fut

    @property
    def busy_destinations(self) -> int:
        return len(self._workers)

    async def wait_idle(self) -> None:
        """Return once no destination has a push waiting (or being retried)."""
        await self._idle.wait()

    def _wake(self, dest: str) -> None:
        if self._closed:
            return
        self._dirty.add(dest)
        if dest not in self._workers:
            self._idle.clear()
            self._workers[dest] = asyncio.get_running_loop().create_task(self._work(dest), name=f"outbox {dest}")

    async def _work(self, dest: str) -> None:
        try:
            while True:
                self._dirty.discard(dest)
                items = await self._store.outbox_head(dest, self._batch)
                if not items:
                    if dest in self._dirty:
                        continue
                    return
                for item in items:
                    await self._deliver(item)
        except asyncio.CancelledError:
            raise
        except Exception:  # a store failure: try again later rather than die silently
            log.exception("outbox worker for %s failed; retrying in %.0fs", _safe_url(dest), self._policy.cap)
            self._clock.call_later(self._policy.cap, self._wake, dest)
        finally:
            if self._workers.get(dest) is asyncio.current_task():
                del self._workers[dest]
                if not self._workers:
                    self._idle.set()

    async def _deliver(self, item: OutboxItem) -> None:
        wait = item.next_at - self._clock.time()
        if item.attempts and wait > 0:  # back-off from before a restart still holds
            await self._clock.sleep(min(wait, self._policy.cap))
        attempts = item.attempts
        while True:
            try:
                headers = item.headers if self.signer is None else {**item.headers, **self.signer(item.body)}
                status = await self._transport.post(item.dest, item.body, headers)
                error = None if 200 <= status < 300 else f"HTTP {status}"
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if error is None:
                self._store.outbox_delete(item.id).add_done_callback(_log_failure)
                self.delivered += 1
                return
            attempts += 1
            self.failed_attempts += 1
            delay = self._policy.delay(attempts, self._rng)
            log.warning(
                "%s push %d to %s failed (%s); try %d in %.1fs",
                item.kind,
                item.id,
                _safe_url(item.dest),
                error,
                attempts + 1,
                delay,
            )
            self._store.outbox_retry(item.id, attempts, self._clock.time() + delay, error).add_done_callback(
                _log_failure
            )
            await self._clock.sleep(delay)


def _log_failure(fut: asyncio.Future) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.error("outbox bookkeeping failed: %s", fut.exception())


def _safe_url(url: str) -> str:
    """The URL without user:password, which must never reach a log."""
    try:
        u = URL(url)
        if u.user or u.password:
            return str(u.with_user(None))
        return url
    except Exception:
        return "<unparsable url>"
