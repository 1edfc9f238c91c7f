import asyncio
import random

import pytest

from ejoin.clock import VirtualClock
from ejoin.gateway.outbox import Outbox, PushTransport, RetryPolicy
from ejoin.store.sqlite import SQLiteStore


class ScriptedTransport(PushTransport):
    """Answers per destination from a script; records every attempt with its time."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.down: set[str] = set()
        self.hang: set[str] = set()
        self.attempts: list[tuple[str, bytes, float]] = []
        self.delivered: list[tuple[str, bytes]] = []
        self.changed = asyncio.Event()

    async def post(self, url, body, headers):
        self.attempts.append((url, body, self.clock.time()))
        self.changed.set()
        if url in self.hang:
            await asyncio.Event().wait()  # a receiver that never answers
        if url in self.down:
            raise ConnectionRefusedError("connection refused")
        self.delivered.append((url, body))
        return 200

    async def wait(self, predicate, timeout=5.0):
        async def loop():
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(loop(), timeout)


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


def test_retry_policy_bounds():
    policy = RetryPolicy(base=2.0, cap=30.0, jitter=0.25)
    rng = random.Random(5)
    for attempts in range(1, 40):
        d = policy.delay(attempts, rng)
        raw = min(30.0, 2.0 * 2 ** (attempts - 1))
        assert 0.75 * raw <= d <= raw
