import asyncio

import pytest

from ejoin.clock import SystemClock, VirtualClock


async def test_timers_run_in_due_order_at_their_own_instant():
    clock = VirtualClock(start=1000.0)
    seen = []
    clock.call_later(5, lambda: seen.append(("b", clock.time())))
    clock.call_later(2, lambda: seen.append(("a", clock.time())))
    clock.call_later(9, lambda: seen.append(("c", clock.time())))
    await clock.advance(6)
    assert seen == [("a", 1002.0), ("b", 1005.0)]
    assert clock.time() == 1006.0
    await clock.advance(3)
    assert seen[-1] == ("c", 1009.0)


async def test_sleep_wakes_only_when_time_is_advanced():
    clock = VirtualClock()
    done = []

    async def sleeper():
        await clock.sleep(10)
        done.append(clock.monotonic())

    task = asyncio.create_task(sleeper())
    await clock.advance(9.9)
    assert done == []
    await clock.advance(0.1)
    assert done == [10.0]
    await task


async def test_chained_sleeps_within_one_advance():
    clock = VirtualClock()
    marks = []

    async def worker():
        for _ in range(3):
            await clock.sleep(2)
            marks.append(clock.monotonic())

    task = asyncio.create_task(worker())
    await clock.advance(7)
    assert marks == [2.0, 4.0, 6.0]
    await task


async def test_cancelled_timer_never_runs():
    clock = VirtualClock()
    seen = []
    timer = clock.call_later(1, seen.append, 1)
    timer.cancel()
    await clock.advance(5)
    assert seen == [] and clock.pending() == 0


async def test_time_does_not_go_back():
    with pytest.raises(ValueError):
        await VirtualClock().advance(-1)


async def test_system_clock_zero_delay_runs_soon():
    clock = SystemClock()
    seen = []
    clock.call_later(0, seen.append, "x")
    await asyncio.sleep(0)
    assert seen == ["x"]
