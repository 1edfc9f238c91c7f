"""The push outbox as a PostgreSQL table shared by replicas: the device outbox's rules (FIFO per
destination, retries, dead letters), and one sender per destination at a time, in order."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from ejoin.clock import SystemClock, VirtualClock
from ejoin.gateway.outbox import AiohttpTransport, Outbox
from ejoin.testing import PushCollector

from ...outbox_faults import ScriptedTransport, StoppingOutboxStore

Replica = Callable[..., Awaitable[Any]]


@pytest.fixture
async def replica(pg_url: str) -> AsyncIterator[Replica]:
    from ejoin.fleet.ledger.pgdb import PgDatabase
    from ejoin.fleet.ledger.pgoutbox import PgOutboxStore

    opened: list[Any] = []

    async def make(lease: float = 30.0) -> Any:
        store = PgOutboxStore(PgDatabase(pg_url, lease=lease))
        await store.open()
        opened.append(store)
        return store

    try:
        yield make
    finally:
        for store in opened:
            await store.close()


async def test_pushes_are_fifo_per_destination_with_retries(replica: Replica) -> None:
    store = await replica()
    ids = [await store.outbox_add(d, "k", "ct", str(i).encode(), {"A": "b"}, 0.0) for i, d in enumerate("abab")]
    assert [i.body for i in await store.outbox_head("a", 10)] == [b"0", b"2"]
    await store.outbox_delete(ids[0])
    await store.outbox_retry(ids[2], 3, 99.0, "HTTP 500")
    [head] = await store.outbox_head("a", 10)
    assert (head.id, head.attempts, head.next_at, head.headers) == (ids[2], 3, 99.0, {"A": "b"})
    assert sorted(await store.outbox_destinations()) == ["a", "b"]
    assert await store.outbox_count() == 3
    [summary_a, summary_b] = await store.outbox_summary()
    assert (summary_a.dest, summary_a.queued, summary_a.attempts, summary_a.last_error) == ("a", 1, 3, "HTTP 500")
    assert (summary_b.dest, summary_b.queued) == ("b", 2)


async def test_dead_letters_are_kept_replayed_in_their_place_and_dropped(replica: Replica) -> None:
    store = await replica()
    old = [await store.outbox_add("d", "k", "ct", f"{i}".encode(), {}, float(i)) for i in range(3)]
    assert await store.outbox_kill("d", 1.0, 50.0, "refused", 10) == 2  # queued at or before 1.0
    later = await store.outbox_add("d", "k", "ct", b"later", {}, 60.0)
    [summary] = await store.outbox_summary()
    assert (summary.queued, summary.dead, summary.last_died) == (2, 2, 50.0)
    assert await store.outbox_revive("d", 70.0) == {"d": 2}
    assert [i.id for i in await store.outbox_head("d", 10)] == [*old, later]  # back in their old place
    assert await store.outbox_drop(None, True) == {"d": (0, 4)}
    assert await store.outbox_count() == 0


async def test_one_replica_sends_a_destination_until_its_lease_goes(replica: Replica) -> None:
    a, b, dying = await replica(), await replica(), await replica(lease=0)
    pid = await a.outbox_add("d", "k", "ct", b"x", {}, 0.0)
    assert [i.id for i in await b.outbox_head("d", 10)] == [pid]  # b holds "d" now
    assert await a.outbox_head("d", 10) == []  # a does not send what b sends
    await b.outbox_delete(pid)
    assert await b.outbox_head("d", 10) == []  # empty: let go
    pid = await b.outbox_add("d", "k", "ct", b"y", {}, 0.0)
    assert [i.id for i in await dying.outbox_head("d", 10)] == [pid]  # whoever asks first
    # dying never renews (its leases expire at once, as a killed replica's): a takes over
    assert [i.id for i in await a.outbox_head("d", 10)] == [pid]
    assert await b.outbox_head("d", 10) == []


async def test_pushes_queued_on_two_replicas_arrive_once_each_in_order(replica: Replica) -> None:
    stores = [await replica(), await replica()]
    outboxes = []
    for store in stores:
        outbox = Outbox(store, SystemClock(), AiohttpTransport(timeout=5), rng=random.Random(1))
        store.db.on_notify(lambda p, o=outbox: o.poke(p[1:]) if p.startswith("p") else None)
        await outbox.start()
        outboxes.append(outbox)
    with PushCollector() as platform:
        try:
            for store in stores:
                await asyncio.wait_for(store.db.listening.wait(), 10)
            for i in range(40):  # queued alternately on each replica, one after the other
                await outboxes[i % 2].push(platform.url, "status-report", json.dumps({"n": i}).encode())
            await asyncio.to_thread(platform.wait_for, lambda _: len(platform.pushes) >= 40, 20)
            await asyncio.gather(*(o.wait_idle() for o in outboxes))
        finally:
            for outbox in outboxes:
                await outbox.stop()
        assert [p["n"] for p in platform.pushes] == list(range(40))  # none twice, none out of order
        assert await stores[0].outbox_count() == 0


async def test_after_a_replica_is_killed_only_the_push_in_flight_is_sent_again(replica: Replica) -> None:
    # The fleet's outbox is the device's (gateway/outbox.py) over this store: the same promise.
    dying = await replica(lease=0)  # its lease ends at once, as a killed replica's does
    for i in range(1, 7):
        await dying.outbox_add("http://a/", "k", "application/json", str(i).encode(), {}, 0.0)
    stopping = StoppingOutboxStore(dying, stop_at_delete=3)
    clock = VirtualClock()
    sent = ScriptedTransport(clock)
    box = Outbox(stopping, clock, sent, rng=random.Random(1))
    await box.start()
    await asyncio.wait_for(stopping.stopped.wait(), 10)
    assert [b for _, b in sent.delivered] == [b"1", b"2", b"3"]  # none while 3's deletion was not durable
    await box.stop()

    other = await replica()
    again = ScriptedTransport(clock)
    box2 = Outbox(other, clock, again, rng=random.Random(1))
    await box2.start()
    await again.wait(lambda: len(again.delivered) == 4, timeout=10)
    assert [b for _, b in again.delivered] == [b"3", b"4", b"5", b"6"]  # only 3, in flight, again
    await asyncio.wait_for(box2.wait_idle(), 10)
    assert await other.outbox_count() == 0
    await box2.stop()
