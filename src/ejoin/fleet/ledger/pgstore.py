"""``Ledger`` on PostgreSQL, shared by any number of fleet replicas.

The same record as ``SqliteLedger`` (the contract tests run both); what sharing adds:
- each open task is owned by one replica under a lease (``claim``: ``FOR UPDATE SKIP LOCKED``);
  only the owner dispatches it and emits its reports, and a task whose owner stopped renewing
  is taken over;
- units are taken by a dispatch only while pending (rows locked), so no two passes or replicas
  dispatch one unit; outcomes lock the dispatch's units, so a report pushed to two replicas at
  once counts once;
- ports' loads and SIMs' quotas are read and spent under an advisory lock (``pick_lock``), so
  they hold across replicas;
- a member's outcomes notify the task's owner (LISTEN/NOTIFY) so its report stream moves at once.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import AsyncConnection

from .pgdb import NOW, PgDatabase, notify
from .store import (
    BUSY_SQL,
    DISPATCHED,
    FAILED,
    PENDING,
    POSTED,
    PRUNE_BATCH,
    RECORDED,
    REFUSED,
    REMOVED,
    SENT,
    WITHDRAWN,
    Conflict,
    Counts,
    TaskRow,
    Unit,
    member_tid,
    port_forms,
    row_of,
    row_text,
    task_of,
    task_text,
)

_PICK_LOCK = 7_406_512_362  # advisory lock key of picks (any value, the same in every replica)
_MEMBERS_LOCK = 7_406_512_363  # advisory lock key of run-time member changes
_TASK_COLUMNS = "id, tid_echo, task, sr_url, sr_cnt, sr_prd, sdr, fdr, hold, finished"


def _task(r: Any) -> TaskRow:
    return TaskRow(r[0], json.loads(r[1]), task_of(r[2]), r[3], r[4], r[5], bool(r[6]), bool(r[7]), r[8], bool(r[9]))


async def _counts(conn: AsyncConnection[Any], task_id: int) -> Counts:
    cur = await conn.execute(
        "SELECT COUNT(*), COUNT(*) FILTER (WHERE state=%s), COUNT(*) FILTER (WHERE state=%s), "
        "COUNT(*) FILTER (WHERE state=%s), COALESCE(SUM(reported), 0), "
        "(SELECT COALESCE(SUM(sending), 0) FROM dispatches WHERE task_id=%s AND state=%s) "
        "FROM units WHERE task_id=%s",
        (SENT, FAILED, DISPATCHED, task_id, POSTED, task_id),
    )
    total, sent, failed, dispatched, reported, sending = await cur.fetchone()  # type: ignore[misc]
    return Counts(int(total), int(sent), int(failed), min(int(sending), int(dispatched)), int(reported))


class PgLedger:
    def __init__(self, db: PgDatabase) -> None:
        self.db = db
        self.lease = db.lease
        # One pick of this replica waits for the database's lock at a time: each waiting one holds a
        # pooled connection, and the pick holding the lock needs one to finish.
        self._picking = asyncio.Lock()

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[AsyncConnection[Any]]:
        async with self.db.pool.connection() as conn, conn.transaction():
            yield conn

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection[Any]]:
        """For one statement that only reads: it is its own transaction (autocommit), sparing the
        BEGIN and COMMIT round trips (reads run several times per report and dispatch)."""
        async with self.db.pool.connection() as conn:
            yield conn

    async def open(self) -> None:
        await self.db.open()

    async def close(self) -> None:
        await self.db.close()

    async def secret(self) -> str:
        async with self._tx() as conn:
            await conn.execute(
                "INSERT INTO meta VALUES ('secret', %s) ON CONFLICT (key) DO NOTHING", (secrets.token_urlsafe(16),)
            )
            row = await (await conn.execute("SELECT value FROM meta WHERE key='secret'")).fetchone()
            assert row is not None
            return str(row[0])

    async def add_tasks(self, tasks: list[tuple[Any, dict[str, Any], dict[str, Any], list[Unit]]]) -> list[int | None]:
        """Each task's id (owned by this replica), or None when a task with its tid is still open."""
        ids: list[int | None] = []
        async with self._tx() as conn:
            for tid_echo, task, rep, units in tasks:
                cur = await conn.execute(
                    "INSERT INTO tasks (tid_echo, task, sr_url, sr_cnt, sr_prd, sdr, fdr, owner, lease_until) "
                    f"VALUES (%s,%s,%s,%s,%s,%s,%s,%s,{NOW} + %s) "
                    "ON CONFLICT (tid_echo) WHERE finished=0 DO NOTHING RETURNING id",
                    (
                        json.dumps(tid_echo),
                        task_text(task),
                        rep["sr_url"],
                        rep["sr_cnt"],
                        rep["sr_prd"],
                        int(rep["sdr"]),
                        int(rep["fdr"]),
                        self.db.replica,
                        self.lease,
                    ),
                )
                row = await cur.fetchone()
                if row is None:
                    ids.append(None)
                    continue
                task_id = int(row[0])
                async with conn.cursor().copy("COPY units (task_id, idx, number, port) FROM STDIN") as copy:
                    for u in units:
                        await copy.write_row((task_id, u.idx, u.number, u.port))
                ids.append(task_id)
        return ids

    async def pending(self, task_id: int) -> list[Unit]:
        async with self._read() as conn:
            cur = await conn.execute(
                "SELECT idx, number, port FROM units WHERE task_id=%s AND state=%s ORDER BY id", (task_id, PENDING)
            )
            return [Unit(*r) for r in await cur.fetchall()]

    async def open_tasks(self) -> list[TaskRow]:
        async with self._read() as conn:
            cur = await conn.execute(f"SELECT {_TASK_COLUMNS} FROM tasks WHERE finished=0 ORDER BY id")
            return [_task(r) for r in await cur.fetchall()]

    async def task(self, task_id: int) -> TaskRow | None:
        async with self._read() as conn:
            r = await (await conn.execute(f"SELECT {_TASK_COLUMNS} FROM tasks WHERE id=%s", (task_id,))).fetchone()
            return None if r is None else _task(r)

    async def record_dispatch(
        self, task_id: int, member: str, units: list[tuple[Unit, str, int]], sim: str | None = None, at: float = 0
    ) -> tuple[int, int]:
        try:
            async with self._tx() as conn:
                row = await (
                    await conn.execute("SELECT COUNT(*) FROM dispatches WHERE task_id=%s", (task_id,))
                ).fetchone()
                no = int(row[0]) + 1  # type: ignore[index]
                tid = member_tid(task_id, no)
                cur = await conn.execute(
                    "INSERT INTO dispatches (task_id, no, member, member_tid) VALUES (%s,%s,%s,%s) RETURNING id",
                    (task_id, no, member, tid),
                )
                dispatch_id = int((await cur.fetchone())[0])  # type: ignore[index]
                cur = await conn.execute(
                    "UPDATE units u SET state=%s, dispatch_id=%s, sub_idx=v.sub, via=v.via, sim=%s, at=%s "
                    "FROM unnest(%b::int[], %b::text[], %b::text[], %b::int[]) AS v(idx, port, via, sub) "
                    "WHERE u.task_id=%s AND u.idx=v.idx AND u.port IS NOT DISTINCT FROM v.port AND u.state=%s",
                    (
                        DISPATCHED,
                        dispatch_id,
                        sim,
                        at,
                        [u.idx for u, _, _ in units],
                        [u.port for u, _, _ in units],
                        [via for _, via, _ in units],
                        [sub for _, _, sub in units],
                        task_id,
                        PENDING,
                    ),
                )
                if cur.rowcount != len(units):
                    raise Conflict(f"task {task_id}: {len(units) - cur.rowcount} of the units to dispatch were taken")
                return dispatch_id, tid
        except psycopg.errors.UniqueViolation as exc:  # another replica numbered a dispatch at the same time
            raise Conflict(f"task {task_id}: dispatch numbered twice") from exc

    async def sim_usage(self, hour_since: float, day_since: float) -> dict[str, tuple[int, int]]:
        async with self._read() as conn:
            cur = await conn.execute(
                "SELECT sim, COUNT(*) FILTER (WHERE at >= %s), COUNT(*) FROM units "
                "WHERE sim IS NOT NULL AND at >= %s AND state IN (%s, %s) GROUP BY sim",
                (hour_since, day_since, DISPATCHED, SENT),
            )
            return {sim: (int(h), int(d)) for sim, h, d in await cur.fetchall()}

    async def dispatch_done(self, dispatch_id: int, state: int) -> None:
        async with self._tx() as conn:
            await conn.execute("UPDATE dispatches SET state=%s WHERE id=%s", (state, dispatch_id))
            if state == REFUSED:
                await conn.execute(
                    "UPDATE units SET state=%s, dispatch_id=NULL, sub_idx=NULL, via=NULL "
                    "WHERE dispatch_id=%s AND state=%s",
                    (PENDING, dispatch_id, DISPATCHED),
                )

    async def dispatch_of(self, member: str, member_tid: int) -> tuple[int, int] | None:
        async with self._read() as conn:
            r = await (
                await conn.execute(
                    "SELECT id, task_id FROM dispatches WHERE member=%s AND member_tid=%s", (member, member_tid)
                )
            ).fetchone()
            return None if r is None else (int(r[0]), int(r[1]))

    async def apply(
        self, dispatch_id: int, task_id: int, rows: list[tuple[int, str | None, int, list[Any]]], sending: int
    ) -> tuple[list[list[Any]], Counts]:
        """As ``SqliteLedger.apply``; the dispatch's row is locked, so the same report applied by two
        replicas at once counts once (the second reads its units after the first committed: done)."""
        async with self._tx() as conn:
            # The dispatch row is the lock of its units: every writer of a dispatch's units (this, failover's
            # withdraw, a refused dispatch) takes it first, so the units need no row locks of their own
            # (one write per unit saved).  Writing its count in flight takes that lock.
            await conn.execute("UPDATE dispatches SET sending=%s WHERE id=%s", (sending, dispatch_id))
            open_units: dict[int, list[tuple[int, int, str | None]]] = {}
            cur = await conn.execute(
                "SELECT id, sub_idx, idx, port FROM units WHERE dispatch_id=%s AND state=%s ORDER BY id",
                (dispatch_id, DISPATCHED),
            )
            for unit_id, sub, idx, unit_port in await cur.fetchall():
                open_units.setdefault(sub, []).append((unit_id, idx, unit_port))
            fresh: list[list[Any]] = []
            ids: list[int] = []
            states: list[int] = []
            texts: list[str] = []
            for sub_idx, port, state, row in rows:
                candidates = open_units.get(sub_idx, [])
                match = [c for c in candidates if c[2] in (None, port, (port or "").split(".")[0])]
                if not match:
                    continue
                candidates.remove(match[0])
                unit_id, idx, _ = match[0]
                fleet_row = [idx, *row[1:]]
                ids.append(unit_id)
                states.append(state)
                texts.append(row_text(fleet_row))
                fresh.append(fleet_row)
            if ids:
                # done_seq in the order of the rows (unnest WITH ORDINALITY), as the member reported them
                await conn.execute(
                    "UPDATE units u SET state=v.state, row=v.row, done_seq=v.seq FROM "
                    "(SELECT id, state, row, nextval('units_done_seq') AS seq FROM "
                    "unnest(%b::bigint[], %b::smallint[], %b::text[]) WITH ORDINALITY AS x(id, state, row, n) "
                    "ORDER BY n) AS v WHERE u.id=v.id",
                    (ids, states, texts),
                )
                await notify(conn, f"t{task_id}")
            return fresh, await _counts(conn, task_id)

    async def counts(self, task_id: int) -> Counts:
        async with self._read() as conn:
            return await _counts(conn, task_id)

    async def prune(self, finished_before: float, inbox_keep: int, unforwarded: bool) -> tuple[int, int]:
        """As ``SqliteLedger.prune``; a task some replica holds locked now is left for the next round."""
        async with self._tx() as conn:
            cur = await conn.execute(
                "SELECT id FROM tasks WHERE finished=1 AND finished_at < %s AND NOT EXISTS "
                "(SELECT 1 FROM dispatches d WHERE d.task_id=tasks.id AND d.state=%s) LIMIT %s FOR UPDATE SKIP LOCKED",
                (finished_before, WITHDRAWN, PRUNE_BATCH),
            )
            ids = [int(i) for (i,) in await cur.fetchall()]
            if ids:
                await conn.execute("DELETE FROM units WHERE task_id = ANY(%s)", (ids,))
                await conn.execute(
                    "DELETE FROM sent_late WHERE dispatch_id IN (SELECT id FROM dispatches WHERE task_id = ANY(%s))",
                    (ids,),
                )
                await conn.execute("DELETE FROM dispatches WHERE task_id = ANY(%s)", (ids,))
                await conn.execute("DELETE FROM tasks WHERE id = ANY(%s)", (ids,))
            cur = await conn.execute("SELECT id FROM inbox ORDER BY id DESC LIMIT 1 OFFSET %s", (inbox_keep,))
            cutoff = await cur.fetchone()
            gone = 0
            if cutoff is not None:
                sql = "DELETE FROM inbox WHERE id <= %s" + ("" if unforwarded else " AND forwarded=1")
                gone = (await conn.execute(sql, (cutoff[0],))).rowcount
            return len(ids), gone

    async def busy(self) -> dict[str, int]:
        async with self._read() as conn:
            cur = await conn.execute(BUSY_SQL)
            return {via: int(n) for via, n in await cur.fetchall()}

    async def find(self, tids: list[Any] | None) -> list[tuple[Any, int | None]]:
        async with self._tx() as conn:
            if tids is None:
                cur = await conn.execute("SELECT tid_echo, id FROM tasks WHERE finished=0 ORDER BY id")
                return [(json.loads(t), int(i)) for t, i in await cur.fetchall()]
            out: list[tuple[Any, int | None]] = []
            for tid in tids:
                keys = [json.dumps(tid)]
                if isinstance(tid, str) and tid.strip().lstrip("-").isdigit():
                    keys.append(json.dumps(int(tid)))
                r = await (
                    await conn.execute(
                        "SELECT id FROM tasks WHERE tid_echo = ANY(%s) AND finished=0 ORDER BY id LIMIT 1", (keys,)
                    )
                ).fetchone()
                out.append((tid, int(r[0]) if r else None))
            return out

    async def hold(self, task_id: int, hold: int) -> list[tuple[str, int]]:
        async with self._tx() as conn:
            await conn.execute("UPDATE tasks SET hold=%s WHERE id=%s AND hold != %s", (hold, task_id, REMOVED))
            await notify(conn, f"d{task_id}")  # its owner dispatches again (resumed) or stops
            cur = await conn.execute(
                "SELECT member, member_tid FROM dispatches WHERE task_id=%s AND state IN (%s, %s) ORDER BY id",
                (task_id, RECORDED, POSTED),
            )
            return [(m, int(t)) for m, t in await cur.fetchall()]

    async def remove_pending(self, task_id: int, reason: str, ts: int) -> tuple[list[list[Any]], Counts]:
        async with self._tx() as conn:
            cur = await conn.execute(
                "SELECT id, idx, number FROM units WHERE task_id=%s AND state=%s ORDER BY id FOR UPDATE",
                (task_id, PENDING),
            )
            found = await cur.fetchall()
            fresh = [[idx, number, "", ts, reason, ""] for _, idx, number in found]
            if found:
                await conn.execute(
                    "UPDATE units u SET state=%s, row=v.row, done_seq=v.seq FROM "
                    "(SELECT id, row, nextval('units_done_seq') AS seq FROM "
                    "unnest(%s::bigint[], %s::text[]) WITH ORDINALITY AS x(id, row, n) ORDER BY n) AS v "
                    "WHERE u.id=v.id",
                    (FAILED, [r[0] for r in found], [row_text(row) for row in fresh]),
                )
                await notify(conn, f"t{task_id}")
            return fresh, await _counts(conn, task_id)

    async def inbox_cursor(self, member: str) -> tuple[str, int]:
        async with self._read() as conn:
            r = await (
                await conn.execute("SELECT ssrc, next_id FROM inbox_cursor WHERE member=%s", (member,))
            ).fetchone()
            return ("", 1) if r is None else (str(r[0]), int(r[1]))

    async def inbox_add(
        self, member: str, ssrc: str, rows: list[tuple[int, list[Any]]], next_id: int
    ) -> list[tuple[int, list[Any]]]:
        async with self._tx() as conn:
            await _lock_inbox(conn, member)
            new: list[tuple[int, list[Any]]] = []
            for member_id, row in rows:
                known = await conn.execute(
                    "SELECT 1 FROM inbox WHERE member=%s AND ssrc=%s AND member_id=%s", (member, ssrc, member_id)
                )
                if await known.fetchone():
                    continue
                fp = json.dumps(row)
                pushed = await (
                    await conn.execute(
                        "SELECT id FROM inbox WHERE member=%s AND fp=%s AND member_id IS NULL ORDER BY id LIMIT 1",
                        (member, fp),
                    )
                ).fetchone()
                if pushed:
                    await conn.execute(
                        "UPDATE inbox SET ssrc=%s, member_id=%s WHERE id=%s", (ssrc, member_id, pushed[0])
                    )
                    continue
                added = await conn.execute(
                    "INSERT INTO inbox (member, ssrc, member_id, row, fp, forwarded) VALUES (%s,%s,%s,%s,%s,0) "
                    "RETURNING id",
                    (member, ssrc, member_id, fp, fp),
                )
                new.append((int((await added.fetchone())[0]), row))  # type: ignore[index]
            # Two replicas reading one member at once: the cursor only moves forward within one ssrc.
            await conn.execute(
                "INSERT INTO inbox_cursor VALUES (%s,%s,%s) ON CONFLICT (member) DO UPDATE SET ssrc=EXCLUDED.ssrc, "
                "next_id=CASE WHEN inbox_cursor.ssrc=EXCLUDED.ssrc THEN GREATEST(inbox_cursor.next_id, "
                "EXCLUDED.next_id) ELSE EXCLUDED.next_id END",
                (member, ssrc, next_id),
            )
            if new:
                await notify(conn, "i")  # the batcher of received SMS (the status role's holder)
            return new

    async def inbox_pushed(self, member: str, rows: list[list[Any]]) -> list[tuple[int, list[Any]]]:
        async with self._tx() as conn:
            await _lock_inbox(conn, member)
            new: list[tuple[int, list[Any]]] = []
            for row in rows:
                fp = json.dumps(row)
                pulled = await (
                    await conn.execute(
                        "SELECT id FROM inbox WHERE member=%s AND fp=%s AND pushed=0 AND member_id IS NOT NULL "
                        "ORDER BY id LIMIT 1",
                        (member, fp),
                    )
                ).fetchone()
                if pulled:
                    await conn.execute("UPDATE inbox SET pushed=1 WHERE id=%s", (pulled[0],))
                    continue
                added = await conn.execute(
                    "INSERT INTO inbox (member, row, fp, pushed, forwarded) VALUES (%s,%s,%s,1,0) RETURNING id",
                    (member, fp, fp),
                )
                new.append((int((await added.fetchone())[0]), row))  # type: ignore[index]
            if new:
                await notify(conn, "i")
            return new

    async def inbox_forwarded(self, ids: list[int]) -> None:
        async with self._tx() as conn:
            await conn.execute("UPDATE inbox SET forwarded=1 WHERE id = ANY(%s)", (ids,))

    async def inbox_unforwarded(self) -> list[tuple[int, list[Any]]]:
        async with self._tx() as conn:
            cur = await conn.execute("SELECT id, row FROM inbox WHERE forwarded=0 ORDER BY id")
            return [(int(i), json.loads(r)) for i, r in await cur.fetchall()]

    async def inbox_page(self, first: int, limit: int, delete: bool) -> tuple[list[list[Any]], int]:
        async with self._tx() as conn:
            sql, params = "SELECT id, row FROM inbox WHERE id >= %s ORDER BY id", [first]
            if limit > 0:
                sql += " LIMIT %s"
                params.append(limit)
            found = await (await conn.execute(sql, params)).fetchall()
            if found:
                next_id = int(found[-1][0]) + 1
            else:
                last, called = await (await conn.execute("SELECT last_value, is_called FROM inbox_id_seq")).fetchone()  # type: ignore[misc]
                next_id = max(first, (int(last) if called else 0) + 1)
            if delete and found:
                await conn.execute("DELETE FROM inbox WHERE id = ANY(%s)", ([int(i) for i, _ in found],))
            return [json.loads(r) for _, r in found], next_id

    async def withdraw(self, member: str) -> list[int]:
        async with self._tx() as conn:
            cur = await conn.execute(
                "SELECT id, task_id FROM dispatches WHERE member=%s AND state IN (%s, %s) ORDER BY id FOR UPDATE",
                (member, RECORDED, POSTED),
            )
            tasks = set()
            for dispatch_id, task_id in await cur.fetchall():
                moved = await conn.execute(
                    "UPDATE units SET state=%s, dispatch_id=NULL, sub_idx=NULL, via=NULL "
                    "WHERE dispatch_id=%s AND state=%s",
                    (PENDING, dispatch_id, DISPATCHED),
                )
                if moved.rowcount:
                    await conn.execute(
                        "UPDATE dispatches SET state=%s, sending=0 WHERE id=%s", (WITHDRAWN, dispatch_id)
                    )
                    tasks.add(int(task_id))
            return sorted(tasks)

    async def sent_late(
        self, dispatch_id: int, task_id: int, rows: list[tuple[int, str | None, list[Any]]]
    ) -> tuple[list[list[Any]], list[list[Any]], Counts] | None:
        """As ``SqliteLedger.sent_late``; the dispatch row locked (as every writer of its units does), a
        pending unit taken with its row lock (a dispatch pass taking it first leaves it to that pass)."""
        async with self._tx() as conn:
            r = await (
                await conn.execute("SELECT state FROM dispatches WHERE id=%s FOR UPDATE", (dispatch_id,))
            ).fetchone()
            if r is None or r[0] not in (WITHDRAWN, REMOVED):
                return None
            cur = await conn.execute(
                "SELECT sub_idx, port FROM units WHERE dispatch_id=%s AND state IN (%s, %s)",
                (dispatch_id, SENT, FAILED),
            )
            done = {(sub, port) for sub, port in await cur.fetchall()}
            applied: list[list[Any]] = []
            twice: list[list[Any]] = []
            for sub_idx, port, row in rows:
                ports = port_forms(port)
                if any((sub_idx, p) in done for p in ports):
                    continue  # done before the withdrawal: its outcome was applied then
                new = await conn.execute(
                    "INSERT INTO sent_late (dispatch_id, sub_idx, port, twice, row) VALUES (%s,%s,%s,0,%s) "
                    "ON CONFLICT DO NOTHING",
                    (dispatch_id, sub_idx, port or "", row_text(row)),
                )
                if not new.rowcount:
                    continue  # a report pushed again
                unit = await (
                    await conn.execute(
                        "SELECT id, idx FROM units WHERE task_id=%s AND state=%s AND number=%s "
                        "AND (port IS NULL OR port IN (%s, %s)) ORDER BY id LIMIT 1 FOR UPDATE",
                        (task_id, PENDING, row[1], *ports[1:]),
                    )
                ).fetchone()
                if unit is None:
                    await conn.execute(
                        "UPDATE sent_late SET twice=1 WHERE dispatch_id=%s AND sub_idx=%s AND port=%s",
                        (dispatch_id, sub_idx, port or ""),
                    )
                    twice.append(row)
                    continue
                fleet_row = [int(unit[1]), *row[1:]]
                await conn.execute(
                    "UPDATE units SET state=%s, row=%s, done_seq=nextval('units_done_seq'), dispatch_id=%s, "
                    "sub_idx=%s WHERE id=%s",
                    (SENT, row_text(fleet_row), dispatch_id, sub_idx, unit[0]),
                )
                applied.append(fleet_row)
            if applied:
                await notify(conn, f"t{task_id}")
            return applied, twice, await _counts(conn, task_id)

    async def sent_twice(self) -> dict[str, int]:
        async with self._read() as conn:
            cur = await conn.execute(
                "SELECT d.member, COUNT(*) FROM sent_late s JOIN dispatches d ON d.id=s.dispatch_id "
                "WHERE s.twice=1 GROUP BY d.member"
            )
            return {m: int(n) for m, n in await cur.fetchall()}

    async def withdrawn(self, member: str) -> list[int]:
        async with self._read() as conn:
            cur = await conn.execute(
                "SELECT member_tid FROM dispatches WHERE member=%s AND state=%s ORDER BY id", (member, WITHDRAWN)
            )
            return [int(r[0]) for r in await cur.fetchall()]

    async def removed(self, member: str, member_tids: list[int]) -> None:
        async with self._tx() as conn:
            await conn.execute(
                "UPDATE dispatches SET state=%s WHERE member=%s AND member_tid = ANY(%s)",
                (REMOVED, member, member_tids),
            )

    async def unreported(self, task_id: int) -> list[tuple[int, list[Any]]]:
        async with self._read() as conn:
            cur = await conn.execute(
                "SELECT done_seq, row FROM units WHERE task_id=%s AND state IN (%s, %s) AND reported=0 "
                "ORDER BY done_seq",
                (task_id, SENT, FAILED),
            )
            return [(int(seq), row_of(r)) for seq, r in await cur.fetchall()]

    async def mark_reported(self, task_id: int, seqs: list[int], at: float, final: bool = False) -> None:
        """As ``SqliteLedger.mark_reported`` (``final``: the task finished, its units left unmarked)."""
        async with self._tx() as conn:
            if final:
                await conn.execute(
                    "UPDATE tasks SET finished=1, finished_at=%s, owner=NULL WHERE id=%s AND NOT EXISTS "
                    "(SELECT 1 FROM units WHERE task_id=%s AND state NOT IN (%s, %s))",
                    (at, task_id, task_id, SENT, FAILED),
                )
                return
            # joined with the seqs (a hash join), not ``done_seq = ANY(...)``: that one compares every unit
            # of the task with every seq (quadratic in a report's size)
            await conn.execute(
                "UPDATE units u SET reported=1 FROM unnest(%b::bigint[]) AS s(seq) "
                "WHERE u.task_id=%s AND u.done_seq=s.seq",
                (seqs, task_id),
            )
            await conn.execute(
                "UPDATE tasks SET finished=1, finished_at=%s, owner=NULL WHERE id=%s AND NOT EXISTS "
                "(SELECT 1 FROM units WHERE task_id=%s AND reported=0)",
                (at, task_id, task_id),
            )

    async def claim(self) -> tuple[list[int], list[int]]:
        """Renew this replica's task leases and take unowned or expired ones: (owned now, taken over).

        ``SKIP LOCKED``: a task another replica is claiming at this instant is left to it.
        """
        async with self._tx() as conn:
            cur = await conn.execute(
                "WITH c AS (SELECT id, owner FROM tasks WHERE finished=0 AND "
                f"(owner = %s OR owner IS NULL OR lease_until < {NOW}) ORDER BY id FOR UPDATE SKIP LOCKED) "
                f"UPDATE tasks t SET owner=%s, lease_until={NOW} + %s FROM c WHERE t.id=c.id "
                "RETURNING t.id, c.owner",
                (self.db.replica, self.db.replica, self.lease),
            )
            rows = await cur.fetchall()
        owned = sorted(int(i) for i, _ in rows)
        return owned, sorted(int(i) for i, old in rows if old != self.db.replica)

    async def release(self) -> None:
        """A replica stopping: its tasks (and roles) are free at once, and the others are told so."""
        async with self._tx() as conn:
            await conn.execute(
                "UPDATE tasks SET owner=NULL, lease_until=0 WHERE owner=%s AND finished=0", (self.db.replica,)
            )
            await conn.execute("DELETE FROM roles WHERE owner=%s", (self.db.replica,))
            await notify(conn, "claim")

    async def recorded(self, task_id: int) -> list[tuple[int, str, int, list[tuple[Unit, str, int]]]]:
        async with self._tx() as conn:
            cur = await conn.execute(
                "SELECT id, member, member_tid FROM dispatches WHERE task_id=%s AND state=%s ORDER BY id",
                (task_id, RECORDED),
            )
            out = []
            for dispatch_id, member, tid in await cur.fetchall():
                units = await (
                    await conn.execute(
                        "SELECT idx, number, port, via, sub_idx FROM units WHERE dispatch_id=%s AND state=%s "
                        "ORDER BY sub_idx, id",
                        (dispatch_id, DISPATCHED),
                    )
                ).fetchall()
                if units:
                    out.append(
                        (
                            int(dispatch_id),
                            str(member),
                            int(tid),
                            [(Unit(idx, number, port), via, sub) for idx, number, port, via, sub in units],
                        )
                    )
            return out

    @asynccontextmanager
    async def pick_lock(self) -> AsyncIterator[None]:
        """Across replicas: one pick (ports' loads and SIMs' usage read, units recorded) at a time."""
        async with self._picking, self.db.pool.connection() as conn:
            await conn.execute("SELECT pg_advisory_lock(%s)", (_PICK_LOCK,))
            try:
                yield
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (_PICK_LOCK,))

    # --- members and the fleet's own settings ----------------------------------------

    @asynccontextmanager
    async def members_lock(self) -> AsyncIterator[None]:
        """Across replicas: one member added or removed at a time, each checked against the last."""
        async with self.db.pool.connection() as conn:
            await conn.execute("SELECT pg_advisory_lock(%s)", (_MEMBERS_LOCK,))
            try:
                yield
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (_MEMBERS_LOCK,))

    async def seed_members(self, members: list[dict[str, Any]]) -> list[dict[str, Any]]:
        async with self._tx() as conn:
            async with conn.cursor() as cur:
                await cur.executemany(
                    "INSERT INTO members (name, settings) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING",
                    [(m["name"], json.dumps(m)) for m in members],
                )
            cur2 = await conn.execute("SELECT settings FROM members WHERE removed=0 ORDER BY seq")
            return [json.loads(r[0]) for r in await cur2.fetchall()]

    async def add_member(self, settings: dict[str, Any]) -> None:
        async with self._tx() as conn:
            await conn.execute(
                "INSERT INTO members (name, settings) VALUES (%s, %s) "
                "ON CONFLICT (name) DO UPDATE SET settings=EXCLUDED.settings, removed=0",
                (settings["name"], json.dumps(settings)),
            )
            await notify(conn, "m")  # every replica attaches it (ports, link) at once

    async def remove_member(self, name: str) -> None:
        async with self._tx() as conn:
            await conn.execute("UPDATE members SET removed=1 WHERE name=%s", (name,))
            await conn.execute("DELETE FROM inbox_cursor WHERE member=%s", (name,))
            await notify(conn, "m")

    async def member_load(self, member: str, ports: tuple[int, int]) -> int:
        async with self._tx() as conn:
            cur = await conn.execute(
                "SELECT COUNT(*) FROM units u JOIN dispatches d ON u.dispatch_id=d.id "
                "WHERE d.member=%s AND d.state IN (%s, %s) AND u.state=%s",
                (member, RECORDED, POSTED, DISPATCHED),
            )
            dispatched = int((await cur.fetchone())[0])  # type: ignore[index]
            return dispatched + len(await _pinned(conn, ports, lock=False))

    async def fail_pinned(
        self, ports: tuple[int, int], reason: str, detail: str, ts: int
    ) -> list[tuple[int, list[list[Any]], Counts]]:
        async with self._tx() as conn:
            by_task: dict[int, list[list[Any]]] = {}
            ids: dict[int, list[int]] = {}
            for unit_id, task_id, idx, number, port in await _pinned(conn, ports, lock=True):
                by_task.setdefault(task_id, []).append([idx, number, port, ts, reason, detail])
                ids.setdefault(task_id, []).append(unit_id)
            out = []
            for task_id, rows in by_task.items():
                await conn.execute(
                    "UPDATE units u SET state=%s, row=v.row, done_seq=v.seq FROM "
                    "(SELECT id, row, nextval('units_done_seq') AS seq FROM "
                    "unnest(%s::bigint[], %s::text[]) WITH ORDINALITY AS x(id, row, n) ORDER BY n) AS v "
                    "WHERE u.id=v.id",
                    (FAILED, ids[task_id], [row_text(r) for r in rows]),
                )
                await notify(conn, f"t{task_id}")
                out.append((task_id, rows, await _counts(conn, task_id)))
            return out

    async def setting(self, key: str) -> str | None:
        async with self._tx() as conn:
            r = await (await conn.execute("SELECT value FROM meta WHERE key=%s", ("setting:" + key,))).fetchone()
            return None if r is None else str(r[0])

    async def set_setting(self, key: str, value: str) -> None:
        async with self._tx() as conn:
            await conn.execute(
                "INSERT INTO meta VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value=EXCLUDED.value",
                ("setting:" + key, value),
            )
            await notify(conn, "s")  # every replica reads the fleet's settings again

    async def lead(self, role: str) -> bool:
        """Take or renew the lease of a role one replica plays for all (the status pusher); whether this
        replica plays it now.  A dead holder's lease expires, and the next replica asking takes it."""
        async with self._tx() as conn:
            cur = await conn.execute(
                f"INSERT INTO roles VALUES (%s, %s, {NOW} + %s) ON CONFLICT (role) DO UPDATE "
                "SET owner=EXCLUDED.owner, until=EXCLUDED.until "
                f"WHERE roles.owner=EXCLUDED.owner OR roles.until < {NOW} RETURNING owner",
                (role, self.db.replica, self.lease),
            )
            return await cur.fetchone() is not None

    async def ports_changed(self, entries: dict[str, str]) -> set[str]:
        """Fleet ports' entries as this replica sees them now (port: entry): recorded; the ports whose
        record they changed, i.e. those whose change this replica is the first to see and pushes."""
        ports = sorted(entries)  # rows locked in one order: replicas recording at once never deadlock
        async with self._tx() as conn:
            cur = await conn.execute(
                "INSERT INTO port_status SELECT * FROM unnest(%s::text[], %s::text[]) ON CONFLICT (port) "
                "DO UPDATE SET entry=EXCLUDED.entry WHERE port_status.entry <> EXCLUDED.entry RETURNING port",
                (ports, [entries[p] for p in ports]),
            )
            return {str(r[0]) for r in await cur.fetchall()}


async def _lock_inbox(conn: AsyncConnection[Any], member: str) -> None:
    """Pulls and pushes of one member's SMS, on any replica, take turns: each matches the other's rows."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("fleet inbox:" + member,))


async def _pinned(
    conn: AsyncConnection[Any], ports: tuple[int, int], *, lock: bool
) -> list[tuple[int, int, int, str, str]]:
    """(unit id, task, idx, number, port) of pending units pinned on a fleet port within ``ports``."""
    first, last = ports
    cur = await conn.execute(
        "SELECT u.id, u.task_id, u.idx, u.number, u.port FROM units u JOIN tasks t ON t.id=u.task_id "
        "WHERE t.finished=0 AND u.state=%s AND u.port IS NOT NULL ORDER BY u.id" + (" FOR UPDATE OF u" if lock else ""),
        (PENDING,),
    )
    rows = [(int(a), int(b), int(c), str(d), str(e)) for a, b, c, d, e in await cur.fetchall()]
    return [r for r in rows if first <= int(r[4].split(".")[0]) <= last]
