"""The durable push outbox: every push the device makes goes through here.

A push is committed to the store before anyone tries to send it and deleted
only after the receiver answered 2xx, so it survives a receiver outage and a
kill -9 (delivery is at-least-once: a push in flight at a crash is sent again).
The next push of a destination is sent only once the deletion of the one before
is durable, so a crash repeats the push in flight at most.
Each destination has its own worker that sends strictly in order and retries
the head with capped exponential back-off and jitter, grown per destination (a
receiver that refuses connections is backed off, not hammered); destinations do
not wait for each other, and nothing here ever blocks the API.

Delivery is bounded: a push still failing ``window`` seconds (default 3 days)
after it was queued goes to the dead-letter table, with every push of its
destination queued before then, where it stays until it is replayed or dropped.
"""

from __future__ import annotations

import asyncio
import logging
import random
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
from yarl import URL

from .. import __version__
from ..clock import Clock
from ..logs import ThrottledLog
from ..store.base import OutboxItem, OutboxStore, PushMarks, PushQueueSummary

log = logging.getLogger(__name__)
# A line per message for the person watching (never the text), throttled at high rates.
_delivered = ThrottledLog(log, "push delivered")

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
FORGET_FOR = 259_200.0  # seconds a forgotten destination's pushes are dropped (3 days), unless replayed
MAX_FORGOTTEN = 10_000  # forgotten destinations remembered (the oldest go first)


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
            # No cap on connections (aiohttp's default is 100 in all): each destination sends one push at a
            # time anyway, and a hundred hanging receivers must not make the others wait for a connection.
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                headers={"User-Agent": f"ejoin-gateway/{__version__}"},
                connector=aiohttp.TCPConnector(limit=0),
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
    window: float = 259_200.0  # a push failing this long after it was queued goes to the dead-letter table
    dead_keep: int = 10_000  # dead pushes kept per destination (the oldest beyond are deleted)

    def delay(self, attempts: int, rng: random.Random) -> float:
        raw = min(self.cap, self.base * (2 ** min(attempts - 1, 30)))
        return raw * (1.0 - self.jitter * rng.random())


@dataclass
class Destination:
    """What the outbox knows of one destination in memory (counts kept exact as pushes come and go)."""

    url: str
    queued: int = 0
    dead: int = 0
    failures: int = 0  # failed tries in a row (the back-off grows with it; a delivery resets it)
    last_error: str = ""
    next_retry: float | None = None  # while backing off: when the next try is due
    delivered: int = 0
    failed_attempts: int = 0
    died: int = 0  # pushes moved to the dead-letter table by this process
    generation: int = 0  # bumped by replay/drop: a worker reads the queue again
    nudge: asyncio.Future[None] | None = field(default=None, repr=False)
    # push id -> what to call once it has left the queue (Outbox.push's ``settled``)
    settled: dict[int, Callable[[], None]] = field(default_factory=dict, repr=False)

    def settle(self, push_id: int | None = None) -> None:
        """Call the ``settled`` of one push (it was delivered), or of every push (the queue was
        changed as a whole: a drop, a move to the dead-letter table)."""
        if push_id is None:
            callbacks = list(self.settled.values())
            self.settled.clear()
        else:
            callback = self.settled.pop(push_id, None)
            callbacks = [] if callback is None else [callback]
        for callback in callbacks:
            try:
                callback()
            except Exception:  # one listener's bug must not stop a destination's worker
                log.exception("a push's settled callback failed")


class Outbox:
    def __init__(
        self,
        store: OutboxStore,
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
        self._dests: dict[str, Destination] = {}
        # Extra headers computed at each try (push signatures carry the time of sending).
        self.signer: Callable[[bytes], dict[str, str]] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        # Destinations dropped with ``forget``: what is queued for them later is dropped too, until then.
        self._forgotten: dict[str, float] = {}
        self.delivered = 0
        self.failed_attempts = 0

    @property
    def policy(self) -> RetryPolicy:
        return self._policy

    async def start(self) -> None:
        for summary in await self._store.outbox_summary():
            dest = self._dest(summary.dest)
            dest.queued, dest.dead, dest.failures = summary.queued, summary.dead, summary.attempts
            dest.last_error, dest.next_retry = summary.last_error, summary.next_at
            if summary.queued:
                self._wake(summary.dest)

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
        settled: Callable[[], None] | None = None,
    ) -> asyncio.Future[int]:
        """Queue a push; the returned future resolves with its id once it is durable.

        ``marks`` (task progress reported, inbox rows pushed) are recorded in the same commit.
        ``settled`` is called once the push has left the queue: delivered, or moved to the
        dead-letter table or dropped (then perhaps a little early: it is a hint for pacing, such
        as the report cache's, never a promise of delivery).  Not called if it cannot be stored.
        """
        all_headers = {"Content-Type": content_type, **(headers or {})}
        fut = self._store.outbox_add(dest, kind, content_type, body, all_headers, self._clock.time(), marks)

        def committed(f: asyncio.Future[int]) -> None:
            if not f.cancelled() and f.exception() is None:
                state = self._dest(dest)
                state.queued += 1
                if settled is not None:
                    state.settled[f.result()] = settled
                self._wake(dest)
            elif not f.cancelled():
                log.error("a %s push to %s could not be stored: %s", kind, _safe_url(dest), f.exception())

        fut.add_done_callback(committed)
        return fut

    def poke(self, dest: str) -> None:
        """Pushes for ``dest`` may be waiting that this process did not queue (a store shared by replicas)."""
        self._wake(dest)

    @property
    def busy_destinations(self) -> int:
        return len(self._workers)

    def destinations(self) -> list[Destination]:
        """Every destination with pushes waiting or dead, or tried by this process (from memory, no I/O)."""
        return sorted(self._dests.values(), key=lambda d: d.url)

    async def summary(self) -> list[PushQueueSummary]:
        """Per destination, from the store: waiting and dead pushes, their ages, the head's retry state."""
        return await self._store.outbox_summary()

    async def replay(self, dest: str | None) -> dict[str, int]:
        """Dead pushes (of ``dest``, or all) queued again, in their old order, and tried at once."""
        if dest is not None:
            self._forgotten.pop(dest, None)  # a person asked for its pushes: it is not gone after all
        moved = await self._store.outbox_revive(dest, self._clock.time())
        for url, n in moved.items():
            self._forgotten.pop(url, None)
            state = self._dest(url)
            state.dead = max(0, state.dead - n)
            state.queued += n
            state.failures = 0  # a person asked: try now, not after the back-off reached so far
            self._requeue(url)
        if moved:
            log.info("replaying %d dead pushes (%s)", sum(moved.values()), ", ".join(_safe_url(u) for u in moved))
        return moved

    async def drop(self, dest: str | None, queued: bool = False, forget: bool = False) -> dict[str, tuple[int, int]]:
        """Delete dead pushes (and with ``queued`` the waiting ones) of ``dest`` or all; (dead, queued) per dest.

        ``forget`` (one ``dest``; implies ``queued``): pushes queued for it from now on are dropped too, for
        3 days, until it is replayed or until this process ends (a report URL that is gone: ``ejoin send``
        when it stops following a task that goes on)."""
        if forget:
            if dest is None:
                raise ValueError("forget names one destination")
            self._forgotten.pop(dest, None)  # kept in the order forgotten: the oldest go first
            self._forgotten[dest] = self._clock.time() + FORGET_FOR
            while len(self._forgotten) > MAX_FORGOTTEN:
                del self._forgotten[next(iter(self._forgotten))]
            queued = True
        dropped = await self._store.outbox_drop(dest, queued)
        for url, (dead, waiting) in dropped.items():
            state = self._dest(url)
            state.dead = max(0, state.dead - dead)
            state.queued = max(0, state.queued - waiting)
            if waiting:
                state.settle()
                self._requeue(url)
        if dropped:
            log.info(
                "dropped %d dead and %d waiting pushes (%s)",
                sum(d for d, _ in dropped.values()),
                sum(w for _, w in dropped.values()),
                ", ".join(_safe_url(u) for u in dropped),
            )
        return dropped

    async def wait_idle(self) -> None:
        """Return once no destination has a push waiting (or being retried)."""
        await self._idle.wait()

    @property
    def forgotten(self) -> list[str]:
        """The destinations whose pushes are dropped as they come (``drop(..., forget=True)``)."""
        return [dest for dest in list(self._forgotten) if self.forgets(dest)]

    def forgets(self, dest: str) -> bool:
        """Whether pushes queued for ``dest`` are dropped (``drop(..., forget=True)``, not expired)."""
        until = self._forgotten.get(dest)
        if until is not None and self._clock.time() > until:
            del self._forgotten[dest]
            until = None
        return until is not None

    async def _drop_forgotten(self, dest: str, state: Destination) -> None:
        dropped = await self._store.outbox_drop(dest, True)
        dead, waiting = dropped.get(dest, (0, 0))
        state.dead, state.queued = max(0, state.dead - dead), max(0, state.queued - waiting)
        state.settle()
        log.debug("dropped %d pushes for %s: it was forgotten", dead + waiting, _safe_url(dest))

    def _dest(self, url: str) -> Destination:
        state = self._dests.get(url)
        if state is None:
            state = self._dests[url] = Destination(url)
        return state

    def _requeue(self, url: str) -> None:
        """The queue of ``url`` changed under its worker: read it again, now (cutting a back-off short)."""
        state = self._dest(url)
        state.generation += 1
        if state.nudge is not None and not state.nudge.done():
            state.nudge.set_result(None)
        self._wake(url)

    def _wake(self, dest: str) -> None:
        if self._closed:
            return
        self._dirty.add(dest)
        if dest not in self._workers:
            self._idle.clear()
            self._workers[dest] = asyncio.get_running_loop().create_task(self._work(dest), name=f"outbox {dest}")

    async def _work(self, dest: str) -> None:
        state = self._dest(dest)
        try:
            while True:
                self._dirty.discard(dest)
                generation = state.generation
                if self.forgets(dest):  # what came for it is dropped, never tried
                    await self._drop_forgotten(dest, state)
                    if dest in self._dirty:
                        continue
                    return
                items = await self._store.outbox_head(dest, self._batch)
                if not items:
                    state.next_retry = None
                    if dest in self._dirty:
                        continue
                    state.settle()  # nothing waits: whatever is still listened for has left the queue
                    return
                head = items[0]
                wait = head.next_at - self._clock.time()
                if head.attempts and wait > 0 and state.failures:  # back-off from before a restart still holds
                    await self._pause(state, min(wait, self._policy.cap))
                    continue
                for item in items:
                    # The head is retried from memory until it is delivered, unless a replay, drop or
                    # dead-letter move changed the queue meanwhile: then it is read again.
                    while state.generation == generation:
                        delay = await self._try(item, state)
                        if delay is None:
                            break
                        await self._pause(state, delay)
                    if state.generation != generation:
                        break
        except asyncio.CancelledError:
            raise
        except Exception:  # a store failure: try again later rather than die silently
            log.exception("outbox worker for %s failed; retrying in %.0fs", _safe_url(dest), self._policy.cap)
            self._clock.call_later(self._policy.cap, self._wake, dest)
        finally:
            if self._workers.get(dest) is asyncio.current_task():
                del self._workers[dest]
                if state.queued <= 0 and state.dead <= 0 and self._dests.get(dest) is state:
                    del self._dests[dest]  # forget finished destinations (e.g. each `ejoin send` has its own URL)
                if not self._workers:
                    self._idle.set()

    async def _pause(self, state: Destination, delay: float) -> None:
        """Wait ``delay`` on the clock, or until a replay or drop cuts it short."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        state.nudge = fut

        def due() -> None:
            if not fut.done():
                fut.set_result(None)

        timer = self._clock.call_later(delay, due)
        try:
            await fut
        finally:
            timer.cancel()
            state.nudge = None
            state.next_retry = None

    async def _try(self, item: OutboxItem, state: Destination) -> float | None:
        """One try of ``item``: None once delivered, else the back-off before the destination's next try."""
        try:
            headers = item.headers if self.signer is None else {**item.headers, **self.signer(item.body)}
            status = await self._transport.post(item.dest, item.body, headers)
            error = None if 200 <= status < 300 else f"HTTP {status}"
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if error is None:
            _delivered.info("%s push %d delivered to %s", item.kind, item.id, _safe_url(item.dest))
            # The next push goes only once this deletion is on disk: after a kill -9, the push in flight
            # at most is sent again, never the ones delivered before it.  (Not awaited, the next POST
            # raced the commit, and up to a batch of delivered pushes came back after a restart.)  If
            # the store fails here the worker reads the head again: this push is sent again, as at a crash.
            await self._store.outbox_delete(item.id)
            self.delivered += 1
            state.delivered += 1
            state.queued = max(0, state.queued - 1)  # (a drop may have counted it already)
            state.failures = 0
            state.last_error = ""
            state.settle(item.id)
            return None
        attempts = item.attempts + 1
        now = self._clock.time()
        self.failed_attempts += 1
        state.failed_attempts += 1
        # The destination's failures in a row, not the item's: after a push goes dead the next one
        # starts at the back-off reached, so a receiver that keeps refusing is never hammered.
        state.failures = max(state.failures, item.attempts) + 1
        state.last_error = error
        delay = self._policy.delay(state.failures, self._rng)
        state.next_retry = now + delay
        self._store.outbox_retry(item.id, attempts, now + delay, error)
        item.attempts, item.next_at = attempts, now + delay
        if now - item.created >= self._policy.window:
            await self._bury(item, state, now, error)
            return delay
        log.warning(
            "%s push %d to %s failed (%s); try %d in %.1fs",
            item.kind,
            item.id,
            _safe_url(item.dest),
            error,
            attempts + 1,
            delay,
        )
        return delay

    async def _bury(self, item: OutboxItem, state: Destination, now: float, error: str) -> None:
        """The head failed past the window: it, and all queued before the window began, go dead."""
        moved = await self._store.outbox_kill(item.dest, now - self._policy.window, now, error, self._policy.dead_keep)
        state.queued = max(0, state.queued - moved)
        state.dead = min(state.dead + moved, self._policy.dead_keep)
        state.died += moved
        state.generation += 1
        state.settle()
        log.warning(
            "%d push(es) to %s moved to the dead-letter table: failing for %.0f s (last: %s); "
            "`ejoin pushes retry` replays them",
            moved,
            _safe_url(item.dest),
            now - item.created,
            error,
        )


def _safe_url(url: str) -> str:
    """The URL without user:password, which must never reach a log."""
    try:
        u = URL(url)
        if u.user or u.password:
            return str(u.with_user(None))
        return url
    except Exception:
        return "<unparsable url>"
