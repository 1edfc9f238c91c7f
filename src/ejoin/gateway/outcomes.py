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
from ..store.base import Finished, JobRecord, TaskStore

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
    """Outcomes to the store in batches.

    Normally one write is in flight at a time and what finishes meanwhile waits for the next, so
    outcomes share writes under load.  A port's own waiting outcomes also ride along with its next
    start (``ride``: written in the same piece of work as the job rows of the SMS it starts), so what
    a port finished is on disk no later than the SMS it takes next is "in a module", and after a
    crash at most one SMS per port is found there.
    """

    def __init__(self, store: TaskStore, clock: Clock, fault: StoreFault, con_failed: Callable[[Slot], int]) -> None:
        self._store = store
        self._clock = clock
        self._fault = fault
        self._con_failed = con_failed
        # (outcome, slot, its number in the order handed in), oldest first
        self._waiting: list[tuple[JobRecord, Slot, int]] = []
        self._in_flight: dict[int, list[tuple[JobRecord, Slot, int]]] = {}  # by write number, rides included
        self._writes = 0
        self._writing: int | None = None  # the batched write in flight
        self._scheduled = False
        self._retry: Timer | None = None
        self._produced = 0  # outcomes handed in
        self._barriers: deque[tuple[int, asyncio.Future[None]]] = deque()

    @property
    def pending(self) -> int:
        return len(self._waiting) + sum(len(b) for b in self._in_flight.values())

    @property
    def _durable_upto(self) -> int:
        """Every outcome numbered up to this one is on disk."""
        first = [batch[0][2] for batch in self._in_flight.values()]
        if self._waiting:
            first.append(self._waiting[0][2])
        return min(first) - 1 if first else self._produced

    def add(self, job: JobRecord, slot: Slot) -> None:
        self._produced += 1
        self._waiting.append((job, slot, self._produced))
        if not self._scheduled and self._writing is None and self._retry is None:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def durable(self) -> asyncio.Future[None]:
        """Resolves once every outcome handed in so far is on disk."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._durable_upto >= self._produced:
            fut.set_result(None)
        else:
            self._barriers.append((self._produced, fut))
            self.flush()
        return fut

    def flush(self) -> None:
        """Write what waits, unless the batched write is in flight (it follows that one) or a retry is due."""
        self._scheduled = False
        if self._writing is not None or self._retry is not None or not self._waiting:
            return
        batch, self._waiting = self._waiting, []
        number = self._lend(batch)
        self._writing = number
        finished = self._finished(batch)
        try:
            written = self._store.jobs_finish(*finished)
        except Exception as exc:  # the store is closed
            self._settled(number, exc)
            return
        written.add_done_callback(lambda f: self._settled(number, _failure(f)))

    def ride(self, ports: set[int]) -> tuple[Finished, Callable[[BaseException | None], None]] | None:
        """The waiting outcomes of these ports, to be written with the SMS they start next; and what to
        call with that write's failure (None: written).  None when none of them waits."""
        riders = [w for w in self._waiting if w[1][0] in ports]
        if not riders:
            return None
        self._waiting = [w for w in self._waiting if w[1][0] not in ports]
        number = self._lend(riders)
        return self._finished(riders), lambda exc: self._settled(number, exc)

    def _lend(self, batch: list[tuple[JobRecord, Slot, int]]) -> int:
        self._writes += 1
        self._in_flight[self._writes] = batch
        return self._writes

    def _finished(self, batch: list[tuple[JobRecord, Slot, int]]) -> Finished:
        slots = [slot for _, slot, _ in batch]
        return [job for job, _, _ in batch], slots, {slot: self._con_failed(slot) for slot in dict.fromkeys(slots)}

    def _settled(self, number: int, exc: BaseException | None) -> None:
        batch = self._in_flight.pop(number)
        if self._writing == number:
            self._writing = None
        if exc is not None:
            # Back in line by the order they happened: outcomes are written oldest first.
            self._waiting = sorted(batch + self._waiting, key=lambda w: w[2])
            delay = self._fault.failed(exc)
            if self._retry is None:
                self._retry = self._clock.call_later(delay, self._try_again)
            return
        self._fault.succeeded()
        upto = self._durable_upto
        while self._barriers and self._barriers[0][0] <= upto:
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


def _failure(fut: asyncio.Future[None]) -> BaseException | None:
    return asyncio.CancelledError() if fut.cancelled() else fut.exception()
