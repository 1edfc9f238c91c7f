"""The outcome writer and the store-fault back-off, on the virtual clock with a fake store."""

from __future__ import annotations

import asyncio

from ejoin.clock import VirtualClock
from ejoin.gateway.outcomes import OutcomeWriter, StoreFault
from ejoin.store.base import JobRecord


class FlakyStore:
    def __init__(self) -> None:
        self.full = False
        self.written: list[int] = []
        self.calls = 0

    def jobs_finish(self, jobs, slots, con):
        self.calls += 1
        fut = asyncio.get_running_loop().create_future()
        if self.full:
            fut.set_exception(OSError("database or disk is full"))
        else:
            self.written.extend(j.idx for j in jobs)
            fut.set_result(None)
        return fut


def _job(i: int) -> JobRecord:
    return JobRecord(1, 0, i, f"1380000{i:04d}", "1.01", 2, 0)


async def _turns(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_the_delay_doubles_per_try_up_to_the_cap_and_simultaneous_failures_count_once():
    clock = VirtualClock()
    fault = StoreFault(clock)
    assert fault.failed(OSError("full")) == 0.5
    assert fault.failed(OSError("full")) == 0.5  # a second port failing in the same instant
    await clock.advance(0.5)
    assert fault.failed(OSError("full")) == 1.0
    for _ in range(10):
        await clock.advance(fault.retry_at - clock.time())
        delay = fault.failed(OSError("full"))
    assert delay == StoreFault.MAX_DELAY
    fault.succeeded()
    assert not fault.failing
    assert fault.failed(OSError("full")) == 0.5


async def test_failed_writes_are_retried_in_order_and_the_barrier_waits_for_them():
    clock = VirtualClock()
    store = FlakyStore()
    fault = StoreFault(clock)
    writer = OutcomeWriter(store, clock, fault, lambda slot: 0)
    writer.add(_job(0), (1, 1))
    await _turns()
    assert store.written == [0]
    store.full = True
    writer.add(_job(1), (1, 1))
    writer.add(_job(2), (1, 1))
    barrier = writer.durable()
    await _turns()
    assert not barrier.done() and fault.failing and writer.pending == 2
    writer.add(_job(3), (1, 1))
    await clock.advance(10)  # retried on the clock (0.5, 1, 2, 4 s ...), not in a loop
    assert 2 <= store.calls <= 7
    assert not barrier.done()
    store.full = False
    await clock.advance(30)
    await _turns()
    assert store.written == [0, 1, 2, 3]  # in the order they happened, each once
    assert barrier.done() and writer.pending == 0 and not fault.failing


class HeldStore:
    """Each write's future is settled by the test, in any order."""

    def __init__(self) -> None:
        self.writes: list[tuple[list[int], asyncio.Future[None]]] = []

    def jobs_finish(self, jobs, slots, con):
        fut = asyncio.get_running_loop().create_future()
        self.writes.append(([j.idx for j in jobs], fut))
        return fut


async def test_a_ports_outcomes_ride_with_its_next_start_and_the_barrier_waits_for_the_oldest():
    clock = VirtualClock()
    store = HeldStore()
    fault = StoreFault(clock)
    writer = OutcomeWriter(store, clock, fault, lambda slot: 0)
    writer.add(_job(0), (1, 1))
    await _turns()
    writer.add(_job(1), (2, 1))
    writer.add(_job(2), (3, 1))
    await _turns()
    assert [w for w, _ in store.writes] == [[0]]  # one batched write in flight: the next outcomes wait ...
    assert writer.ride({1}) is None  # (port 1 has nothing waiting)
    riding = writer.ride({2})  # ... but port 2's goes with the SMS port 2 starts next
    assert riding is not None
    (jobs, slots, _), settle = riding
    assert [j.idx for j in jobs] == [1] and slots == [(2, 1)]
    barrier = writer.durable()
    settle(None)  # the start (and the ride) is on disk first
    await _turns()
    assert not barrier.done() and writer.pending == 2
    store.writes[0][1].set_exception(OSError("disk full"))  # the oldest write failed: tried again, in front
    await _turns()
    assert not barrier.done()
    await clock.advance(fault.retry_at - clock.time())
    assert [w for w, _ in store.writes][1:] == [[0, 2]]
    store.writes[1][1].set_result(None)
    await _turns()
    assert barrier.done() and writer.pending == 0
