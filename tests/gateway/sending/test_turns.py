"""TurnBatch: what is handed in during one turn of the loop is one write; each caller gets its share."""

from __future__ import annotations

import asyncio
import logging

import pytest

from ejoin.gateway.sending.turns import TurnBatch


def recording(result=None, exc: BaseException | None = None):
    writes: list[list[int]] = []

    def write(items: list[int]) -> asyncio.Future:
        writes.append(list(items))
        fut = asyncio.get_running_loop().create_future()
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result([i * 10 for i in items] if result is None else result)
        return fut

    return writes, write


async def test_one_write_per_turn_each_caller_its_slice():
    writes, write = recording()
    batch = TurnBatch(write, "things")
    a, b = batch.add([1, 2]), batch.add([3])
    batch.put([4])
    assert await a == [10, 20] and await b == [30]
    c = batch.add([5])  # a later turn: a write of its own
    assert await c == [50]
    assert writes == [[1, 2, 3, 4], [5]]


async def test_a_failed_write_fails_every_caller_of_its_turn_and_is_logged_when_nobody_waits(caplog):
    writes, write = recording(exc=OSError("disk full"))
    batch = TurnBatch(write, "things")
    a, b = batch.add([1]), batch.add([2])
    with caplog.at_level(logging.ERROR):
        batch.put([3])
        for fut in (a, b):
            with pytest.raises(OSError):
                await fut
    assert writes == [[1, 2, 3]]
    assert [r.getMessage() for r in caplog.records] == ["storing things failed: disk full"]


async def test_a_store_that_refuses_at_once_fails_the_callers():
    def closed(items):
        raise RuntimeError("the store is not open")

    batch = TurnBatch(closed, "things")
    with pytest.raises(RuntimeError):
        await batch.add([1])
