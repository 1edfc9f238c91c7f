"""``Ledger`` on the embedded SQLite store: one process, the file owned by one thread
(``store/thread.py``: group commit, each operation in a savepoint of its batch, its future settled
once committed), as the device store.

What it runs is what PostgreSQL runs (``operations.py``); what differs is said here: the done
sequence is a counter of the one thread, lists of ids go as JSON, and what replicas need has the
answers of a process alone.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from ...store.migrations import migrate_sqlite
from ...store.opening import StoreOpenError, describe_failure, prepare_directory
from ...store.thread import DatabaseThread, run_now
from . import sql
from .base import Ledger
from .schema import LEDGER
from .sql import SQLITE, Program, drive

T = TypeVar("T")

_UNIQUE = ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY")


class SqliteLedger(Ledger):
    lease = 0.0  # one process: no leases
    owner = None

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        # Each operation its own transaction: they are large (a dispatch, a report: thousands of units),
        # a commit of WAL without fsync is cheap, and a savepoint (what sharing a commit takes) copies
        # every page a piece changes: measured 20 % more CPU per unit with group commit.
        self._thread = DatabaseThread("fleet-db", self._connect, group_commit=False)
        self._seq = 0  # the done sequence's last number (DB thread only)
        self._claimed = False
        self._picking = asyncio.Lock()

    async def open(self) -> None:
        """Open (and migrate) the file; ``StoreOpenError`` with one plain line if it cannot be."""
        try:
            await self._thread.start()
        except Exception as exc:
            raise StoreOpenError(describe_failure(exc, self.path)) from None

    async def close(self) -> None:
        await self._thread.stop()

    def _connect(self) -> sqlite3.Connection:
        if sqlite3.sqlite_version_info < (3, 35):  # RETURNING
            raise StoreOpenError(
                f"the fleet's SQLite ledger needs SQLite 3.35 or newer (this one: {sqlite3.sqlite_version})"
            )
        prepare_directory(self.path)
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL: a commit survives kill -9, as in the device store
            conn.execute("PRAGMA cache_size=-32000")  # 32 MB: the open tasks' units stay in memory
            migrate_sqlite(conn, LEDGER)
            self._seq = conn.execute("SELECT COALESCE(MAX(done_seq), 0) FROM units").fetchone()[0]
        except BaseException:
            conn.close()
            raise
        return conn

    async def _run(self, program: Program[T], *, read: bool = False) -> T:
        return await self._thread.submit(lambda conn: run_now(drive(program, partial(self._answer, conn))))

    async def _answer(self, conn: sqlite3.Connection, ask: Any) -> Any:
        """Never waits: it runs on the store's thread (``run_now``)."""
        try:
            return self._answer_now(conn, ask)
        except sqlite3.IntegrityError as exc:
            if getattr(exc, "sqlite_errorname", "") in _UNIQUE:
                raise sql.Duplicate(str(exc)) from exc
            raise

    def _answer_now(self, conn: sqlite3.Connection, ask: Any) -> Any:
        kind = type(ask)
        if kind is sql.Rows:
            return conn.execute(SQLITE.render(ask.sql), _params(ask.params)).fetchall()
        if kind is sql.One:
            rows = conn.execute(SQLITE.render(ask.sql), _params(ask.params)).fetchall()
            return rows[0] if rows else None
        if kind is sql.Do:
            return conn.execute(SQLITE.render(ask.sql), _params(ask.params)).rowcount
        if kind is sql.Update:
            if not ask.rows:
                return 0
            return conn.executemany(
                sql.sqlite_update(ask.change), sql.sqlite_update_rows(ask, self._take_seqs)
            ).rowcount
        if kind is sql.Insert:
            marks = ", ".join("?" * len(ask.columns))
            conn.executemany(f"INSERT INTO {ask.table} ({', '.join(ask.columns)}) VALUES ({marks})", ask.rows)
            return None
        if kind is sql.Parent:
            row = self._answer_now(conn, ask.row)
            if row is not None:
                children = ask.children
                rows = [(row[0], *r) for r in children.rows]
                self._answer_now(conn, sql.Insert(children.table, children.columns, rows, children.pg_types))
            return row
        if kind is sql.LastId:
            r = conn.execute("SELECT seq FROM sqlite_sequence WHERE name=?", (ask.table,)).fetchone()
            return int(r[0]) if r else 0
        if kind is sql.Notify or kind is sql.Lock:  # one writer, no other process to tell
            return None
        raise TypeError(f"not a ledger request: {ask!r}")

    def _take_seqs(self, n: int) -> int:
        """The first of ``n`` numbers of the done sequence, given in order."""
        first = self._seq + 1
        self._seq += n
        return first

    # --- a process alone: every task, every role, its own view of the ports ---

    async def claim(self) -> tuple[list[int], list[int]]:
        """The open tasks this process owns (all: it is the only one), and those it took over from an
        earlier life of the store (at the first call) whose recorded dispatches must be reconciled."""
        ids = [row.id for row in await self.open_tasks()]
        taken = [] if self._claimed else ids
        self._claimed = True
        return ids, taken

    async def release(self) -> None:
        pass

    async def lead(self, role: str) -> bool:
        return True

    async def ports_changed(self, entries: dict[str, str]) -> set[str]:
        return set(entries)  # its own view of the ports is the whole record (no other replica saw them)

    @asynccontextmanager
    async def pick_lock(self) -> AsyncIterator[None]:
        async with self._picking:
            yield

    @asynccontextmanager
    async def members_lock(self) -> AsyncIterator[None]:
        yield  # the caller's own lock around member changes is enough


def _params(params: tuple[Any, ...]) -> tuple[Any, ...]:
    """A list of ids (``{ids}``) goes as JSON text."""
    if any(type(p) is list for p in params):
        return tuple(json.dumps(p) if type(p) is list else p for p in params)
    return params
