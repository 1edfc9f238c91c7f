"""The push outbox (``OutboxStore``) as a PostgreSQL table shared by the fleet's replicas.

Any replica queues pushes; a destination's pushes are sent by one replica at a time, the one
holding its lease (``push_leases``), so each push is sent by one replica and a destination's
pushes go in order.  The lease is taken when a replica reads the destination's head, renewed
while it holds it (``renew``, every third of a lease), and let go when its queue is empty; a
replica that dies lets go when the lease expires.  A push queued while another replica holds
the destination is announced (NOTIFY) so the holder sends it at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from psycopg import AsyncConnection

from ...store.base import OutboxItem, PushMarks, PushQueueSummary
from .pgdb import CHANNEL, NOW, PgDatabase, notify

T = TypeVar("T")
log = logging.getLogger(__name__)
_DEAD_COLS = "id, dest, kind, content_type, headers, body, created, attempts"


class PgOutboxStore:
    def __init__(self, db: PgDatabase) -> None:
        self.db = db
        self._writes: set[asyncio.Future[Any]] = set()

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[AsyncConnection[Any]]:
        async with self.db.pool.connection() as conn, conn.transaction():
            yield conn

    def _future(self, coro: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
        """A write on its own connection; the next head read waits for it (a delivered push deleted
        first, or it would be read, and sent, again)."""
        fut = asyncio.ensure_future(coro)
        self._writes.add(fut)
        fut.add_done_callback(self._written)
        return fut

    def _written(self, fut: asyncio.Future[Any]) -> None:
        self._writes.discard(fut)
        if not fut.cancelled() and fut.exception() is not None:
            log.error("a write to the fleet's outbox failed: %s", fut.exception())

    async def open(self) -> None:
        await self.db.open()

    async def close(self) -> None:
        await self.db.close()

    def outbox_add(
        self,
        dest: str,
        kind: str,
        content_type: str,
        body: bytes,
        headers: dict[str, str],
        created: float,
        marks: PushMarks | None = None,
    ) -> asyncio.Future[int]:
        if marks is not None and (marks.reported or marks.inbox):
            raise ValueError("the fleet's outbox holds no device marks")

        async def add() -> int:
            # One statement (autocommit: no BEGIN and COMMIT round trips): the push, and the notification
            # (sent when it commits) only when another replica may hold the destination; this one's own
            # sender is woken in memory (``Outbox.push``).
            async with self.db.pool.connection() as conn:
                cur = await conn.execute(
                    "WITH i AS (INSERT INTO outbox (dest, kind, content_type, headers, body, created) "
                    "VALUES (%s,%s,%s,%s,%s,%s) RETURNING id) "
                    "SELECT id, (SELECT pg_notify(%s, %s) WHERE NOT EXISTS "
                    "(SELECT 1 FROM push_leases WHERE dest=%s AND owner=%s)) FROM i",
                    (dest, kind, content_type, json.dumps(headers), body, created)
                    + (CHANNEL, "p" + dest, dest, self.db.replica),
                )
                row = await cur.fetchone()
                return int(row[0])  # type: ignore[index]

        return self._future(add())

    async def outbox_destinations(self) -> list[str]:
        async with self._tx() as conn:
            return [r[0] for r in await (await conn.execute("SELECT DISTINCT dest FROM outbox")).fetchall()]

    async def outbox_head(self, dest: str, limit: int) -> list[OutboxItem]:
        """The destination's first pushes, if this replica holds (or now takes) its lease; else none."""
        if self._writes:
            await asyncio.wait(list(self._writes))
        # The lease taken or renewed and the head read in one statement (autocommit): a row per push,
        # or one without a push (the lease is this replica's, the queue empty), or none (another
        # replica's lease).  The head is read in the statement's snapshot, as it was after the lease.
        async with self.db.pool.connection() as conn:
            while True:
                cur = await conn.execute(
                    f"WITH l AS (INSERT INTO push_leases VALUES (%s, %s, {NOW} + %s) ON CONFLICT (dest) DO UPDATE "
                    "SET owner=EXCLUDED.owner, until=EXCLUDED.until "
                    f"WHERE push_leases.owner=EXCLUDED.owner OR push_leases.until < {NOW} RETURNING owner) "
                    "SELECT o.id, o.dest, o.kind, o.content_type, o.body, o.headers, o.attempts, o.next_at, "
                    "o.created FROM l LEFT JOIN LATERAL (SELECT * FROM outbox WHERE dest=%s ORDER BY id LIMIT %s) o "
                    "ON true",
                    (dest, self.db.replica, self.db.lease, dest, limit),
                )
                rows = await cur.fetchall()
                if not rows:
                    return []  # another replica sends this destination's pushes
                if rows[0][0] is not None:
                    break
                # Nothing left: free for whoever queues the next one.  A push queued by another replica
                # while the lease was still this one's (it saw the lease, so it did not notify, and its
                # own try found the lease taken) is looked at again here, once the lease is gone.
                cur = await conn.execute(
                    "WITH d AS (DELETE FROM push_leases WHERE dest=%s AND owner=%s) "
                    "SELECT EXISTS (SELECT 1 FROM outbox WHERE dest=%s)",
                    (dest, self.db.replica, dest),
                )
                queued = await cur.fetchone()
                if not (queued and queued[0]):
                    return []
            return [
                OutboxItem(
                    id=int(r[0]),
                    dest=r[1],
                    kind=r[2],
                    content_type=r[3],
                    body=bytes(r[4]),
                    headers=json.loads(r[5]),
                    attempts=r[6],
                    next_at=r[7],
                    created=r[8],
                )
                for r in rows
            ]

    async def renew(self) -> None:
        """Keep the destinations this replica is sending (a head retried with back-off takes long)."""
        async with self._tx() as conn:
            await conn.execute(
                f"UPDATE push_leases SET until={NOW} + %s WHERE owner=%s", (self.db.lease, self.db.replica)
            )

    async def release(self) -> None:
        async with self._tx() as conn:
            cur = await conn.execute("DELETE FROM push_leases WHERE owner=%s RETURNING dest", (self.db.replica,))
            for (dest,) in await cur.fetchall():
                await notify(conn, "p" + dest)

    def outbox_delete(self, item_id: int) -> asyncio.Future[None]:
        async def delete() -> None:
            async with self.db.pool.connection() as conn:  # one statement: autocommit, no BEGIN and COMMIT
                await conn.execute("DELETE FROM outbox WHERE id=%s", (item_id,))

        return self._future(delete())

    def outbox_retry(self, item_id: int, attempts: int, next_at: float, error: str) -> asyncio.Future[None]:
        async def retry() -> None:
            async with self._tx() as conn:
                await conn.execute(
                    "UPDATE outbox SET attempts=%s, next_at=%s, last_error=%s WHERE id=%s",
                    (attempts, next_at, error[:500], item_id),
                )

        return self._future(retry())

    async def outbox_count(self) -> int:
        async with self._tx() as conn:
            return int((await (await conn.execute("SELECT COUNT(*) FROM outbox")).fetchone())[0])  # type: ignore[index]

    def outbox_kill(self, dest: str, created_before: float, died: float, error: str, keep: int) -> asyncio.Future[int]:
        async def kill() -> int:
            async with self._tx() as conn:
                await conn.execute(
                    f"INSERT INTO outbox_dead ({_DEAD_COLS}, last_error, died) "
                    f"SELECT {_DEAD_COLS}, COALESCE(last_error, %s), %s FROM outbox WHERE dest=%s AND created <= %s",
                    (error[:500], died, dest, created_before),
                )
                cur = await conn.execute("DELETE FROM outbox WHERE dest=%s AND created <= %s", (dest, created_before))
                moved = cur.rowcount
                await conn.execute(
                    "DELETE FROM outbox_dead WHERE dest=%s AND id < "
                    "(SELECT MIN(id) FROM (SELECT id FROM outbox_dead WHERE dest=%s ORDER BY id DESC LIMIT %s) k)",
                    (dest, dest, keep),
                )
                return moved

        return self._future(kill())

    def outbox_revive(self, dest: str | None, now: float) -> asyncio.Future[dict[str, int]]:
        where, args = ("WHERE dest=%s", (dest,)) if dest is not None else ("", ())

        async def revive() -> dict[str, int]:
            async with self._tx() as conn:
                cur = await conn.execute(f"SELECT dest, COUNT(*) FROM outbox_dead {where} GROUP BY dest", args)
                counts = {d: int(n) for d, n in await cur.fetchall()}
                # The original ids: a replayed push goes back before anything queued for its destination since.
                await conn.execute(
                    "INSERT INTO outbox (id, dest, kind, content_type, headers, body, created) "
                    f"SELECT id, dest, kind, content_type, headers, body, %s FROM outbox_dead {where}",
                    (now, *args),
                )
                await conn.execute(f"DELETE FROM outbox_dead {where}", args)
                for d in counts:
                    await notify(conn, "p" + d)
                return counts

        return self._future(revive())

    def outbox_drop(self, dest: str | None, queued: bool) -> asyncio.Future[dict[str, tuple[int, int]]]:
        where, args = ("WHERE dest=%s", (dest,)) if dest is not None else ("", ())

        async def drop() -> dict[str, tuple[int, int]]:
            async with self._tx() as conn:
                cur = await conn.execute(f"SELECT dest, COUNT(*) FROM outbox_dead {where} GROUP BY dest", args)
                dead = {d: int(n) for d, n in await cur.fetchall()}
                waiting: dict[str, int] = {}
                if queued:
                    cur = await conn.execute(f"SELECT dest, COUNT(*) FROM outbox {where} GROUP BY dest", args)
                    waiting = {d: int(n) for d, n in await cur.fetchall()}
                    await conn.execute(f"DELETE FROM outbox {where}", args)
                await conn.execute(f"DELETE FROM outbox_dead {where}", args)
                return {d: (dead.get(d, 0), waiting.get(d, 0)) for d in {*dead, *waiting}}

        return self._future(drop())

    async def outbox_summary(self) -> list[PushQueueSummary]:
        async with self._tx() as conn:
            out: dict[str, PushQueueSummary] = {}
            cur = await conn.execute(
                "SELECT o.dest, c.n, c.oldest, o.attempts, o.next_at, o.last_error FROM outbox o JOIN "
                "(SELECT dest, COUNT(*) AS n, MIN(created) AS oldest, MIN(id) AS head FROM outbox GROUP BY dest) c "
                "ON o.id = c.head"
            )
            for dest, n, oldest, attempts, next_at, error in await cur.fetchall():
                out[dest] = PushQueueSummary(
                    dest, int(n), oldest, attempts, next_at if attempts else None, error or "", 0, None, None
                )
            cur = await conn.execute(
                "SELECT d.dest, c.n, c.oldest, d.died, d.last_error FROM outbox_dead d JOIN "
                "(SELECT dest, COUNT(*) AS n, MIN(created) AS oldest, MAX(id) AS last "
                "FROM outbox_dead GROUP BY dest) c ON d.id = c.last"
            )
            for dest, n, oldest, died, error in await cur.fetchall():
                summary = out.setdefault(dest, PushQueueSummary(dest))
                summary.dead, summary.oldest_dead, summary.last_died = int(n), oldest, died
                summary.last_error = summary.last_error or error or ""
            return sorted(out.values(), key=lambda s: s.dest)
