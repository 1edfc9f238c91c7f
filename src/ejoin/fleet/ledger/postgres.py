"""``Ledger`` on PostgreSQL, shared by any number of fleet replicas.

What it runs is what SQLite runs (``operations.py``); what sharing adds is here:
- each open task is owned by one replica under a lease (``claim``: ``FOR UPDATE SKIP LOCKED``);
  only the owner dispatches it and emits its reports, and a task whose owner stopped renewing
  is taken over;
- one replica plays a role for all (``lead``: the status pusher) under a lease, and a change of a
  fleet port seen by many replicas is pushed by the first (``ports_changed``);
- ports' loads and SIMs' quotas are read and spent under an advisory lock (``pick_lock``), so
  they hold across replicas; members change one at a time (``members_lock``);
- the operations' notifications go to every replica (LISTEN/NOTIFY) so, say, a task's report
  stream moves at once on its owner.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, TypeVar

import psycopg
from psycopg import AsyncConnection

from . import sql
from .base import BULK_UNITS, Ledger
from .pgdb import CHANNEL, NOW, PgDatabase, notify
from .records import Unit
from .sql import POSTGRES, Program, drive

T = TypeVar("T")

_PICK_LOCK = 7_406_512_362  # advisory lock key of picks (any value, the same in every replica)
_MEMBERS_LOCK = 7_406_512_363  # advisory lock key of run-time member changes
_REPLICA = "replica:"  # the role of each replica's own lease (its name follows): replicas alive


class PgLedger(Ledger):
    def __init__(self, db: PgDatabase) -> None:
        self.db = db
        self.lease = db.lease
        self.owner = db.replica
        # sql.One pick of this replica waits for the database's lock at a time: each waiting one holds a
        # pooled connection, and the pick holding the lock needs one to finish.
        self._picking = asyncio.Lock()
        self._since: dict[int, float] = {}  # task -> when this replica last took or renewed its lease

    async def open(self) -> None:
        await self.db.open()

    async def close(self) -> None:
        await self.db.close()

    async def _run(self, program: Program[T], *, read: bool = False) -> T:
        async with self.db.pool.connection() as conn:
            if read:  # one statement: its own transaction (autocommit), sparing BEGIN and COMMIT
                return await drive(program, partial(self._answer, conn))
            async with conn.transaction():
                return await drive(program, partial(self._answer, conn))

    async def _answer(self, conn: AsyncConnection[Any], ask: Any) -> Any:
        try:
            return await self._answer_now(conn, ask)
        except psycopg.errors.UniqueViolation as exc:
            raise sql.Duplicate(str(exc)) from exc

    async def _answer_now(self, conn: AsyncConnection[Any], ask: Any) -> Any:
        kind = type(ask)
        if kind is sql.Rows:
            return await (await conn.execute(POSTGRES.render(ask.sql), ask.params)).fetchall()
        if kind is sql.One:
            return await (await conn.execute(POSTGRES.render(ask.sql), ask.params)).fetchone()
        if kind is sql.Do:
            return (await conn.execute(POSTGRES.render(ask.sql), ask.params)).rowcount
        if kind is sql.Update:
            if not ask.rows:
                return 0
            return (await conn.execute(sql.postgres_update(ask.change), sql.postgres_update_params(ask))).rowcount
        if kind is sql.Insert:
            if ask.pg_types and len(ask.rows) <= BULK_UNITS:
                # a few rows: one statement over arrays, cheaper than a COPY's exchange
                await conn.execute(sql.postgres_insert(ask), sql.postgres_insert_params(ask))
                return None
            async with conn.cursor().copy(f"COPY {ask.table} ({', '.join(ask.columns)}) FROM STDIN") as copy:
                for row in ask.rows:
                    await copy.write_row(row)
            return None
        if kind is sql.Parent:
            return await (await conn.execute(sql.postgres_parent(ask), sql.postgres_parent_params(ask))).fetchone()
        if kind is sql.LastId:
            last, called = await (
                await conn.execute(f"SELECT last_value, is_called FROM {ask.table}_id_seq")
            ).fetchone()  # type: ignore[misc]
            return int(last) if called else 0
        if kind is sql.Notify:
            if ask.task is not None and ask.owner == self.owner and self._holds(ask.task):
                return None  # this replica's own task: the notification would only come back here
            if ask.task is not None and ask.owner is not None:
                await conn.execute(
                    "SELECT pg_notify(%s, %s) FROM tasks WHERE id=%s AND owner IS DISTINCT FROM %s",
                    (CHANNEL, ask.payload, ask.task, ask.owner),
                )
            else:
                await notify(conn, ask.payload)
            return None
        if kind is sql.Lock:
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (ask.key,))
            return None
        raise TypeError(f"not a ledger request: {ask!r}")

    def _holds(self, task_id: int) -> bool:
        """Whether this replica surely holds the task's lease now: it took or renewed it (accepted the
        task, or claimed it) less than most of a lease ago, by its own clock, measured from before the
        statement that did (no other replica can take a lease before it expires)."""
        since = self._since.get(task_id)
        return since is not None and time.monotonic() - since < self.lease * 0.8

    async def add_tasks(self, tasks: list[tuple[Any, dict[str, Any], dict[str, Any], list[Unit]]]) -> list[int | None]:
        since = time.monotonic()
        ids = await super().add_tasks(tasks)
        for task_id in ids:
            if task_id is not None:
                self._since[task_id] = since
        return ids

    # --- what replicas share ---

    async def claim(self) -> tuple[list[int], list[int]]:
        """Renew this replica's task leases and take unowned or expired ones: (owned now, taken over).

        ``SKIP LOCKED``: a task another replica is claiming at this instant is left to it.
        """
        since = time.monotonic()
        async with self.db.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "WITH c AS (SELECT id, owner FROM tasks WHERE finished=0 AND "
                f"(owner = %s OR owner IS NULL OR lease_until < {NOW}) ORDER BY id FOR UPDATE SKIP LOCKED) "
                f"UPDATE tasks t SET owner=%s, lease_until={NOW} + %s FROM c WHERE t.id=c.id "
                "RETURNING t.id, c.owner",
                (self.owner, self.owner, self.lease),
            )
            rows = await cur.fetchall()
        owned = sorted(int(i) for i, _ in rows)
        self._since = {task_id: since for task_id in owned}
        return owned, sorted(int(i) for i, old in rows if old != self.owner)

    async def release(self) -> None:
        """A replica stopping: its tasks (and roles) are free at once, and the others are told so."""
        self._since.clear()
        async with self.db.pool.connection() as conn, conn.transaction():
            await conn.execute(
                "UPDATE tasks SET owner=NULL, lease_until=0 WHERE owner=%s AND finished=0", (self.owner,)
            )
            await conn.execute("DELETE FROM roles WHERE owner=%s", (self.owner,))
            await notify(conn, "claim")

    async def lead(self, role: str) -> bool:
        """Take or renew the lease of a role one replica plays for all (the status pusher); whether this
        replica plays it now.  A dead holder's lease expires, and the next replica asking takes it."""
        async with self.db.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                f"INSERT INTO roles VALUES (%s, %s, {NOW} + %s) ON CONFLICT (role) DO UPDATE "
                "SET owner=EXCLUDED.owner, until=EXCLUDED.until "
                f"WHERE roles.owner=EXCLUDED.owner OR roles.until < {NOW} RETURNING owner",
                (role, self.owner, self.lease),
            )
            return await cur.fetchone() is not None

    async def beat(self) -> int:
        """A role of this replica's own under the lease says it is alive (taken at once, let go when it
        stops, expired when it dies); the replicas alive now.  Roles of replicas dead for an hour go."""
        async with self.db.pool.connection() as conn, conn.transaction():
            await conn.execute(
                f"INSERT INTO roles VALUES (%s, %s, {NOW} + %s) ON CONFLICT (role) DO UPDATE SET until=EXCLUDED.until",
                (f"{_REPLICA}{self.owner}", self.owner, self.lease),
            )
            await conn.execute(f"DELETE FROM roles WHERE role LIKE %s AND until < {NOW} - 3600", (f"{_REPLICA}%",))
            cur = await conn.execute(
                f"SELECT COUNT(*) FROM roles WHERE role LIKE %s AND until >= {NOW}", (f"{_REPLICA}%",)
            )
            row = await cur.fetchone()
        return int(row[0]) if row else 1

    async def ports_changed(self, entries: dict[str, str]) -> set[str]:
        """Fleet ports' entries as this replica sees them now (port: entry): recorded; the ports whose
        record they changed, i.e. those whose change this replica is the first to see and pushes."""
        ports = sorted(entries)  # rows locked in one order: replicas recording at once never deadlock
        async with self.db.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "INSERT INTO port_status SELECT * FROM unnest(%s::text[], %s::text[]) ON CONFLICT (port) "
                "DO UPDATE SET entry=EXCLUDED.entry WHERE port_status.entry <> EXCLUDED.entry RETURNING port",
                (ports, [entries[p] for p in ports]),
            )
            return {str(r[0]) for r in await cur.fetchall()}

    @asynccontextmanager
    async def pick_lock(self) -> AsyncIterator[None]:
        """Across replicas: one pick (ports' loads and SIMs' usage read, units recorded) at a time."""
        async with self._picking, self._session_lock(_PICK_LOCK):
            yield

    @asynccontextmanager
    async def members_lock(self) -> AsyncIterator[None]:
        """Across replicas: one member added or removed at a time, each checked against the last."""
        async with self._session_lock(_MEMBERS_LOCK):
            yield

    @asynccontextmanager
    async def _session_lock(self, key: int) -> AsyncIterator[None]:
        async with self.db.pool.connection() as conn:
            await conn.execute("SELECT pg_advisory_lock(%s)", (key,))
            try:
                yield
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
