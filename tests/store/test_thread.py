"""The one SQLite thread model: a piece of work fails alone, whether it shares its transaction
(group commit, a savepoint each) or has one of its own."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from ejoin.store.thread import DatabaseThread


def _insert(value: int, fail: bool = False):  # type: ignore[no-untyped-def]
    def work(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO t VALUES (?)", (value,))
        if fail:
            raise ValueError("this piece fails after writing")
        return value

    return work


@pytest.mark.parametrize("group_commit", [True, False])
async def test_a_failing_piece_undoes_only_itself(tmp_path, group_commit: bool) -> None:
    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(tmp_path / "t.sqlite3", isolation_level=None)
        conn.execute("CREATE TABLE IF NOT EXISTS t (v INTEGER)")
        return conn

    thread = DatabaseThread("test-db", connect, group_commit=group_commit)
    await thread.start()
    try:
        alone = await asyncio.gather(thread.submit(_insert(0, fail=True)), return_exceptions=True)
        assert isinstance(alone[0], ValueError)
        together = await asyncio.gather(
            thread.submit(_insert(1)),
            thread.submit(_insert(2, fail=True)),
            thread.submit(_insert(3)),
            return_exceptions=True,
        )
        assert together[0] == 1 and isinstance(together[1], ValueError) and together[2] == 3
        rows = await thread.submit(lambda conn: [v for (v,) in conn.execute("SELECT v FROM t ORDER BY v")])
        assert rows == [1, 3]
    finally:
        await thread.stop()


async def test_a_batch_settles_in_one_wake_up_of_the_loop_and_quiesce_waits_for_its_waiters(tmp_path) -> None:
    """Many small writes a second (one task per request): each handed back to the loop on its own was a
    wake-up from another thread per piece of work."""
    import threading

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(tmp_path / "t.sqlite3", isolation_level=None)
        conn.execute("CREATE TABLE IF NOT EXISTS t (v INTEGER)")
        return conn

    thread = DatabaseThread("test-db", connect)
    await thread.start()
    loop = asyncio.get_running_loop()
    wake_ups = 0
    original = loop.call_soon_threadsafe

    def counting(*args):  # type: ignore[no-untyped-def]
        nonlocal wake_ups
        wake_ups += 1
        return original(*args)

    gate = threading.Event()
    loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
    try:
        held = thread.submit(lambda conn: gate.wait(5))  # the thread is busy: what follows queues up
        pieces = [thread.submit(_insert(i)) for i in range(50)]
        resumed: list[int] = []

        async def waiter(piece: asyncio.Future[int]) -> None:
            resumed.append(await piece)

        waiters = [asyncio.ensure_future(waiter(p)) for p in pieces]
        gate.set()
        assert await thread.quiesce()
        assert sorted(resumed) == list(range(50))  # quiet only once every waiter had its answer
        assert await held is True
        assert wake_ups <= 3  # the held piece's, the 50's together, quiesce's own
        await asyncio.gather(*waiters)
    finally:
        loop.call_soon_threadsafe = original  # type: ignore[method-assign]
        await thread.stop()
