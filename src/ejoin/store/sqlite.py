"""The embedded store: SQLite in WAL mode, owned by one thread (``thread.DatabaseThread``: group
commit, a savepoint per piece of work, futures settled once committed)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ..protocol.ports import DeviceSize, PortAddress, PortSpecError
from ..protocol.task_states import JobState, TaskState
from .base import (
    CALL_COUNTERS,
    CallRecord,
    Finished,
    InboxRecord,
    JobRecord,
    OutboxItem,
    PartRecord,
    PortRecord,
    PushMarks,
    PushQueueSummary,
    RawRecord,
    SlotRecord,
    Store,
    TaskRecord,
)
from .migrations import migrate
from .opening import DataDirectoryLock, StoreOpenError, describe_failure, prepare_directory, warn_about_leftovers
from .thread import Batch, DatabaseThread

T = TypeVar("T")
_DEAD_COLS = "id, dest, kind, content_type, headers, body, created, attempts"


class SQLiteStore(Store):
    def __init__(self, path: str | Path, *, synchronous: str = "NORMAL") -> None:
        self.path = Path(path)
        self._synchronous = synchronous.upper()
        if self._synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"unknown sqlite synchronous mode {synchronous!r}")
        self._thread = DatabaseThread("ejoin-db", self._connect, self._run_batch)
        self._lock = DataDirectoryLock(self.path.parent)

    # --- the DB thread ---------------------------------------------------------

    async def open(self) -> None:
        """Open (and migrate) the store; ``StoreOpenError`` with one plain line if it cannot be."""
        prepare_directory(self.path)
        self._lock.acquire()
        warn_about_leftovers(self.path)
        try:
            await self._thread.start()
        except BaseException as exc:
            self._lock.release()
            if isinstance(exc, Exception):
                raise StoreOpenError(describe_failure(exc, self.path)) from None
            raise

    async def close(self) -> None:
        if not self._thread.running:
            return
        await self._thread.stop()
        self._lock.release()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=5000")
            # Damaged pages otherwise surface later, as a failure of some unrelated query.
            problem = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
            if problem != "ok":
                raise sqlite3.DatabaseError(f"database disk image is malformed: {problem}")
            migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _run_batch(self, conn: sqlite3.Connection, batch: Batch) -> None:
        self._thread.run_batch(conn, batch)

    def _submit(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        return self._thread.submit(fn, *args)

    async def quiesce(self) -> bool:
        """Wait for every queued piece of work; True if there was any."""
        return await self._thread.quiesce()

    # --- settings ------------------------------------------------------------

    async def load_settings(self) -> dict[str, Any]:
        def run(conn: sqlite3.Connection) -> dict[str, Any]:
            return {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM setting")}

        return await self._submit(run)

    def save_settings(self, values: dict[str, Any]) -> asyncio.Future[None]:
        rows = [(k, json.dumps(v)) for k, v in values.items()]

        def run(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT INTO setting(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                rows,
            )

        return self._submit(run)

    # --- inventory -----------------------------------------------------------

    _SLOT_COLS = (
        "port, slot, present, iccid, imsi, number, operator, balance, imei, locked, seq, "
        "esim, esim_ac, esim_cc, esim_provider, balance_known"
    )

    async def load_slots(self) -> list[SlotRecord]:
        def run(conn: sqlite3.Connection) -> list[SlotRecord]:
            rows = conn.execute(f"SELECT {self._SLOT_COLS} FROM slot ORDER BY port, slot")
            return [
                SlotRecord(
                    port=r[0],
                    slot=r[1],
                    present=bool(r[2]),
                    iccid=r[3],
                    imsi=r[4],
                    number=r[5],
                    operator=r[6],
                    balance=r[7] if r[15] else None,
                    imei=r[8],
                    locked=bool(r[9]),
                    seq=r[10],
                    esim=bool(r[11]),
                    esim_ac=r[12],
                    esim_cc=r[13],
                    esim_provider=r[14],
                )
                for r in rows
            ]

        return await self._submit(run)

    def save_slot(self, record: SlotRecord) -> asyncio.Future[None]:
        row = (
            record.port,
            record.slot,
            int(record.present),
            record.iccid,
            record.imsi,
            record.number,
            record.operator,
            record.balance or 0.0,
            record.imei,
            int(record.locked),
            record.seq,
            int(record.esim),
            record.esim_ac,
            record.esim_cc,
            record.esim_provider,
            int(record.balance is not None),
        )

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(f"INSERT OR REPLACE INTO slot({self._SLOT_COLS}) VALUES({','.join('?' * len(row))})", row)

        return self._submit(run)

    async def load_ports(self) -> list[PortRecord]:
        def run(conn: sqlite3.Connection) -> list[PortRecord]:
            rows = conn.execute("SELECT port, active_slot, led FROM port ORDER BY port")
            return [PortRecord(port=r[0], active_slot=r[1], led=bool(r[2])) for r in rows]

        return await self._submit(run)

    def save_port(self, record: PortRecord) -> asyncio.Future[None]:
        row = (record.port, record.active_slot, int(record.led))

        def run(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT OR REPLACE INTO port(port, active_slot, led) VALUES(?,?,?)", row)

        return self._submit(run)

    async def load_driver_state(self, driver: str) -> dict[str, Any]:
        def run(conn: sqlite3.Connection) -> dict[str, Any]:
            rows = conn.execute("SELECT key, value FROM driver_state WHERE driver = ?", (driver,))
            return {key: json.loads(value) for key, value in rows}

        return await self._submit(run)

    def save_driver_state(self, driver: str, key: str, value: Any) -> asyncio.Future[None]:
        text = None if value is None else json.dumps(value)

        def run(conn: sqlite3.Connection) -> None:
            if text is None:
                conn.execute("DELETE FROM driver_state WHERE driver = ? AND key = ?", (driver, key))
            else:
                conn.execute(
                    "INSERT OR REPLACE INTO driver_state(driver, key, value) VALUES(?,?,?)", (driver, key, text)
                )

        return self._submit(run)

    # --- outbox --------------------------------------------------------------

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
        row = (dest, kind, content_type, json.dumps(headers), body, created)

        def run(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "INSERT INTO outbox(dest, kind, content_type, headers, body, created) VALUES(?,?,?,?,?,?)", row
            )
            if marks is not None:
                _mark_reported(conn, marks.reported)
                _mark_pushed(conn, marks.inbox)
            return int(cur.lastrowid or 0)

        return self._submit(run)

    async def outbox_destinations(self) -> list[str]:
        def run(conn: sqlite3.Connection) -> list[str]:
            return [r[0] for r in conn.execute("SELECT DISTINCT dest FROM outbox")]

        return await self._submit(run)

    async def outbox_head(self, dest: str, limit: int) -> list[OutboxItem]:
        def run(conn: sqlite3.Connection) -> list[OutboxItem]:
            rows = conn.execute(
                "SELECT id, dest, kind, content_type, body, headers, attempts, next_at, created "
                "FROM outbox WHERE dest = ? ORDER BY id LIMIT ?",
                (dest, limit),
            )
            return [
                OutboxItem(
                    id=r[0],
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

        return await self._submit(run)

    def outbox_delete(self, item_id: int) -> asyncio.Future[None]:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM outbox WHERE id = ?", (item_id,))

        return self._submit(run)

    def outbox_retry(self, item_id: int, attempts: int, next_at: float, error: str) -> asyncio.Future[None]:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE outbox SET attempts = ?, next_at = ?, last_error = ? WHERE id = ?",
                (attempts, next_at, error[:500], item_id),
            )

        return self._submit(run)

    async def outbox_count(self) -> int:
        def run(conn: sqlite3.Connection) -> int:
            return int(conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

        return await self._submit(run)

    def outbox_kill(self, dest: str, created_before: float, died: float, error: str, keep: int) -> asyncio.Future[int]:
        def run(conn: sqlite3.Connection) -> int:
            conn.execute(
                f"INSERT INTO outbox_dead({_DEAD_COLS}, last_error, died) "
                f"SELECT {_DEAD_COLS}, COALESCE(last_error, ?), ? FROM outbox WHERE dest = ? AND created <= ?",
                (error[:500], died, dest, created_before),
            )
            moved = conn.execute("DELETE FROM outbox WHERE dest = ? AND created <= ?", (dest, created_before)).rowcount
            conn.execute(
                "DELETE FROM outbox_dead WHERE dest = ? AND id < "
                "(SELECT MIN(id) FROM (SELECT id FROM outbox_dead WHERE dest = ? ORDER BY id DESC LIMIT ?))",
                (dest, dest, keep),
            )
            return moved

        return self._submit(run)

    def outbox_revive(self, dest: str | None, now: float) -> asyncio.Future[dict[str, int]]:
        where, args = ("WHERE dest = ?", (dest,)) if dest is not None else ("", ())

        def run(conn: sqlite3.Connection) -> dict[str, int]:
            counts = dict(conn.execute(f"SELECT dest, COUNT(*) FROM outbox_dead {where} GROUP BY dest", args))
            # The original ids: a replayed push goes back before anything queued for its destination since.
            conn.execute(
                f"INSERT INTO outbox(id, dest, kind, content_type, headers, body, created) "
                f"SELECT id, dest, kind, content_type, headers, body, ? FROM outbox_dead {where}",
                (now, *args),
            )
            conn.execute(f"DELETE FROM outbox_dead {where}", args)
            return counts

        return self._submit(run)

    def outbox_drop(self, dest: str | None, queued: bool) -> asyncio.Future[dict[str, tuple[int, int]]]:
        where, args = ("WHERE dest = ?", (dest,)) if dest is not None else ("", ())

        def run(conn: sqlite3.Connection) -> dict[str, tuple[int, int]]:
            dead = dict(conn.execute(f"SELECT dest, COUNT(*) FROM outbox_dead {where} GROUP BY dest", args))
            waiting = (
                dict(conn.execute(f"SELECT dest, COUNT(*) FROM outbox {where} GROUP BY dest", args)) if queued else {}
            )
            conn.execute(f"DELETE FROM outbox_dead {where}", args)
            if queued:
                conn.execute(f"DELETE FROM outbox {where}", args)
            return {d: (dead.get(d, 0), waiting.get(d, 0)) for d in {*dead, *waiting}}

        return self._submit(run)

    async def outbox_summary(self) -> list[PushQueueSummary]:
        def run(conn: sqlite3.Connection) -> list[PushQueueSummary]:
            out: dict[str, PushQueueSummary] = {}
            # The head of each destination: its lowest id (the index gives it without a sort).
            rows = conn.execute(
                "SELECT o.dest, c.n, c.oldest, o.attempts, o.next_at, o.last_error FROM outbox o JOIN "
                "(SELECT dest, COUNT(*) AS n, MIN(created) AS oldest, MIN(id) AS head FROM outbox GROUP BY dest) c "
                "ON o.id = c.head"
            )
            for dest, n, oldest, attempts, next_at, error in rows:
                out[dest] = PushQueueSummary(
                    dest, n, oldest, attempts, next_at if attempts else None, error or "", 0, None, None
                )
            rows = conn.execute(
                "SELECT d.dest, c.n, c.oldest, d.died, d.last_error FROM outbox_dead d JOIN "
                "(SELECT dest, COUNT(*) AS n, MIN(created) AS oldest, MAX(id) AS last "
                "FROM outbox_dead GROUP BY dest) c ON d.id = c.last"
            )
            for dest, n, oldest, died, error in rows:
                summary = out.setdefault(dest, PushQueueSummary(dest))
                summary.dead, summary.oldest_dead, summary.last_died = n, oldest, died
                summary.last_error = summary.last_error or error or ""
            return sorted(out.values(), key=lambda s: s.dest)

        return await self._submit(run)

    # --- send tasks ----------------------------------------------------------

    def tasks_add(self, tasks: list[tuple[int, bytes, int, bytes, float, list[str]]]) -> asyncio.Future[list[int]]:
        def run(conn: sqlite3.Connection) -> list[int]:
            # The DB thread is the only writer, so ids can be handed out here and
            # every row written with one executemany per table.
            first = conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM task").fetchone()[0]
            ids = list(range(first, first + len(tasks)))
            conn.executemany(
                "INSERT INTO task(id, tid, spec, n, request, created) VALUES(?,?,?,?,?,?)",
                [
                    (i, tid, spec, n, request, created)
                    for i, (tid, spec, n, request, created, _) in zip(ids, tasks, strict=True)
                ],
            )
            conn.executemany(
                "INSERT INTO task_chunk(task_id, chunk, numbers) VALUES(?,?,?)",
                [(i, c, numbers) for i, t in zip(ids, tasks, strict=False) for c, numbers in enumerate(t[5])],
            )
            return ids

        return self._submit(run)

    async def tasks_open(self) -> list[TaskRecord]:
        def run(conn: sqlite3.Connection) -> list[TaskRecord]:
            return _tasks_with_progress(
                conn,
                f"state < {TaskState.FINISHED:d} "
                "OR reported_seq < (SELECT COALESCE(MAX(done_seq), 0) FROM job WHERE job.task_id = task.id)",
            )

        return await self._submit(run)

    async def tasks_by_id(self, ids: list[int]) -> list[TaskRecord]:
        def run(conn: sqlite3.Connection) -> list[TaskRecord]:
            if not ids:
                return []
            return _tasks_with_progress(conn, f"id IN ({','.join('?' * len(ids))})", ids)

        return await self._submit(run)

    async def tasks_closed(self, tids: list[int]) -> list[TaskRecord]:
        def run(conn: sqlite3.Connection) -> list[TaskRecord]:
            if not tids:
                return []
            marks = ",".join("?" * len(tids))
            return [
                TaskRecord(id=r[0], tid=r[1], spec=bytes(r[2]), n=r[3], request=bytes(r[4]), state=r[5])
                for r in conn.execute(
                    f"SELECT id, tid, spec, n, request, state FROM task WHERE tid IN ({marks}) "
                    f"AND state >= {TaskState.FINISHED:d} ORDER BY id",
                    tids,
                )
            ]

        return await self._submit(run)

    async def task_chunk(self, task_id: int, chunk: int) -> list[str]:
        def run(conn: sqlite3.Connection) -> list[str]:
            row = conn.execute(
                "SELECT numbers FROM task_chunk WHERE task_id = ? AND chunk = ?", (task_id, chunk)
            ).fetchone()
            return row[0].split(",") if row else []

        return await self._submit(run)

    def tasks_state(self, changes: list[tuple[int, int]]) -> asyncio.Future[None]:
        rows = [(state, task_id) for task_id, state in changes]

        def run(conn: sqlite3.Connection) -> None:
            conn.executemany("UPDATE task SET state = ? WHERE id = ?", rows)

        return self._submit(run)

    def tasks_reported(self, marks: list[tuple[int, int]]) -> asyncio.Future[None]:
        return self._submit(_mark_reported, marks)

    def jobs_start(self, jobs: list[JobRecord], finished: Finished | None = None) -> asyncio.Future[None]:
        rows = [(j.task_id, j.lane, j.idx, j.number, j.port, j.state, j.ts) for j in jobs]
        done = _finishing(*finished) if finished is not None else None

        def run(conn: sqlite3.Connection) -> None:
            if done is not None:
                done(conn)
            conn.executemany("INSERT INTO job(task_id, lane, idx, number, port, state, ts) VALUES(?,?,?,?,?,?,?)", rows)

        return self._submit(run)

    def jobs_finish(
        self,
        jobs: list[JobRecord],
        slots: list[tuple[int, int]] | None = None,
        con_failed: dict[tuple[int, int], int] | None = None,
    ) -> asyncio.Future[None]:
        return self._submit(_finishing(jobs, slots or [], con_failed or {}))

    async def jobs_interrupted(self, ts: int, reason: str) -> list[JobRecord]:
        def run(conn: sqlite3.Connection) -> list[JobRecord]:
            in_module = f"SELECT {_JOB_COLS} FROM job WHERE state = {JobState.IN_MODULE:d} ORDER BY task_id"
            jobs = [_job(r) for r in conn.execute(in_module)]
            seqs: dict[int, int] = {}
            for j in jobs:
                if j.task_id not in seqs:
                    seqs[j.task_id] = conn.execute(
                        "SELECT COALESCE(MAX(done_seq), 0) FROM job WHERE task_id = ?", (j.task_id,)
                    ).fetchone()[0]
                seqs[j.task_id] += 1
                j.state, j.ts, j.reason, j.done_seq = JobState.FAILED, ts, reason, seqs[j.task_id]
            conn.executemany(
                f"UPDATE job SET state = {JobState.FAILED:d}, ts = ?, reason = ?, done_seq = ? "
                "WHERE task_id = ? AND lane = ? AND idx = ?",
                [(j.ts, j.reason, j.done_seq, j.task_id, j.lane, j.idx) for j in jobs],
            )
            # Counted as failed in the same transaction: statistics include every outcome reports include.
            counts: dict[tuple[int, int, int], list[int]] = {}
            for j in jobs:
                try:
                    addr = PortAddress.parse(j.port)
                except PortSpecError:
                    continue
                counts.setdefault((addr.port, addr.slot or 1, ts // 60), [0, 0, 0])[2] += 1
            _count_sms(conn, counts)
            return jobs

        return await self._submit(run)

    async def jobs_failed_for(self, reasons: list[str]) -> list[JobRecord]:
        def run(conn: sqlite3.Connection) -> list[JobRecord]:
            if not reasons:
                return []
            return [
                _job(r)
                for r in conn.execute(
                    f"SELECT {_JOB_COLS} FROM job WHERE state = {JobState.FAILED:d} "
                    f"AND reason IN ({','.join('?' * len(reasons))}) ORDER BY ts, task_id, idx",
                    reasons,
                )
            ]

        return await self._submit(run)

    async def jobs_done_since(self, task_id: int, after_seq: int) -> list[JobRecord]:
        def run(conn: sqlite3.Connection) -> list[JobRecord]:
            return [
                _job(r)
                for r in conn.execute(
                    f"SELECT {_JOB_COLS} FROM job WHERE task_id = ? AND done_seq > ? ORDER BY done_seq",
                    (task_id, after_seq),
                )
            ]

        return await self._submit(run)

    # --- inbox -----------------------------------------------------------------

    def inbox_add(
        self, records: list[InboxRecord], parts_done: list[tuple[str, str, int]]
    ) -> asyncio.Future[list[int]]:
        rows = [(r.flag, r.port, r.ts, r.sender, r.recipient, r.content, r.incomplete) for r in records]
        counts: dict[tuple[int, int, int], int] = {}
        for r in records:
            if r.flag == 0 and "." in r.port:
                port, slot = r.port.split(".")
                key = (int(port), int(slot), r.ts // 60)
                counts[key] = counts.get(key, 0) + 1

        def run(conn: sqlite3.Connection) -> list[int]:
            ids = []
            for row in rows:
                cur = conn.execute(
                    "INSERT INTO inbox(flag, port, ts, sender, recipient, content, incomplete) VALUES(?,?,?,?,?,?,?)",
                    row,
                )
                ids.append(int(cur.lastrowid or 0))
            conn.executemany("DELETE FROM inbox_part WHERE port = ? AND sender = ? AND ref = ?", parts_done)
            _count_sms(conn, {k: [v, 0, 0] for k, v in counts.items()})
            return ids

        return self._submit(run)

    async def inbox_unpushed(self) -> list[InboxRecord]:
        def run(conn: sqlite3.Connection) -> list[InboxRecord]:
            return [
                InboxRecord(*r) for r in conn.execute(f"SELECT {_INBOX_COLS} FROM inbox WHERE pushed = 0 ORDER BY id")
            ]

        return await self._submit(run)

    async def inbox_recent_reports(self, limit: int) -> list[InboxRecord]:
        def run(conn: sqlite3.Connection) -> list[InboxRecord]:
            return [
                InboxRecord(*r)
                for r in conn.execute(
                    f"SELECT {_INBOX_COLS} FROM inbox WHERE flag = 1 ORDER BY id DESC LIMIT ?", (limit,)
                )
            ]

        return await self._submit(run)

    def inbox_mark_pushed(self, ids: list[int]) -> asyncio.Future[None]:
        return self._submit(_mark_pushed, ids)

    async def inbox_page(self, first_id: int, limit: int, delete: bool) -> tuple[list[InboxRecord], int]:
        def run(conn: sqlite3.Connection) -> tuple[list[InboxRecord], int]:
            sql = f"SELECT {_INBOX_COLS} FROM inbox WHERE id >= ? ORDER BY id"
            params: tuple = (first_id,)
            if limit > 0:
                sql += " LIMIT ?"
                params += (limit,)
            records = [InboxRecord(*r) for r in conn.execute(sql, params)]
            if records:
                next_id = records[-1].id + 1
            else:
                last = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'inbox'").fetchone()
                next_id = max(first_id, (last[0] if last else 0) + 1)
            if delete and records:
                conn.executemany("DELETE FROM inbox WHERE id = ?", [(r.id,) for r in records])
            return records, next_id

        return await self._submit(run)

    def inbox_prune(self, keep: int) -> asyncio.Future[int]:
        def run(conn: sqlite3.Connection) -> int:
            raw = conn.execute("SELECT id FROM inbox_raw ORDER BY id DESC LIMIT 1 OFFSET ?", (keep,)).fetchone()
            if raw is not None:
                conn.execute("DELETE FROM inbox_raw WHERE id <= ?", (raw[0],))
            cutoff = conn.execute("SELECT id FROM inbox ORDER BY id DESC LIMIT 1 OFFSET ?", (keep,)).fetchone()
            if cutoff is None:
                return 0
            return conn.execute("DELETE FROM inbox WHERE id <= ? AND pushed = 1", (cutoff[0],)).rowcount

        return self._submit(run)

    def raw_add(self, record: RawRecord) -> asyncio.Future[int]:
        row = (record.port, record.ts, record.pdu, record.reason)

        def run(conn: sqlite3.Connection) -> int:
            known = conn.execute("SELECT id FROM inbox_raw WHERE port = ? AND pdu = ?", (row[0], row[2])).fetchone()
            if known is not None:
                return int(known[0])
            cur = conn.execute("INSERT INTO inbox_raw(port, ts, pdu, reason) VALUES(?,?,?,?)", row)
            return int(cur.lastrowid or 0)

        return self._submit(run)

    async def raw_page(self, first_id: int, limit: int) -> tuple[list[RawRecord], int]:
        def run(conn: sqlite3.Connection) -> tuple[list[RawRecord], int]:
            rows = conn.execute(
                "SELECT port, ts, pdu, reason, id FROM inbox_raw WHERE id >= ? ORDER BY id LIMIT ?", (first_id, limit)
            )
            records = [RawRecord(*r) for r in rows]
            if records:
                return records, records[-1].id + 1
            last = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'inbox_raw'").fetchone()
            return records, max(first_id, (last[0] if last else 0) + 1)

        return await self._submit(run)

    def raw_drop(self, ids: list[int] | None) -> asyncio.Future[int]:
        def run(conn: sqlite3.Connection) -> int:
            if ids is None:
                return conn.execute("DELETE FROM inbox_raw").rowcount
            return sum(conn.execute("DELETE FROM inbox_raw WHERE id = ?", (i,)).rowcount for i in ids)

        return self._submit(run)

    def part_add(self, part: PartRecord) -> asyncio.Future[None]:
        row = (part.port, part.sender, part.ref, part.total, part.seq, part.text, part.ts)

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO inbox_part(port, sender, ref, total, seq, text, ts) VALUES(?,?,?,?,?,?,?)", row
            )

        return self._submit(run)

    async def parts_waiting(self) -> list[PartRecord]:
        def run(conn: sqlite3.Connection) -> list[PartRecord]:
            return [
                PartRecord(*r)
                for r in conn.execute("SELECT port, sender, ref, total, seq, text, ts FROM inbox_part ORDER BY ts")
            ]

        return await self._submit(run)

    # --- statistics --------------------------------------------------------------

    async def sms_counts(self, since_minute: int | None) -> dict[tuple[int, int], dict[str, int]]:
        def run(conn: sqlite3.Connection) -> dict[tuple[int, int], dict[str, int]]:
            out: dict[tuple[int, int], dict[str, int]] = {}
            for p, s, con in conn.execute("SELECT port, slot, con_failed FROM sms_total"):
                out[(p, s)] = {"received": 0, "sent_ok": 0, "sent_failed": 0, "con_failed": con}
            if since_minute is None:
                rows = conn.execute("SELECT port, slot, received, sent_ok, sent_failed FROM sms_total")
            else:
                rows = conn.execute(
                    "SELECT port, slot, SUM(received), SUM(sent_ok), SUM(sent_failed) FROM sms_stat "
                    "WHERE minute >= ? GROUP BY port, slot",
                    (since_minute,),
                )
            for p, s, rec, ok, failed in rows:
                entry = out.setdefault((p, s), {"con_failed": 0})
                entry.update(received=rec, sent_ok=ok, sent_failed=failed)
            return out

        return await self._submit(run)

    async def sms_per_minute(self, since_minute: int, size: DeviceSize) -> dict[int, tuple[int, int, int]]:
        # Every (port, slot) named: the primary key (port, slot, minute) then seeks each slot's recent
        # minutes instead of scanning days of buckets (64 x 8, 3 days of 128 busy slots: 6 ms, not 32).
        ports = ",".join(str(p) for p in range(1, size.ports + 1))
        slots = ",".join(str(s) for s in range(1, size.slots + 1))

        def run(conn: sqlite3.Connection) -> dict[int, tuple[int, int, int]]:
            rows = conn.execute(
                "SELECT minute, SUM(sent_ok), SUM(sent_failed), SUM(received) FROM sms_stat "
                f"WHERE port IN ({ports}) AND slot IN ({slots}) AND minute >= ? GROUP BY minute",
                (since_minute,),
            )
            return {minute: (ok, failed, received) for minute, ok, failed, received in rows}

        return await self._submit(run)

    def call_add(self, call: CallRecord) -> asyncio.Future[None]:
        values = (
            1,
            int(call.alerted),
            int(call.connected),
            int(not call.connected),
            call.pdd,
            call.duration,
            -(-call.duration // 60),
        )
        key = (call.port, call.slot)
        minute = int(call.ts // 60)
        sets = ", ".join(f"{c} = {c} + excluded.{c}" for c in CALL_COUNTERS)
        cols = ", ".join(CALL_COUNTERS)

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                f"INSERT INTO call_stat(port, slot, minute, {cols}) VALUES(?,?,?,?,?,?,?,?,?,?) "
                f"ON CONFLICT(port, slot, minute) DO UPDATE SET {sets}",
                (*key, minute, *values),
            )
            conn.execute(
                f"INSERT INTO call_total(port, slot, {cols}) VALUES(?,?,?,?,?,?,?,?,?) "
                f"ON CONFLICT(port, slot) DO UPDATE SET {sets}",
                (*key, *values),
            )

        return self._submit(run)

    async def call_counts(self, since_minute: int | None) -> dict[tuple[int, int], dict[str, float]]:
        cols = ", ".join(f"SUM({c})" for c in CALL_COUNTERS)

        def run(conn: sqlite3.Connection) -> dict[tuple[int, int], dict[str, float]]:
            if since_minute is None:
                rows = conn.execute(f"SELECT port, slot, {', '.join(CALL_COUNTERS)} FROM call_total")
            else:
                rows = conn.execute(
                    f"SELECT port, slot, {cols} FROM call_stat WHERE minute >= ? GROUP BY port, slot", (since_minute,)
                )
            return {(r[0], r[1]): dict(zip(CALL_COUNTERS, r[2:], strict=False)) for r in rows}

        return await self._submit(run)

    def stats_prune(self, before_minute: int) -> asyncio.Future[None]:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM sms_stat WHERE minute < ?", (before_minute,))
            conn.execute("DELETE FROM call_stat WHERE minute < ?", (before_minute,))

        return self._submit(run)

    async def tasks_prune(self, finished_before: float) -> int:
        def run(conn: sqlite3.Connection) -> int:
            ids = [
                r[0]
                for r in conn.execute(
                    f"SELECT id FROM task WHERE state >= {TaskState.FINISHED:d} AND created < ? AND reported_seq >= "
                    "(SELECT COALESCE(MAX(done_seq), 0) FROM job WHERE job.task_id = task.id) LIMIT 10000",
                    (finished_before,),
                )
            ]
            for table, column in (("job", "task_id"), ("task_chunk", "task_id"), ("task", "id")):
                conn.executemany(f"DELETE FROM {table} WHERE {column} = ?", [(i,) for i in ids])
            return len(ids)

        return await self._submit(run)

    async def jobs_of_lane(self, task_id: int, lane: int) -> list[int]:
        def run(conn: sqlite3.Connection) -> list[int]:
            return [
                r[0]
                for r in conn.execute(
                    "SELECT idx FROM job WHERE task_id = ? AND lane = ? ORDER BY idx", (task_id, lane)
                )
            ]

        return await self._submit(run)


def _mark_reported(conn: sqlite3.Connection, marks: list[tuple[int, int]]) -> None:
    conn.executemany(
        "UPDATE task SET reported_seq = MAX(reported_seq, ?) WHERE id = ?", [(seq, tid) for tid, seq in marks]
    )


def _count_sms(
    conn: sqlite3.Connection,
    counts: dict[tuple[int, int, int], list[int]],
    con_failed: dict[tuple[int, int], int] | None = None,
) -> None:
    """Add (received, sent_ok, sent_failed) per (port, slot, minute) to the buckets and the totals.

    ``con_failed``: failures in a row per slot, set in the same statement as the totals.
    """
    if not counts and not con_failed:
        return
    conn.executemany(
        "INSERT INTO sms_stat(port, slot, minute, received, sent_ok, sent_failed) VALUES(?,?,?,?,?,?) "
        "ON CONFLICT(port, slot, minute) DO UPDATE SET received = received + excluded.received, "
        "sent_ok = sent_ok + excluded.sent_ok, sent_failed = sent_failed + excluded.sent_failed",
        [(*k, *v) for k, v in counts.items()],
    )
    totals: dict[tuple[int, int], list[int]] = {}
    for (port, slot, _), v in counts.items():
        t = totals.setdefault((port, slot), [0, 0, 0])
        for i in range(3):
            t[i] += v[i]
    con_failed = con_failed or {}
    for key in con_failed:
        totals.setdefault(key, [0, 0, 0])
    plain = [(*k, *v) for k, v in totals.items() if k not in con_failed]
    if plain:
        conn.executemany(
            "INSERT INTO sms_total(port, slot, received, sent_ok, sent_failed) VALUES(?,?,?,?,?) "
            "ON CONFLICT(port, slot) DO UPDATE SET received = received + excluded.received, "
            "sent_ok = sent_ok + excluded.sent_ok, sent_failed = sent_failed + excluded.sent_failed",
            plain,
        )
    if con_failed:
        conn.executemany(
            "INSERT INTO sms_total(port, slot, received, sent_ok, sent_failed, con_failed) VALUES(?,?,?,?,?,?) "
            "ON CONFLICT(port, slot) DO UPDATE SET received = received + excluded.received, "
            "sent_ok = sent_ok + excluded.sent_ok, sent_failed = sent_failed + excluded.sent_failed, "
            "con_failed = excluded.con_failed",
            [(*k, *totals[k], n) for k, n in con_failed.items()],
        )


def _finishing(
    jobs: list[JobRecord], slots: list[tuple[int, int]], con_failed: dict[tuple[int, int], int]
) -> Callable[[sqlite3.Connection], None]:
    """The work that writes these outcomes and counts them per slot and minute (``slots``: one per job)."""
    rows = [(j.state, j.ts, j.reason, j.carrier, j.done_seq, j.task_id, j.lane, j.idx) for j in jobs]
    counts: dict[tuple[int, int, int], list[int]] = {}
    confirmed: dict[tuple[int, int, int], int] = {}
    for job, (port, slot) in zip(jobs, slots, strict=False):
        key = (port, slot, job.ts // 60)
        if job.confirmed:
            confirmed[key] = confirmed.get(key, 0) + 1
            continue
        c = counts.setdefault(key, [0, 0, 0])
        c[1 if job.state == JobState.SENT else 2] += 1

    def run(conn: sqlite3.Connection) -> None:
        conn.executemany(
            "UPDATE job SET state = ?, ts = ?, reason = ?, carrier = ?, done_seq = ? "
            "WHERE task_id = ? AND lane = ? AND idx = ?",
            rows,
        )
        _count_sms(conn, counts, con_failed)
        _count_confirmed(conn, confirmed)

    return run


def _count_confirmed(conn: sqlite3.Connection, confirmed: dict[tuple[int, int, int], int]) -> None:
    """SMS counted failed in a minute that turned out sent: moved from failed to sent in that minute's
    bucket (if still kept) and in the totals."""
    if not confirmed:
        return
    conn.executemany(
        "UPDATE sms_stat SET sent_ok = sent_ok + ?1, sent_failed = MAX(0, sent_failed - ?1) "
        "WHERE port = ?2 AND slot = ?3 AND minute = ?4",
        [(n, *key) for key, n in confirmed.items()],
    )
    totals: dict[tuple[int, int], int] = {}
    for (port, slot, _), n in confirmed.items():
        totals[(port, slot)] = totals.get((port, slot), 0) + n
    conn.executemany(
        "UPDATE sms_total SET sent_ok = sent_ok + ?1, sent_failed = MAX(0, sent_failed - ?1) "
        "WHERE port = ?2 AND slot = ?3",
        [(n, *key) for key, n in totals.items()],
    )


def _tasks_with_progress(conn: sqlite3.Connection, where: str, args: list[Any] | None = None) -> list[TaskRecord]:
    """Task rows matching ``where``, each with its progress summed from its job rows."""
    out: dict[int, TaskRecord] = {}
    for r in conn.execute(
        f"SELECT id, tid, spec, n, request, state, reported_seq FROM task WHERE {where} ORDER BY id", args or []
    ):
        out[r[0]] = TaskRecord(
            id=r[0], tid=r[1], spec=bytes(r[2]), n=r[3], request=bytes(r[4]), state=r[5], reported_seq=r[6]
        )
    if not out:
        return []
    marks = ",".join("?" * len(out))
    for task_id, lane, count, max_idx, sent, failed, done_seq in conn.execute(
        f"SELECT task_id, lane, COUNT(*), MAX(idx), SUM(state = {JobState.SENT:d}), "
        f"SUM(state = {JobState.FAILED:d}), MAX(done_seq) "
        f"FROM job WHERE task_id IN ({marks}) GROUP BY task_id, lane",
        list(out),
    ):
        rec = out[task_id]
        rec.lane_jobs[lane] = [count, max_idx]
        rec.sent += sent
        rec.failed += failed
        rec.done_seq = max(rec.done_seq, done_seq or 0)
    return list(out.values())


def _mark_pushed(conn: sqlite3.Connection, ids: list[int]) -> None:
    conn.executemany("UPDATE inbox SET pushed = 1 WHERE id = ?", [(i,) for i in ids])


_INBOX_COLS = "flag, port, ts, sender, recipient, content, incomplete, id"

_JOB_COLS = "task_id, lane, idx, number, port, state, ts, reason, carrier, done_seq"


def _job(r: tuple) -> JobRecord:
    return JobRecord(*r)
