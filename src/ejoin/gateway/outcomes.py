"""SMS outcomes on their way to disk: batched, retried until written, never dropped.

Outcomes finished in one turn of the loop go to the store in one write
(outcome rows, per-minute counters, failures in a row).  One write is in
flight at a time; what finishes meanwhile waits for the next.  A write that
fails (a full disk) is put back in front and tried again on the clock with a
growing delay, so nothing is lost and nothing spins.  ``durable()`` is the
barrier status reports wait on: a report never says "sent" before the store
does.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from ..clock import Clock, Timer
from ..store.base import JobRecord, Store

log = logging.getLogger(__name__)

Slot = tuple[int, int]


class StoreFault:
    """Whether the store takes writes; senders and outcome writes back off while it does not.

    Logged once when it starts failing and once when it recovers, whatever the rate of
    failing writes in between.
    """

    FIRST_DELAY = 0.5
    MAX_DELAY = 30.0

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.reason: str | None = None
        self.retry_at = 0.0
        self._delay = 0.0

    @property
    def failing(self) -> bool:
        return self.reason is not None

    def failed(self, exc: BaseException) -> float:
        """Note a failed write; the delay before the next try.

        Writes that fail together (every port at once) count as one try: the delay grows
        only for a try made after the last back-off ran out.
        """
        now = self._clock.time()
        if now >= self.retry_at:
            self._delay = min(self.MAX_DELAY, self._delay * 2) if self._delay else self.FIRST_DELAY
            self.retry_at = now + self._delay
        if self.reason is None:
            self.reason = str(exc) or type(exc).__name__
            log.error("the store cannot be written (%s): sending waits and retries", self.reason)
        return self.retry_at - now

    def succeeded(self) -> None:
        if self.reason is not None:
            log.warning("the store takes writes again; sending goes on")
        self.reason = None
        self._delay = 0.0
        self.retry_at = 0.0


class OutcomeWriter:
    def __init__(self, store: Store, clock: Clock, fault: StoreFault, con_failed: Callable[[Slot], int]) -> None:
        self._store = store
        self._clock = clock
        self._fault = fault
        self._con_failed = con_failed
        self._waiting: list[tuple[JobRecord, Slot]] = []
        self._writing = False
        self._scheduled = False
        self._retry: Timer | None = None
        self._produced = 0  # outcomes handed in
        self._written = 0  # outcomes durable (written in order, so a count is enough)
        self._barriers: deque[tuple[int, asyncio.Future[None]]] = deque()

    @property
    def pending(self) -> int:
        return self._produced - self._written

    def add(self, job: JobRecord, slot: Slot) -> None:
        self._waiting.append((job, slot))
        self._produced += 1
        if not self._scheduled and not self._writing and self._retry is None:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def durable(self) -> asyncio.Future[None]:
        """Resolves once every outcome handed in so far is on disk."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._written >= self._produced:
            fut.set_result(None)
        else:
            self._barriers.append((self._produced, fut))
            self.flush()
        return fut

    def flush(self) -> None:
        self._scheduled = False
        if self._writing or self._retry is not None or not self._waiting:
            return
        batch, self._waiting = self._waiting, []
        slots = [slot for _, slot in batch]
        con = {slot: self._con_failed(slot) for slot in dict.fromkeys(slots)}
        self._writing = True
        self._store.jobs_finish([job for job, _ in batch], slots, con).add_done_callback(
            lambda f: self._written_or_not(batch, f)
        )

    def _written_or_not(self, batch: list[tuple[JobRecord, Slot]], fut: asyncio.Future[None]) -> None:
        self._writing = False
        exc = None if fut.cancelled() else fut.exception()
        if fut.cancelled() or exc is not None:
            self._waiting[:0] = batch  # in front: outcomes are written in the order they happened
            delay = self._fault.failed(exc or asyncio.CancelledError())
            self._retry = self._clock.call_later(delay, self._try_again)
            return
        self._fault.succeeded()
        self._written += len(batch)
        while self._barriers and self._barriers[0][0] <= self._written:
            _, barrier = self._barriers.popleft()
            if not barrier.done():
                barrier.set_result(None)
        if self._waiting:
            self.flush()

    def _try_again(self) -> None:
        self._retry = None
        self.flush()

    def cancel(self) -> None:
        """At a stop: the retry timer goes; unwritten outcomes stay "in a module" on disk (interrupted)."""
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
