import asyncio
import random

import pytest

from ejoin.clock import VirtualClock
from ejoin.gateway.outbox import FORGET_FOR, Outbox, RetryPolicy
from ejoin.store.sqlite import SQLiteStore

from ..outbox_faults import ScriptedTransport, StoppingOutboxStore


@pytest.fixture
async def store(tmp_path):
    s = SQLiteStore(tmp_path / "o.sqlite3")
    await s.open()
    yield s
    await s.close()


def make(store, clock, transport, **policy):
    return Outbox(store, clock, transport, RetryPolicy(**policy), random.Random(1))


async def test_pushes_arrive_in_order(store):
    clock = VirtualClock()
    t = ScriptedTransport(clock)
    box = make(store, clock, t)
    await box.start()
    for i in range(50):
        box.push("http://a/", "k", str(i).encode())
    await t.wait(lambda: len(t.delivered) == 50)
    assert [b for _, b in t.delivered] == [str(i).encode() for i in range(50)]
    await asyncio.wait_for(box.wait_idle(), 5)
    assert await store.outbox_count() == 0
    await box.stop()


async def test_failed_push_is_retried_with_capped_backoff_and_keeps_order(store):
    clock = VirtualClock(start=0.0)
    t = ScriptedTransport(clock)
    t.down.add("http://a/")
    box = make(store, clock, t, base=1.0, cap=8.0, jitter=0.5)
    await box.start()
    await box.push("http://a/", "k", b"first")
    await box.push("http://a/", "k", b"second")
    # The first try follows a real read from the DB thread; time must not move before it.
    await t.wait(lambda: len(t.attempts) >= 1)
    for _ in range(8):
        await clock.advance(8.0)
    await t.wait(lambda: len(t.attempts) >= 7)
    times = [at for url, body, at in t.attempts]
    assert all(body == b"first" for _, body, _ in t.attempts)  # the head blocks, in order
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    # each gap is base*2^(n-1) scaled into [0.5, 1], never above the cap
    for n, gap in enumerate(gaps[:3], start=1):
        assert 0.5 * 2 ** (n - 1) <= gap <= 2 ** (n - 1)
    assert max(gaps) <= 8.0
    assert box.failed_attempts == len(t.attempts)
    t.down.clear()
    await clock.advance(8.0)
    await t.wait(lambda: len(t.delivered) == 2)
    assert [b for _, b in t.delivered] == [b"first", b"second"]
    await box.stop()


async def test_a_dead_receiver_does_not_hold_up_another(store):
    clock = VirtualClock()
    t = ScriptedTransport(clock)
    t.hang.add("http://slow/")
    t.down.add("http://down/")
    box = make(store, clock, t)
    await box.start()
    box.push("http://slow/", "k", b"s")
    box.push("http://down/", "k", b"d")
    for i in range(5):
        box.push("http://ok/", "k", str(i).encode())
    await t.wait(lambda: len([d for d in t.delivered if d[0] == "http://ok/"]) == 5)
    await box.stop()
    assert await store.outbox_count() == 2  # the other two are still kept


async def test_pending_pushes_survive_a_restart(tmp_path):
    path = tmp_path / "o.sqlite3"
    clock = VirtualClock()
    store = SQLiteStore(path)
    await store.open()
    t = ScriptedTransport(clock)
    t.down.add("http://a/")
    box = make(store, clock, t)
    await box.start()
    for i in range(3):
        await box.push("http://a/", "k", str(i).encode())
    await t.wait(lambda: len(t.attempts) >= 1)
    await box.stop()
    await store.close()

    store = SQLiteStore(path)
    await store.open()
    t2 = ScriptedTransport(clock)
    box2 = make(store, clock, t2)
    await box2.start()
    await clock.advance(2.0)  # the back-off recorded before the restart still holds
    await t2.wait(lambda: len(t2.delivered) == 3)
    assert [b for _, b in t2.delivered] == [b"0", b"1", b"2"]
    await box2.stop()
    await store.close()


async def test_after_a_kill_only_the_push_in_flight_is_sent_again(tmp_path):
    # The store stops (the process dies) just as push 3 was delivered, before its deletion committed.
    path = tmp_path / "o.sqlite3"
    clock = VirtualClock()
    store = SQLiteStore(path)
    await store.open()
    for i in range(1, 7):  # queued before the outbox starts: its worker reads all six in one head
        await store.outbox_add("http://a/", "k", "application/json", str(i).encode(), {}, clock.time())
    stopping = StoppingOutboxStore(store, stop_at_delete=3)
    t = ScriptedTransport(clock)
    box = make(stopping, clock, t)
    await box.start()
    await asyncio.wait_for(stopping.stopped.wait(), 5)
    # nothing more went out while push 3's deletion was not on disk (before: 4, 5 and 6 did)
    assert [b for _, b in t.delivered] == [b"1", b"2", b"3"]
    await box.stop()
    await store.close()

    store = SQLiteStore(path)
    await store.open()
    t2 = ScriptedTransport(clock)
    box2 = make(store, clock, t2)
    await box2.start()
    await t2.wait(lambda: len(t2.delivered) == 4)
    assert [b for _, b in t2.delivered] == [b"3", b"4", b"5", b"6"]  # 3, in flight at the kill, again
    await asyncio.wait_for(box2.wait_idle(), 5)
    assert await store.outbox_count() == 0
    await box2.stop()
    await store.close()


def test_retry_policy_bounds():
    policy = RetryPolicy(base=2.0, cap=30.0, jitter=0.25)
    rng = random.Random(5)
    for attempts in range(1, 40):
        d = policy.delay(attempts, rng)
        raw = min(30.0, 2.0 * 2 ** (attempts - 1))
        assert 0.75 * raw <= d <= raw


DAY = 86_400.0


def settled(store, clock):
    """Virtual time moves only once the DB thread has done what was asked (as the device fixtures do)."""
    clock.add_quiescer(store.quiesce)
    return clock


async def advance_until(clock, predicate, step, limit):
    """Advance virtual time in ``step``s until ``predicate()`` holds (at most ``limit`` seconds)."""
    spent = 0.0
    while not predicate():
        assert spent < limit, "the condition never held"
        await clock.advance(step)
        spent += step


async def test_a_push_failing_past_the_window_goes_dead_with_everything_older(store):
    clock = settled(store, VirtualClock(start=0.0))
    t = ScriptedTransport(clock)
    t.down.add("http://dead/")
    box = make(store, clock, t, base=1.0, cap=3600.0, window=3 * DAY)
    await box.start()
    await box.push("http://dead/", "k", b"old-1")
    await box.push("http://dead/", "k", b"old-2")
    await clock.advance(2 * DAY)
    await box.push("http://dead/", "k", b"young")  # queued a day later: retried for its own 3 days
    await advance_until(clock, lambda: box.destinations()[0].dead, 600.0, 2 * DAY)
    assert clock.time() >= 3 * DAY
    [summary] = await store.outbox_summary()
    assert (summary.queued, summary.dead) == (
        1,
        2,
    ) and summary.last_error == "ConnectionRefusedError: connection refused"
    [state] = box.destinations()
    assert (state.queued, state.dead, state.died) == (1, 2, 2)
    # only the head was ever tried; what went dead with it was not tried once more
    assert {body for _, body, _ in t.attempts} == {b"old-1"}
    # The young push inherits the back-off reached: the destination is not hammered again from 1 s.
    before = len(t.attempts)
    await clock.advance(600.0)
    assert len(t.attempts) - before <= 1
    await advance_until(clock, lambda: box.destinations()[0].queued == 0, 600.0, 4 * DAY)
    assert clock.time() >= 5 * DAY and box.destinations()[0].dead == 3
    await box.stop()


async def test_dead_pushes_are_replayed_in_their_old_place_or_dropped(store):
    clock = settled(store, VirtualClock(start=0.0))
    t = ScriptedTransport(clock)
    t.down.add("http://a/")
    box = make(store, clock, t, base=1.0, cap=3600.0, window=DAY)
    await box.start()
    for body in (b"1", b"2"):
        await box.push("http://a/", "k", body)
    await advance_until(clock, lambda: box.destinations()[0].dead == 2, 3600.0, 2 * DAY)
    await box.push("http://a/", "k", b"3")  # queued after they went dead
    await clock.settle()
    t.down.clear()
    # Still backing off (up to an hour); the replay cuts it short and puts 1 and 2 before 3.
    moved = await box.replay("http://a/")
    assert moved == {"http://a/": 2}
    await t.wait(lambda: len(t.delivered) == 3)
    assert [b for _, b in t.delivered] == [b"1", b"2", b"3"]
    await asyncio.wait_for(box.wait_idle(), 5)
    assert await store.outbox_summary() == [] and box.destinations() == []

    t.down.add("http://a/")
    await box.push("http://a/", "k", b"4")
    await advance_until(clock, lambda: box.destinations()[0].dead == 1, 3600.0, 2 * DAY)
    await box.push("http://a/", "k", b"5")
    assert await box.drop("http://a/") == {"http://a/": (1, 0)}
    assert await box.drop(None, queued=True) == {"http://a/": (0, 1)}
    await asyncio.wait_for(box.wait_idle(), 5)
    assert await store.outbox_count() == 0 and await store.outbox_summary() == []
    t.down.clear()
    await clock.advance(3600.0)
    assert [b for _, b in t.delivered] == [b"1", b"2", b"3"]  # 4 and 5 were dropped, never sent
    await box.stop()


async def test_dead_pushes_stay_dead_across_a_restart_and_are_capped(tmp_path):
    path = tmp_path / "o.sqlite3"
    clock = VirtualClock(start=0.0)
    store = SQLiteStore(path)
    await store.open()
    settled(store, clock)
    t = ScriptedTransport(clock)
    t.down.add("http://a/")
    box = make(store, clock, t, base=1.0, cap=600.0, window=DAY, dead_keep=3)
    await box.start()
    for i in range(5):
        await box.push("http://a/", "k", str(i).encode())
    await advance_until(clock, lambda: box.destinations()[0].dead, 600.0, 2 * DAY)
    await box.stop()
    await store.close()

    store = SQLiteStore(path)
    await store.open()
    settled(store, clock)
    t2 = ScriptedTransport(clock)
    box2 = make(store, clock, t2, window=DAY)
    await box2.start()
    [state] = box2.destinations()
    assert (state.queued, state.dead) == (0, 3)  # the newest 3 of 5 are kept
    await clock.advance(DAY)
    assert t2.attempts == []  # dead pushes are not retried by themselves
    assert await box2.replay(None) == {"http://a/": 3}
    await t2.wait(lambda: len(t2.delivered) == 3)
    assert [b for _, b in t2.delivered] == [b"2", b"3", b"4"]
    await box2.stop()
    await store.close()


async def test_a_forgotten_destination_drops_what_comes_for_it_later_for_three_days(store):
    # ejoin send stopped following a task that goes on: its report URL is gone for good
    clock = VirtualClock(start=0.0)
    t = ScriptedTransport(clock)
    t.down.add("http://cli/")
    box = make(store, clock, t, window=100.0)  # the retry window does not bound the forgetting
    await box.start()
    await box.push("http://cli/", "status-report", b"first")
    await t.wait(lambda: len(t.attempts) == 1)  # tried, refused, backing off
    assert await box.drop("http://cli/", forget=True) == {"http://cli/": (0, 1)}
    assert box.forgotten == ["http://cli/"]
    await box.push("http://cli/", "status-report", b"later")  # the task's next report
    await box.push("http://platform/", "status-report", b"other")
    await t.wait(lambda: len(t.delivered) == 1)
    await asyncio.wait_for(box.wait_idle(), 5)
    assert await store.outbox_count() == 0 and [b for _, b, _ in t.attempts] == [b"first", b"other"]
    assert box.destinations() == []  # nothing left to show for it (delivered ones are forgotten too)
    await clock.advance(101.0)
    assert box.forgotten == ["http://cli/"]
    await clock.advance(FORGET_FOR)  # 3 days passed: a URL given again is a destination again
    assert box.forgotten == []
    await box.push("http://cli/", "status-report", b"again")
    await t.wait(lambda: len(t.attempts) == 3)
    await box.drop("http://cli/", forget=True)
    await box.replay("http://cli/")  # a person asks for its pushes: not gone after all
    assert box.forgotten == []
    with pytest.raises(ValueError):
        await box.drop(None, forget=True)
    await box.stop()


async def test_settled_is_called_once_a_push_is_delivered_not_before(store):
    clock = VirtualClock()
    t = ScriptedTransport(clock)
    t.down.add("http://a/")
    box = make(store, clock, t, base=1.0, cap=1.0)
    await box.start()
    left: list[str] = []
    await box.push("http://a/", "k", b"1", settled=lambda: left.append("1"))
    await box.push("http://a/", "k", b"2", settled=lambda: left.append("2"))
    await t.wait(lambda: len(t.attempts) >= 1)
    assert left == []  # refused: still queued
    t.down.clear()
    await clock.advance(1.0)
    await t.wait(lambda: len(t.delivered) == 2)
    await asyncio.wait_for(box.wait_idle(), 5)
    assert left == ["1", "2"]
    await box.stop()


async def test_settled_is_called_when_pushes_are_dropped_or_go_dead(store):
    clock = settled(store, VirtualClock(start=0.0))
    t = ScriptedTransport(clock)
    t.down.update({"http://a/", "http://b/"})
    box = make(store, clock, t, base=1.0, cap=1.0, window=10.0)
    await box.start()
    left: list[str] = []
    await box.push("http://a/", "k", b"a", settled=lambda: left.append("a"))
    await box.push("http://b/", "k", b"b", settled=lambda: left.append("b"))
    await t.wait(lambda: len(t.attempts) >= 2)
    await box.drop("http://a/", queued=True)
    assert left == ["a"]
    await advance_until(clock, lambda: "b" in left, 1.0, 30.0)  # b fails past its window: dead
    assert left == ["a", "b"] and [d.dead for d in box.destinations() if d.url == "http://b/"] == [1]
    await box.stop()
