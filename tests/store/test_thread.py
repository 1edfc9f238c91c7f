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
