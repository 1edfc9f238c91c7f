"""The fleet's PostgreSQL database: a small connection pool, versioned migrations, LISTEN/NOTIFY.

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
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from .store import DISPATCHED

log = logging.getLogger(__name__)

CHANNEL = "ejoin_fleet"
# The database's clock, in seconds: leases are compared with it, never with a replica's own clock.
NOW = "extract(epoch from clock_timestamp())"

# Each migration runs in one transaction with the version row; replicas starting at once
# take turns under an advisory lock (the key is arbitrary, the same in every replica).
_MIGRATION_LOCK = 7_406_512_361
MIGRATIONS = [
    # version 1: the ledger (as fleet/store.py's SQLite schema), task leases, the push outbox
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE tasks (
        id BIGSERIAL PRIMARY KEY, tid_echo TEXT NOT NULL, task TEXT NOT NULL,
        sr_url TEXT NOT NULL, sr_cnt INTEGER NOT NULL, sr_prd INTEGER NOT NULL,
        sdr INTEGER NOT NULL, fdr INTEGER NOT NULL, finished INTEGER NOT NULL DEFAULT 0,
        hold INTEGER NOT NULL DEFAULT 0,
        owner TEXT, lease_until DOUBLE PRECISION NOT NULL DEFAULT 0);
    -- one open task per tid, across replicas accepting at once
    CREATE UNIQUE INDEX tasks_open ON tasks (tid_echo) WHERE finished=0;
    CREATE INDEX tasks_unfinished ON tasks (id) WHERE finished=0;
    CREATE TABLE units (
        id BIGSERIAL PRIMARY KEY, task_id BIGINT NOT NULL, idx INTEGER NOT NULL, number TEXT NOT NULL,
        port TEXT, state SMALLINT NOT NULL DEFAULT 0, dispatch_id BIGINT, sub_idx INTEGER, via TEXT,
        row TEXT, done_seq BIGINT, reported INTEGER NOT NULL DEFAULT 0, sim TEXT, at DOUBLE PRECISION);
    CREATE INDEX units_task ON units (task_id, state);
    CREATE INDEX units_idx ON units (task_id, idx);
    CREATE INDEX units_sim ON units (sim, at) WHERE sim IS NOT NULL;
    CREATE INDEX units_dispatch ON units (dispatch_id, sub_idx);
    CREATE INDEX units_done ON units (task_id, done_seq) WHERE done_seq IS NOT NULL;
    CREATE SEQUENCE units_done_seq;
    CREATE TABLE dispatches (
        id BIGSERIAL PRIMARY KEY, task_id BIGINT NOT NULL, no INTEGER NOT NULL, member TEXT NOT NULL,
        member_tid BIGINT NOT NULL, state SMALLINT NOT NULL DEFAULT 0, sending INTEGER NOT NULL DEFAULT 0,
        UNIQUE (member, member_tid), UNIQUE (task_id, no));
    CREATE INDEX dispatches_task ON dispatches (task_id, state);
    CREATE TABLE inbox (
        id BIGSERIAL PRIMARY KEY, member TEXT NOT NULL, ssrc TEXT NOT NULL,
        member_id BIGINT NOT NULL, row TEXT NOT NULL, UNIQUE (member, ssrc, member_id));
    CREATE TABLE inbox_cursor (member TEXT PRIMARY KEY, ssrc TEXT NOT NULL, next_id BIGINT NOT NULL);
    CREATE TABLE outbox (
        id BIGSERIAL PRIMARY KEY, dest TEXT NOT NULL, kind TEXT NOT NULL, content_type TEXT NOT NULL,
        headers TEXT NOT NULL DEFAULT '{}', body BYTEA NOT NULL, created DOUBLE PRECISION NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, next_at DOUBLE PRECISION NOT NULL DEFAULT 0, last_error TEXT);
    CREATE INDEX outbox_by_dest ON outbox (dest, id);
    CREATE TABLE outbox_dead (
        id BIGINT PRIMARY KEY, dest TEXT NOT NULL, kind TEXT NOT NULL, content_type TEXT NOT NULL,
        headers TEXT NOT NULL DEFAULT '{}', body BYTEA NOT NULL, created DOUBLE PRECISION NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, died DOUBLE PRECISION NOT NULL);
    CREATE INDEX outbox_dead_by_dest ON outbox_dead (dest, id);
    -- the replica sending a destination's pushes, in order, until its lease expires
    CREATE TABLE push_leases (dest TEXT PRIMARY KEY, owner TEXT NOT NULL, until DOUBLE PRECISION NOT NULL);
    """,
    # version 2: the members (the TOML file seeds them; ejoin fleet member add/remove change them), and
    # SMS members push (recv-sms) beside those the fleet pulls: one known by a push only has no member
    # id yet; ``fp`` (its row) matches the two ways; ``forwarded``: handed to the platform's outbox
    """
    CREATE TABLE members (
        seq BIGSERIAL, name TEXT PRIMARY KEY, settings TEXT NOT NULL, removed INTEGER NOT NULL DEFAULT 0);
    ALTER TABLE inbox ALTER COLUMN ssrc DROP NOT NULL, ALTER COLUMN member_id DROP NOT NULL,
        ADD COLUMN fp TEXT, ADD COLUMN pushed INTEGER NOT NULL DEFAULT 0,
        ADD COLUMN forwarded INTEGER NOT NULL DEFAULT 1;
    UPDATE inbox SET fp=row;
    ALTER TABLE inbox ALTER COLUMN fp SET NOT NULL;
    CREATE INDEX inbox_fp ON inbox (member, fp);
    CREATE INDEX inbox_unforwarded ON inbox (id) WHERE forwarded=0;
    """,
    # version 3: what one replica does for all (``roles``: the status pusher, under a lease), and each
    # fleet port's entry as last pushed to the platform, so a change seen by many replicas goes once
    """
    CREATE TABLE roles (role TEXT PRIMARY KEY, owner TEXT NOT NULL, until DOUBLE PRECISION NOT NULL);
    CREATE TABLE port_status (port TEXT PRIMARY KEY, entry TEXT NOT NULL);
    """,
    # version 4: finished tasks pruned after task_retention (when they finished; those finished before
    # count from the upgrade), and the ports' loads read from the units in flight only
    f"""
    ALTER TABLE tasks ADD COLUMN finished_at DOUBLE PRECISION;
    UPDATE tasks SET finished_at = EXTRACT(EPOCH FROM now()) WHERE finished=1;
    CREATE INDEX tasks_finished ON tasks (finished_at) WHERE finished=1;
    CREATE INDEX units_busy ON units (via) WHERE state={DISPATCHED};
    """,
    # version 5: SMS a member reported sent of a dispatch withdrawn from it, each once (``twice``: its
    # unit had gone to another member meanwhile)
    """
    CREATE TABLE sent_late (
        dispatch_id BIGINT NOT NULL, sub_idx INTEGER NOT NULL, port TEXT NOT NULL,
        twice INTEGER NOT NULL, row TEXT NOT NULL, PRIMARY KEY (dispatch_id, sub_idx, port));
    """,
]


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
            for _ in range(len(MIGRATIONS) + 1):
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                    await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
                    row = await (await conn.execute("SELECT version FROM schema_version")).fetchone()
                    version = row[0] if row else 0
                    if version > len(MIGRATIONS):
                        raise RuntimeError(f"the fleet database is of a newer ejoin (schema {version})")
                    if version >= len(MIGRATIONS):
                        return
                    await conn.execute(MIGRATIONS[version])
                    if row is None:
                        await conn.execute("INSERT INTO schema_version VALUES (%s)", (version + 1,))
                    else:
                        await conn.execute("UPDATE schema_version SET version=%s", (version + 1,))
                    log.info("fleet database migrated to schema %d", version + 1)

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
