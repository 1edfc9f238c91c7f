"""The fleet's PostgreSQL database: a small connection pool, its schema brought forward by the one
migration runner, LISTEN/NOTIFY.

Replicas share one database; each replica has its own id, and what it holds (tasks, push
destinations) it holds under leases that expire on the database's clock (the only clock the
replicas share), so a replica killed at any moment lets go of everything within one lease.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Callable
from functools import partial
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from ...store.migrations import Ask, Schema, run_migration
from .schema import LEDGER
from .sql import POSTGRES

log = logging.getLogger(__name__)

CHANNEL = "ejoin_fleet"
NOW = POSTGRES.words["now"]  # the database's clock, in seconds: leases are compared with it

# Replicas starting at once take turns at migrating under an advisory lock (the key is arbitrary,
# the same in every replica).
_MIGRATION_LOCK = 7_406_512_361


def replica_id() -> str:
    """This process's name in leases: readable in the database, unique across restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class PgDatabase:
    """One pool for a replica's stores, and its listener for other replicas' notifications."""

    def __init__(self, url: str, *, max_size: int = 8, lease: float = 10.0) -> None:
        self.url = url
        self.lease = lease
        self.replica = replica_id()
        self.pool = AsyncConnectionPool(
            url, min_size=2, max_size=max_size, open=False, kwargs={"autocommit": True}, name="ejoin-fleet"
        )
        self._listeners: list[Callable[[str], None]] = []
        self._listening: asyncio.Task[None] | None = None
        self._opened = 0
        self.listening = asyncio.Event()  # set while notifications are being received

    async def open(self) -> None:
        """Open once for every store sharing it (the ledger and the outbox both call it)."""
        self._opened += 1
        if self._opened > 1:
            return
        try:  # one connection first: a wrong URL or a server away is said at once, not after the pool's wait
            conn = await psycopg.AsyncConnection.connect(self.url, connect_timeout=10)
        except psycopg.Error as exc:
            self._opened -= 1
            raise ConnectionError(f"cannot open the fleet database {self.where}: {exc}".strip()) from None
        await conn.close()
        await self.pool.open(wait=True, timeout=30)
        await self._migrate()
        self._listening = asyncio.ensure_future(self._listen())

    async def close(self) -> None:
        self._opened -= 1
        if self._opened > 0:
            return
        if self._listening is not None:
            self._listening.cancel()
            await asyncio.gather(self._listening, return_exceptions=True)
        await self.pool.close()

    async def _migrate(self) -> None:
        async with self.pool.connection() as conn:
            await migrate_postgres(conn, LEDGER)

    @property
    def where(self) -> str:
        """The database named without its credentials (for messages and logs)."""
        try:
            info = psycopg.conninfo.conninfo_to_dict(self.url)
        except psycopg.Error:
            return "(an unparsable URL)"
        host = info.get("host") or "localhost"
        return f"{host}:{info.get('port') or 5432}/{info.get('dbname') or ''}"

    def on_notify(self, callback: Callable[[str], None]) -> None:
        """``callback(payload)`` for each notification any replica (this one too) sends on the channel."""
        self._listeners.append(callback)

    async def _listen(self) -> None:
        delay = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    delay = 0.5
                    self.listening.set()
                    # A (re)connected listener may have missed notifications: everyone looks again.
                    self._deliver("*")
                    async for note in conn.notifies():
                        self._deliver(note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.listening.clear()
                log.warning("fleet database listener lost (%s); reconnecting in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    def _deliver(self, payload: str) -> None:
        for callback in self._listeners:
            try:
                callback(payload)
            except Exception:
                log.exception("fleet notification %r failed", payload)


async def notify(conn: Any, payload: str) -> None:
    """Sent when the transaction commits (and only then), to every replica listening."""
    await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))


async def migrate_postgres(conn: psycopg.AsyncConnection[Any], schema: Schema) -> int:
    """The one runner (``store/migrations.py``) on PostgreSQL: the version in a ``schema_version`` row,
    each step in one transaction under the migration lock (``conn`` in autocommit)."""
    return await run_migration(schema, "postgres", partial(_postgres_answer, conn))


async def _postgres_answer(conn: psycopg.AsyncConnection[Any], ask: Ask) -> Any:
    if ask.kind == "begin":
        await conn.execute("BEGIN")
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    elif ask.kind == "version":
        row = await (await conn.execute("SELECT version FROM schema_version")).fetchone()
        return row[0] if row else 0
    elif ask.kind == "run":
        await conn.execute(ask.arg)
    elif ask.kind == "set":
        if not (await conn.execute("UPDATE schema_version SET version=%s", (ask.arg,))).rowcount:
            await conn.execute("INSERT INTO schema_version VALUES (%s)", (ask.arg,))
    elif ask.kind == "commit":
        await conn.execute("COMMIT")
    elif conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        await conn.execute("ROLLBACK")
    return None
