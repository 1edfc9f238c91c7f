"""The fleet's record of tasks, units and dispatches, behind one narrow role (``Ledger``).

A *unit* is one SMS the fleet owes: a recipient (and, for ``to_all`` tasks, one of the listed
ports).  A *dispatch* is a sub-task posted to one member; it is written (with its units) before
it is posted, so after a crash the record says what may have reached a member.  The embedded
store is SQLite owned by one thread; a PostgreSQL store implements the same ``Ledger``.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import msgspec

T = TypeVar("T")

PENDING, DISPATCHED, SENT, FAILED = 0, 1, 2, 3
RECORDED, POSTED, REFUSED, WITHDRAWN, REMOVED = 0, 1, 2, 3, 4
RUNNING, PAUSED = 0, 1  # a task's hold; REMOVED (4) too


@dataclass
class TaskRow:
    id: int
    tid_echo: Any
    task: dict[str, Any]  # the task as the platform sent it
    sr_url: str
    sr_cnt: int
    sr_prd: int
    sdr: bool
    fdr: bool
    hold: int = 0  # RUNNING, PAUSED or REMOVED (goip_pause_sms / goip_remove_sms)
    finished: bool = False  # done and reported to the end: never reported again


@dataclass
class Unit:
    idx: int
    number: str
    port: str | None  # the fleet port a to_all unit must go from; None: any


@dataclass
class Counts:
    total: int
    sent: int
    failed: int
    sending: int
    reported: int = 0  # units done and already in a report queued for the platform

    @property
    def done(self) -> int:
        return self.sent + self.failed

    @property
    def unsent(self) -> int:
        return self.total - self.done - self.sending


class Conflict(Exception):
    """Units a dispatch was to take were no longer pending (another pass or replica took them)."""


class Ledger(Protocol):
    """The fleet's record.  With several replicas on one database, each open task is *owned* by one
    replica at a time under a lease (``claim``): only its owner dispatches it and emits its reports."""

    lease: float  # seconds a task's ownership lasts unless renewed (0: one process owns everything)

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def secret(self) -> str: ...
    async def add_tasks(
        self, tasks: list[tuple[Any, dict[str, Any], dict[str, Any], list[Unit]]]
    ) -> list[int | None]: ...
    async def pending(self, task_id: int) -> list[Unit]: ...
    async def open_tasks(self) -> list[TaskRow]: ...
    async def task(self, task_id: int) -> TaskRow | None: ...
    async def record_dispatch(
        self, task_id: int, member: str, units: list[tuple[Unit, str, int]], sim: str | None = None, at: float = 0
    ) -> tuple[int, int]: ...
    async def sim_usage(self, hour_since: float, day_since: float) -> dict[str, tuple[int, int]]: ...
    async def dispatch_done(self, dispatch_id: int, state: int) -> None: ...
    async def dispatch_of(self, member: str, member_tid: int) -> tuple[int, int] | None: ...
    async def apply(
        self, dispatch_id: int, task_id: int, rows: list[tuple[int, str | None, int, list[Any]]], sending: int
    ) -> tuple[list[list[Any]], Counts]: ...
    async def counts(self, task_id: int) -> Counts: ...
    async def busy(self) -> dict[str, int]: ...
    async def withdraw(self, member: str) -> list[int]: ...
    async def inbox_cursor(self, member: str) -> tuple[str, int]: ...
    async def inbox_add(
        self, member: str, ssrc: str, rows: list[tuple[int, list[Any]]], next_id: int
    ) -> list[tuple[int, list[Any]]]: ...
    async def inbox_pushed(self, member: str, rows: list[list[Any]]) -> list[tuple[int, list[Any]]]: ...
    async def inbox_forwarded(self, ids: list[int]) -> None: ...
    async def inbox_unforwarded(self) -> list[tuple[int, list[Any]]]: ...
    async def inbox_page(self, first: int, limit: int, delete: bool) -> tuple[list[list[Any]], int]: ...
    async def find(self, tids: list[Any] | None) -> list[tuple[Any, int | None]]: ...
    async def hold(self, task_id: int, hold: int) -> list[tuple[str, int]]: ...
    async def remove_pending(self, task_id: int, reason: str, ts: int) -> tuple[list[list[Any]], Counts]: ...
    async def withdrawn(self, member: str) -> list[int]: ...
    async def sent_late(
        self, dispatch_id: int, task_id: int, rows: list[tuple[int, str | None, list[Any]]]
    ) -> tuple[list[list[Any]], list[list[Any]], Counts] | None: ...
    async def sent_twice(self) -> dict[str, int]: ...
    async def removed(self, member: str, member_tids: list[int]) -> None: ...
    async def unreported(self, task_id: int) -> list[tuple[int, list[Any]]]: ...
    async def mark_reported(self, task_id: int, seqs: list[int], at: float, final: bool = False) -> None: ...
    async def prune(self, finished_before: float, inbox_keep: int, unforwarded: bool) -> tuple[int, int]: ...
    async def claim(self) -> tuple[list[int], list[int]]: ...
    async def release(self) -> None: ...
    async def recorded(self, task_id: int) -> list[tuple[int, str, int, list[tuple[Unit, str, int]]]]: ...
    def pick_lock(self) -> AbstractAsyncContextManager[None]: ...
    def members_lock(self) -> AbstractAsyncContextManager[None]: ...
    async def seed_members(self, members: list[dict[str, Any]]) -> list[dict[str, Any]]: ...
    async def add_member(self, settings: dict[str, Any]) -> None: ...
    async def remove_member(self, name: str) -> None: ...
    async def member_load(self, member: str, ports: tuple[int, int]) -> int: ...
    async def fail_pinned(
        self, ports: tuple[int, int], reason: str, detail: str, ts: int
    ) -> list[tuple[int, list[list[Any]], Counts]]: ...
    async def setting(self, key: str) -> str | None: ...
    async def set_setting(self, key: str, value: str) -> None: ...
    async def lead(self, role: str) -> bool: ...
    async def ports_changed(self, entries: dict[str, str]) -> set[str]: ...


SCHEMA = [
    # version 1
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE tasks (
        id INTEGER PRIMARY KEY, tid_echo TEXT NOT NULL, task TEXT NOT NULL,
        sr_url TEXT NOT NULL, sr_cnt INTEGER NOT NULL, sr_prd INTEGER NOT NULL,
        sdr INTEGER NOT NULL, fdr INTEGER NOT NULL, finished INTEGER NOT NULL DEFAULT 0,
        hold INTEGER NOT NULL DEFAULT 0);
    CREATE INDEX tasks_open ON tasks (tid_echo) WHERE finished=0;
    CREATE TABLE units (
        task_id INTEGER NOT NULL, idx INTEGER NOT NULL, number TEXT NOT NULL, port TEXT,
        state INTEGER NOT NULL DEFAULT 0, dispatch_id INTEGER, sub_idx INTEGER, via TEXT,
        row TEXT, done_seq INTEGER, reported INTEGER NOT NULL DEFAULT 0,
        sim TEXT, at REAL);  -- the SIM the fleet picked for it, and when (per-SIM quotas)
    CREATE INDEX units_task ON units (task_id, state);
    CREATE INDEX units_idx ON units (task_id, idx);
    CREATE INDEX units_sim ON units (sim, at) WHERE sim IS NOT NULL;
    CREATE INDEX units_dispatch ON units (dispatch_id, sub_idx);
    CREATE TABLE dispatches (
        id INTEGER PRIMARY KEY, task_id INTEGER NOT NULL, no INTEGER NOT NULL, member TEXT NOT NULL,
        member_tid INTEGER NOT NULL, state INTEGER NOT NULL DEFAULT 0, sending INTEGER NOT NULL DEFAULT 0,
        UNIQUE (member, member_tid));
    CREATE TABLE inbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT, member TEXT NOT NULL, ssrc TEXT NOT NULL,
        member_id INTEGER NOT NULL, row TEXT NOT NULL, UNIQUE (member, ssrc, member_id));
    CREATE TABLE inbox_cursor (member TEXT PRIMARY KEY, ssrc TEXT NOT NULL, next_id INTEGER NOT NULL);
    """,
    # version 2: the members (the TOML file seeds them; ejoin fleet member add/remove change them)
    """
    CREATE TABLE members (name TEXT PRIMARY KEY, settings TEXT NOT NULL, removed INTEGER NOT NULL DEFAULT 0);
    """,
    # version 3: SMS members push (recv-sms) beside those the fleet pulls: an SMS known by a push only
    # has no member id yet; ``fp`` (its row) matches the two ways; ``forwarded``: pushed to the platform
    """
    ALTER TABLE inbox RENAME TO inbox_v2;
    CREATE TABLE inbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT, member TEXT NOT NULL, ssrc TEXT, member_id INTEGER,
        row TEXT NOT NULL, fp TEXT NOT NULL, pushed INTEGER NOT NULL DEFAULT 0,
        forwarded INTEGER NOT NULL DEFAULT 1, UNIQUE (member, ssrc, member_id));
    INSERT INTO inbox (id, member, ssrc, member_id, row, fp) SELECT id, member, ssrc, member_id, row, row FROM inbox_v2;
    INSERT INTO sqlite_sequence (name, seq) SELECT 'inbox', seq FROM sqlite_sequence
        WHERE name='inbox_v2' AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name='inbox');
    UPDATE sqlite_sequence SET seq=MAX(seq, COALESCE((SELECT seq FROM sqlite_sequence WHERE name='inbox_v2'), 0))
        WHERE name='inbox';
    DROP TABLE inbox_v2;
    CREATE INDEX inbox_fp ON inbox (member, fp);
    CREATE INDEX inbox_unforwarded ON inbox (id) WHERE forwarded=0;
    """,
    # version 4: reports mark the exact units they hold (another replica may finish more meanwhile)
    """
    CREATE INDEX units_done ON units (task_id, done_seq) WHERE done_seq IS NOT NULL;
    """,
    # version 5: finished tasks pruned after task_retention (when they finished; those finished before
    # count from the upgrade), and the ports' loads read from the units in flight only
    f"""
    ALTER TABLE tasks ADD COLUMN finished_at REAL;
    UPDATE tasks SET finished_at = CAST(strftime('%s', 'now') AS REAL) WHERE finished=1;
    CREATE INDEX tasks_finished ON tasks (finished_at) WHERE finished=1;
    CREATE INDEX units_busy ON units (via) WHERE state={DISPATCHED};
    """,
    # version 6: SMS a member reported sent of a dispatch withdrawn from it, each once (``twice``: its
    # unit had gone to another member meanwhile)
    """
    CREATE TABLE sent_late (
        dispatch_id INTEGER NOT NULL, sub_idx INTEGER NOT NULL, port TEXT NOT NULL,
        twice INTEGER NOT NULL, row TEXT NOT NULL, PRIMARY KEY (dispatch_id, sub_idx, port));
    """,
]

# The state as a literal: only then can the planner use the partial index of the units in flight
# (units_busy), instead of scanning every unit the ledger holds.
BUSY_SQL = f"SELECT via, COUNT(*) FROM units WHERE state={DISPATCHED} AND via IS NOT NULL GROUP BY via"
PRUNE_BATCH = 200  # finished tasks deleted per statement batch: the store stays free for other work between

# A member's tid: the fleet task and the dispatch number, so it is unique and says where it came from.
DISPATCH_SPAN = 100_000


def member_tid(task_id: int, no: int) -> int:
    return task_id * DISPATCH_SPAN + no


# Units' report rows and tasks as stored (JSON), written and read with msgspec: once per SMS (rows) and
# at every dispatch pass (a task, with all its recipients), at a fraction of the ``json`` module's cost.
_encode = msgspec.json.Encoder().encode
_decode_row = msgspec.json.Decoder(list[Any]).decode
_decode_task = msgspec.json.Decoder(dict[str, Any]).decode


def row_text(row: list[Any]) -> str:
    return _encode(row).decode()


def row_of(text: str | bytes) -> list[Any]:
    return _decode_row(text)


def task_text(task: dict[str, Any]) -> str:
    return _encode(task).decode()


def task_of(text: str | bytes) -> dict[str, Any]:
    return _decode_task(text)


def _counts(db: sqlite3.Connection, task_id: int) -> Counts:
    by_state: dict[int, int] = {}
    reported = 0
    for state, n, r in db.execute(
        "SELECT state, COUNT(*), SUM(reported) FROM units WHERE task_id=? GROUP BY state", (task_id,)
    ):
        by_state[state] = n
        reported += r or 0
    sending = db.execute(
        "SELECT COALESCE(SUM(sending), 0) FROM dispatches WHERE task_id=? AND state=?", (task_id, POSTED)
    ).fetchone()[0]
    total = sum(by_state.values())
    return Counts(
        total, by_state.get(SENT, 0), by_state.get(FAILED, 0), min(sending, by_state.get(DISPATCHED, 0)), reported
    )


def port_forms(port: str | None) -> tuple[None, str, str]:
    """A reported fleet port and the port alone: a unit names the port (``5``) or its slot (``5.01``)."""
    name = port or ""
    return None, name, name.split(".")[0]


def _pinned(db: sqlite3.Connection, ports: tuple[int, int]) -> list[tuple[int, int, int, str, str]]:
    """(rowid, task, idx, number, port) of pending units pinned on a fleet port within ``ports``."""
    first, last = ports
    rows = db.execute(
        "SELECT u.rowid, u.task_id, u.idx, u.number, u.port FROM units u JOIN tasks t ON t.id=u.task_id "
        "WHERE t.finished=0 AND u.state=? AND u.port IS NOT NULL",
        (PENDING,),
    ).fetchall()
    return [r for r in rows if first <= int(str(r[4]).split(".")[0]) <= last]


class SqliteLedger:
    lease = 0.0  # one process: no leases

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="fleet-db")
        self._db: sqlite3.Connection | None = None
        self._seq = 0  # order in which units were done (DB thread only)
        self._claimed = False
        self._picking = asyncio.Lock()

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            assert self._db is not None
            with self._db:  # one transaction: committed, or rolled back on error
                return fn(self._db)

        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    async def open(self) -> None:
        def opening() -> None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL: a commit survives kill -9, as in the device store
            db.execute("PRAGMA cache_size=-32000")  # 32 MB: the open tasks' units stay in memory
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > len(SCHEMA):
                raise RuntimeError(f"{self.path} is of a newer ejoin (schema {version})")
            for n in range(version, len(SCHEMA)):
                db.executescript(f"BEGIN; {SCHEMA[n]}; PRAGMA user_version={n + 1}; COMMIT;")
            db.isolation_level = "DEFERRED"
            self._seq = db.execute("SELECT COALESCE(MAX(done_seq), 0) FROM units").fetchone()[0]
            self._db = db

        await asyncio.get_running_loop().run_in_executor(self._pool, opening)

    async def close(self) -> None:
        if self._db is not None:
            await asyncio.get_running_loop().run_in_executor(self._pool, self._db.close)
            self._db = None
        self._pool.shutdown(wait=True)

    async def secret(self) -> str:
        import secrets

        def get(db: sqlite3.Connection) -> str:
            row = db.execute("SELECT value FROM meta WHERE key='secret'").fetchone()
            if row:
                return row[0]
            value = secrets.token_urlsafe(16)
            db.execute("INSERT INTO meta VALUES ('secret', ?)", (value,))
            return value

        return await self._run(get)

    async def add_tasks(self, tasks: list[tuple[Any, dict[str, Any], dict[str, Any], list[Unit]]]) -> list[int | None]:
        """Each task's id, or None when a task with its tid is still open (13 Duplicated TaskId)."""

        def add(db: sqlite3.Connection) -> list[int | None]:
            ids: list[int | None] = []
            for tid_echo, task, rep, units in tasks:
                tid = json.dumps(tid_echo)
                if db.execute("SELECT 1 FROM tasks WHERE tid_echo=? AND finished=0", (tid,)).fetchone():
                    ids.append(None)
                    continue
                cur = db.execute(
                    "INSERT INTO tasks (tid_echo, task, sr_url, sr_cnt, sr_prd, sdr, fdr) VALUES (?,?,?,?,?,?,?)",
                    (tid, task_text(task), rep["sr_url"], rep["sr_cnt"], rep["sr_prd"], rep["sdr"], rep["fdr"]),
                )
                task_id = int(cur.lastrowid or 0)
                db.executemany(
                    "INSERT INTO units (task_id, idx, number, port) VALUES (?,?,?,?)",
                    [(task_id, u.idx, u.number, u.port) for u in units],
                )
                ids.append(task_id)
            return ids

        return await self._run(add)

    async def pending(self, task_id: int) -> list[Unit]:
        def get(db: sqlite3.Connection) -> list[Unit]:
            rows = db.execute(
                "SELECT idx, number, port FROM units WHERE task_id=? AND state=? ORDER BY rowid", (task_id, PENDING)
            )
            return [Unit(*r) for r in rows]

        return await self._run(get)

    @staticmethod
    def _task(r: tuple[Any, ...]) -> TaskRow:
        return TaskRow(
            r[0], json.loads(r[1]), task_of(r[2]), r[3], r[4], r[5], bool(r[6]), bool(r[7]), r[8], bool(r[9])
        )

    _TASK_COLUMNS = "id, tid_echo, task, sr_url, sr_cnt, sr_prd, sdr, fdr, hold, finished"

    async def open_tasks(self) -> list[TaskRow]:
        return await self._run(
            lambda db: [
                self._task(r)
                for r in db.execute(f"SELECT {self._TASK_COLUMNS} FROM tasks WHERE finished=0 ORDER BY id")
            ]
        )

    async def task(self, task_id: int) -> TaskRow | None:
        def get(db: sqlite3.Connection) -> TaskRow | None:
            r = db.execute(f"SELECT {self._TASK_COLUMNS} FROM tasks WHERE id=?", (task_id,)).fetchone()
            return None if r is None else self._task(r)

        return await self._run(get)

    async def record_dispatch(
        self, task_id: int, member: str, units: list[tuple[Unit, str, int]], sim: str | None = None, at: float = 0
    ) -> tuple[int, int]:
        """A new dispatch of ``units`` (each with the fleet port it goes from and its index in the
        sub-task; ``sim``: the SIM the fleet picked, counted against its quotas): (its id, the member's tid).
        """

        def add(db: sqlite3.Connection) -> tuple[int, int]:
            no = db.execute("SELECT COUNT(*) FROM dispatches WHERE task_id=?", (task_id,)).fetchone()[0] + 1
            tid = member_tid(task_id, no)
            cur = db.execute(
                "INSERT INTO dispatches (task_id, no, member, member_tid) VALUES (?,?,?,?)", (task_id, no, member, tid)
            )
            dispatch_id = int(cur.lastrowid or 0)
            taken = db.executemany(
                "UPDATE units SET state=?, dispatch_id=?, sub_idx=?, via=?, sim=?, at=? "
                "WHERE task_id=? AND idx=? AND port IS ? AND state=?",
                [
                    (DISPATCHED, dispatch_id, sub, via, sim, at, task_id, u.idx, u.port, PENDING)
                    for u, via, sub in units
                ],
            ).rowcount
            if taken != len(units):
                raise Conflict(f"task {task_id}: {len(units) - taken} of the units to dispatch were taken")
            return dispatch_id, tid

        return await self._run(add)

    async def sim_usage(self, hour_since: float, day_since: float) -> dict[str, tuple[int, int]]:
        """Per SIM: units given to it (and not failed or taken back) since ``hour_since``, and since ``day_since``."""

        def get(db: sqlite3.Connection) -> dict[str, tuple[int, int]]:
            rows = db.execute(
                "SELECT sim, SUM(at >= ?), COUNT(*) FROM units WHERE sim IS NOT NULL AND at >= ? AND state IN (?, ?) "
                "GROUP BY sim",
                (hour_since, day_since, DISPATCHED, SENT),
            )
            return {sim: (int(h), int(d)) for sim, h, d in rows}

        return await self._run(get)

    async def dispatch_done(self, dispatch_id: int, state: int) -> None:
        def done(db: sqlite3.Connection) -> None:
            db.execute("UPDATE dispatches SET state=? WHERE id=?", (state, dispatch_id))
            if state == REFUSED:  # never reached the member: its units are free again
                db.execute(
                    "UPDATE units SET state=?, dispatch_id=NULL, sub_idx=NULL, via=NULL "
                    "WHERE dispatch_id=? AND state=?",
                    (PENDING, dispatch_id, DISPATCHED),
                )

        await self._run(done)

    async def dispatch_of(self, member: str, member_tid: int) -> tuple[int, int] | None:
        def get(db: sqlite3.Connection) -> tuple[int, int] | None:
            r = db.execute(
                "SELECT id, task_id FROM dispatches WHERE member=? AND member_tid=?", (member, member_tid)
            ).fetchone()
            return None if r is None else (r[0], r[1])

        return await self._run(get)

    async def apply(
        self, dispatch_id: int, task_id: int, rows: list[tuple[int, str | None, int, list[Any]]], sending: int
    ) -> tuple[list[list[Any]], Counts]:
        """Outcomes ``(sub_idx, fleet port, SENT|FAILED, fleet row)`` of a dispatch, and how many of it the
        member is sending, in one transaction: the rows new to the record, and the task's counts after.

        A unit already done is left alone, so a report pushed twice (a member's retry) counts once.
        """

        def put(db: sqlite3.Connection) -> tuple[list[list[Any]], Counts]:
            open_units: dict[int, list[tuple[int, int, str | None]]] = {}
            for rowid, sub, idx, unit_port in db.execute(
                "SELECT rowid, sub_idx, idx, port FROM units WHERE dispatch_id=? AND state=?", (dispatch_id, DISPATCHED)
            ):
                open_units.setdefault(sub, []).append((rowid, idx, unit_port))
            fresh, updates = [], []
            for sub_idx, port, state, row in rows:
                candidates = open_units.get(sub_idx, [])
                # to_all: the units of one recipient share its sub_idx; the port tells them apart
                match = [c for c in candidates if c[2] in (None, port, (port or "").split(".")[0])]
                if not match:
                    continue  # not ours, or already done (a report pushed again)
                candidates.remove(match[0])
                rowid, idx, _ = match[0]
                self._seq += 1
                fleet_row = [idx, *row[1:]]
                updates.append((state, row_text(fleet_row), self._seq, rowid))
                fresh.append(fleet_row)
            db.executemany("UPDATE units SET state=?, row=?, done_seq=? WHERE rowid=?", updates)
            db.execute("UPDATE dispatches SET sending=? WHERE id=?", (sending, dispatch_id))
            return fresh, _counts(db, task_id)

        return await self._run(put)

    async def counts(self, task_id: int) -> Counts:
        return await self._run(lambda db: _counts(db, task_id))

    async def prune(self, finished_before: float, inbox_keep: int, unforwarded: bool) -> tuple[int, int]:
        """Tasks finished before ``finished_before`` (a batch of them, with their units and dispatches)
        and received SMS past the newest ``inbox_keep`` (those pushed to the platform; ``unforwarded``:
        the others too, when there is nowhere to push them): (tasks, SMS) deleted.

        A task with a dispatch withdrawn from a member and not removed on it yet stays: that record is
        what removes it there when the member comes back."""

        def run(db: sqlite3.Connection) -> tuple[int, int]:
            ids = [
                (i,)
                for (i,) in db.execute(
                    "SELECT id FROM tasks WHERE finished=1 AND finished_at < ? AND NOT EXISTS "
                    "(SELECT 1 FROM dispatches d WHERE d.task_id=tasks.id AND d.state=?) LIMIT ?",
                    (finished_before, WITHDRAWN, PRUNE_BATCH),
                )
            ]
            db.executemany("DELETE FROM units WHERE task_id=?", ids)
            db.executemany(
                "DELETE FROM sent_late WHERE dispatch_id IN (SELECT id FROM dispatches WHERE task_id=?)", ids
            )
            db.executemany("DELETE FROM dispatches WHERE task_id=?", ids)
            db.executemany("DELETE FROM tasks WHERE id=?", ids)
            cutoff = db.execute("SELECT id FROM inbox ORDER BY id DESC LIMIT 1 OFFSET ?", (inbox_keep,)).fetchone()
            gone = 0
            if cutoff is not None:
                sql = "DELETE FROM inbox WHERE id <= ?" + ("" if unforwarded else " AND forwarded=1")
                gone = db.execute(sql, (cutoff[0],)).rowcount
            return len(ids), gone

        return await self._run(run)

    async def busy(self) -> dict[str, int]:
        """Units dispatched and not done, per fleet port they were sent to go from (``via``)."""
        return await self._run(lambda db: dict(db.execute(BUSY_SQL).fetchall()))

    async def find(self, tids: list[Any] | None) -> list[tuple[Any, int | None]]:
        """Open tasks by the tids the platform gave (None: every open task); (tid, None) when not open."""

        def get(db: sqlite3.Connection) -> list[tuple[Any, int | None]]:
            if tids is None:
                rows = db.execute("SELECT tid_echo, id FROM tasks WHERE finished=0 ORDER BY id")
                return [(json.loads(t), i) for t, i in rows]
            out: list[tuple[Any, int | None]] = []
            for tid in tids:
                # a tid sent as "5002" in a list or form names the task sent as 5002 too
                keys = {json.dumps(tid)}
                if isinstance(tid, str) and tid.strip().lstrip("-").isdigit():
                    keys.add(json.dumps(int(tid)))
                found = None
                for key in keys:
                    r = db.execute("SELECT id FROM tasks WHERE tid_echo=? AND finished=0", (key,)).fetchone()
                    found = found or (r[0] if r else None)
                out.append((tid, found))
            return out

        return await self._run(get)

    async def hold(self, task_id: int, hold: int) -> list[tuple[str, int]]:
        """Set a task's hold; the (member, member tid) of its dispatches that may still be sending."""

        def put(db: sqlite3.Connection) -> list[tuple[str, int]]:
            db.execute("UPDATE tasks SET hold=? WHERE id=? AND hold != ?", (hold, task_id, REMOVED))
            rows = db.execute(
                "SELECT member, member_tid FROM dispatches WHERE task_id=? AND state IN (?, ?) ORDER BY id",
                (task_id, RECORDED, POSTED),
            )
            return [(m, t) for m, t in rows]

        return await self._run(put)

    async def remove_pending(self, task_id: int, reason: str, ts: int) -> tuple[list[list[Any]], Counts]:
        """A removed task's units never dispatched: failed with ``reason``, as a device fails what it never sent."""

        def put(db: sqlite3.Connection) -> tuple[list[list[Any]], Counts]:
            fresh, updates = [], []
            for rowid, idx, number in db.execute(
                "SELECT rowid, idx, number FROM units WHERE task_id=? AND state=? ORDER BY rowid", (task_id, PENDING)
            ).fetchall():
                self._seq += 1
                row = [idx, number, "", ts, reason, ""]
                updates.append((FAILED, row_text(row), self._seq, rowid))
                fresh.append(row)
            db.executemany("UPDATE units SET state=?, row=?, done_seq=? WHERE rowid=?", updates)
            return fresh, _counts(db, task_id)

        return await self._run(put)

    async def inbox_cursor(self, member: str) -> tuple[str, int]:
        """The member's ssrc and the id of its next SMS the fleet has not taken yet (("", 1) at first)."""

        def get(db: sqlite3.Connection) -> tuple[str, int]:
            r = db.execute("SELECT ssrc, next_id FROM inbox_cursor WHERE member=?", (member,)).fetchone()
            return ("", 1) if r is None else (r[0], r[1])

        return await self._run(get)

    async def inbox_add(
        self, member: str, ssrc: str, rows: list[tuple[int, list[Any]]], next_id: int
    ) -> list[tuple[int, list[Any]]]:
        """SMS the fleet pulled from a member (by its ids), under the fleet's own ids, and the member's
        cursor, in one transaction: the (fleet id, row) of those new to the fleet.  One the member
        pushed already (the same row, known by no member id yet) takes the id and is not new."""

        def put(db: sqlite3.Connection) -> list[tuple[int, list[Any]]]:
            new: list[tuple[int, list[Any]]] = []
            for member_id, row in rows:
                if db.execute(
                    "SELECT 1 FROM inbox WHERE member=? AND ssrc=? AND member_id=?", (member, ssrc, member_id)
                ).fetchone():
                    continue
                fp = json.dumps(row)
                pushed = db.execute(
                    "SELECT id FROM inbox WHERE member=? AND fp=? AND member_id IS NULL ORDER BY id LIMIT 1",
                    (member, fp),
                ).fetchone()
                if pushed:
                    db.execute("UPDATE inbox SET ssrc=?, member_id=? WHERE id=?", (ssrc, member_id, pushed[0]))
                    continue
                cur = db.execute(
                    "INSERT INTO inbox (member, ssrc, member_id, row, fp, forwarded) VALUES (?,?,?,?,?,0)",
                    (member, ssrc, member_id, fp, fp),
                )
                new.append((int(cur.lastrowid or 0), row))
            db.execute(
                "INSERT INTO inbox_cursor VALUES (?,?,?) ON CONFLICT (member) DO UPDATE SET ssrc=?, next_id=?",
                (member, ssrc, next_id, ssrc, next_id),
            )
            return new

        return await self._run(put)

    async def inbox_pushed(self, member: str, rows: list[list[Any]]) -> list[tuple[int, list[Any]]]:
        """SMS a member pushed (recv-sms): the (fleet id, row) of those new to the fleet.  One the fleet
        pulled already and not yet matched to a push (the same row) is that SMS, not a new one."""

        def put(db: sqlite3.Connection) -> list[tuple[int, list[Any]]]:
            new: list[tuple[int, list[Any]]] = []
            for row in rows:
                fp = json.dumps(row)
                pulled = db.execute(
                    "SELECT id FROM inbox WHERE member=? AND fp=? AND pushed=0 AND member_id IS NOT NULL "
                    "ORDER BY id LIMIT 1",
                    (member, fp),
                ).fetchone()
                if pulled:
                    db.execute("UPDATE inbox SET pushed=1 WHERE id=?", (pulled[0],))
                    continue
                cur = db.execute(
                    "INSERT INTO inbox (member, row, fp, pushed, forwarded) VALUES (?,?,?,1,0)", (member, fp, fp)
                )
                new.append((int(cur.lastrowid or 0), row))
            return new

        return await self._run(put)

    async def inbox_forwarded(self, ids: list[int]) -> None:
        """These SMS are in a recv-sms push the outbox holds (or there was nowhere to push them)."""
        await self._run(lambda db: db.executemany("UPDATE inbox SET forwarded=1 WHERE id=?", [(i,) for i in ids]))

    async def inbox_unforwarded(self) -> list[tuple[int, list[Any]]]:
        """After a restart: SMS taken in and never handed to the outbox."""
        return await self._run(
            lambda db: [
                (i, json.loads(r)) for i, r in db.execute("SELECT id, row FROM inbox WHERE forwarded=0 ORDER BY id")
            ]
        )

    async def inbox_page(self, first: int, limit: int, delete: bool) -> tuple[list[list[Any]], int]:
        """As a device's inbox: rows from id ``first`` (``limit`` 0: all), and the next id to ask for."""

        def get(db: sqlite3.Connection) -> tuple[list[list[Any]], int]:
            sql, params = "SELECT id, row FROM inbox WHERE id >= ? ORDER BY id", [first]
            if limit > 0:
                sql += " LIMIT ?"
                params.append(limit)
            found = db.execute(sql, params).fetchall()
            if found:
                next_id = found[-1][0] + 1
            else:
                last = db.execute("SELECT seq FROM sqlite_sequence WHERE name='inbox'").fetchone()
                next_id = max(first, (last[0] if last else 0) + 1)
            if delete and found:
                db.executemany("DELETE FROM inbox WHERE id=?", [(i,) for i, _ in found])
            return [json.loads(r) for _, r in found], next_id

        return await self._run(get)

    async def withdraw(self, member: str) -> list[int]:
        """Failover: the member's units without an outcome go back to pending; the ids of the tasks touched.

        The fleet's record decides: what no report says was done counts as never sent.  Its dispatches
        are kept as withdrawn, to be removed on the member once it answers again.
        """

        def take(db: sqlite3.Connection) -> list[int]:
            rows = db.execute(
                "SELECT id, task_id FROM dispatches WHERE member=? AND state IN (?, ?)", (member, RECORDED, POSTED)
            ).fetchall()
            tasks = set()
            for dispatch_id, task_id in rows:
                moved = db.execute(
                    "UPDATE units SET state=?, dispatch_id=NULL, sub_idx=NULL, via=NULL "
                    "WHERE dispatch_id=? AND state=?",
                    (PENDING, dispatch_id, DISPATCHED),
                ).rowcount
                if moved:
                    db.execute("UPDATE dispatches SET state=?, sending=0 WHERE id=?", (WITHDRAWN, dispatch_id))
                    tasks.add(task_id)
            return sorted(tasks)

        return await self._run(take)

    async def sent_late(
        self, dispatch_id: int, task_id: int, rows: list[tuple[int, str | None, list[Any]]]
    ) -> tuple[list[list[Any]], list[list[Any]], Counts] | None:
        """SMS ``(sub_idx, fleet port, fleet row)`` a member reports sent of a dispatch the fleet withdrew
        from it (failover), each taken once: (rows that became the outcome of their
        unit, still pending: it is not sent again; rows whose unit had gone to another member meanwhile:
        sent twice; the task's counts).  None when the dispatch was not withdrawn (a report pushed again)."""

        def put(db: sqlite3.Connection) -> tuple[list[list[Any]], list[list[Any]], Counts] | None:
            r = db.execute("SELECT state FROM dispatches WHERE id=?", (dispatch_id,)).fetchone()
            if r is None or r[0] not in (WITHDRAWN, REMOVED):
                return None
            done = {
                (sub, port)
                for sub, port in db.execute(
                    "SELECT sub_idx, port FROM units WHERE dispatch_id=? AND state IN (?, ?)",
                    (dispatch_id, SENT, FAILED),
                )
            }
            applied, twice = [], []
            for sub_idx, port, row in rows:
                ports = port_forms(port)
                if any((sub_idx, p) in done for p in ports):
                    continue  # done before the withdrawal: its outcome was applied then
                new = db.execute(
                    "INSERT OR IGNORE INTO sent_late (dispatch_id, sub_idx, port, twice, row) VALUES (?,?,?,0,?)",
                    (dispatch_id, sub_idx, port or "", row_text(row)),
                ).rowcount
                if not new:
                    continue  # a report pushed again
                unit = db.execute(
                    "SELECT rowid, idx FROM units WHERE task_id=? AND state=? AND number=? "
                    "AND (port IS NULL OR port IN (?, ?)) ORDER BY rowid LIMIT 1",
                    (task_id, PENDING, row[1], *ports[1:]),
                ).fetchone()
                if unit is None:
                    db.execute(
                        "UPDATE sent_late SET twice=1 WHERE dispatch_id=? AND sub_idx=? AND port=?",
                        (dispatch_id, sub_idx, port or ""),
                    )
                    twice.append(row)
                    continue
                self._seq += 1
                fleet_row = [unit[1], *row[1:]]
                db.execute(
                    "UPDATE units SET state=?, row=?, done_seq=?, dispatch_id=?, sub_idx=? WHERE rowid=?",
                    (SENT, row_text(fleet_row), self._seq, dispatch_id, sub_idx, unit[0]),
                )
                applied.append(fleet_row)
            return applied, twice, _counts(db, task_id)

        return await self._run(put)

    async def sent_twice(self) -> dict[str, int]:
        """Per member: SMS it sent after the fleet had withdrawn them and given them to another member."""
        return await self._run(
            lambda db: dict(
                db.execute(
                    "SELECT d.member, COUNT(*) FROM sent_late s JOIN dispatches d ON d.id=s.dispatch_id "
                    "WHERE s.twice=1 GROUP BY d.member"
                ).fetchall()
            )
        )

    async def withdrawn(self, member: str) -> list[int]:
        return await self._run(
            lambda db: [
                r[0]
                for r in db.execute(
                    "SELECT member_tid FROM dispatches WHERE member=? AND state=? ORDER BY id", (member, WITHDRAWN)
                )
            ]
        )

    async def removed(self, member: str, member_tids: list[int]) -> None:
        def mark(db: sqlite3.Connection) -> None:
            db.executemany(
                "UPDATE dispatches SET state=? WHERE member=? AND member_tid=?",
                [(REMOVED, member, t) for t in member_tids],
            )

        await self._run(mark)

    async def unreported(self, task_id: int) -> list[tuple[int, list[Any]]]:
        """(done_seq, row) of the units done and not yet in a report queued for the platform, in order done."""

        def get(db: sqlite3.Connection) -> list[tuple[int, list[Any]]]:
            rows = db.execute(
                "SELECT done_seq, row FROM units WHERE task_id=? AND state IN (?, ?) AND reported=0 ORDER BY done_seq",
                (task_id, SENT, FAILED),
            )
            return [(seq, row_of(r)) for seq, r in rows]

        return await self._run(get)

    async def mark_reported(self, task_id: int, seqs: list[int], at: float, final: bool = False) -> None:
        """These units (by done_seq) are in a report the outbox holds; the task is finished once all are
        (``at``: when, for task_retention).

        ``final``: the report holds every unit not reported before, all of them done (the task's last
        report): the task is finished at once, its units left unmarked (one write per unit saved; a
        finished task is never reported again).
        """

        def mark(db: sqlite3.Connection) -> None:
            if final:
                db.execute(
                    "UPDATE tasks SET finished=1, finished_at=? WHERE id=? AND NOT EXISTS "
                    "(SELECT 1 FROM units WHERE task_id=? AND state NOT IN (?, ?))",
                    (at, task_id, task_id, SENT, FAILED),
                )
                return
            if seqs:
                # One statement, not one per unit: done_seq is taken in this thread's order, so the units
                # of the task done and unreported up to the last seq read are exactly those read.
                db.execute(
                    "UPDATE units SET reported=1 WHERE task_id=? AND reported=0 AND done_seq <= ?",
                    (task_id, max(seqs)),
                )
            db.execute(
                "UPDATE tasks SET finished=1, finished_at=? WHERE id=? AND NOT EXISTS "
                "(SELECT 1 FROM units WHERE task_id=? AND reported=0)",
                (at, task_id, task_id),
            )

        await self._run(mark)

    async def seed_members(self, members: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The members now: the file's ``members`` the ledger never had are added (one removed at run
        time stays removed; one known keeps its recorded settings), then every member not removed."""

        def seed(db: sqlite3.Connection) -> list[dict[str, Any]]:
            db.executemany(
                "INSERT OR IGNORE INTO members (name, settings) VALUES (?, ?)",
                [(m["name"], json.dumps(m)) for m in members],
            )
            rows = db.execute("SELECT settings FROM members WHERE removed=0 ORDER BY rowid")
            return [json.loads(r[0]) for r in rows]

        return await self._run(seed)

    async def add_member(self, settings: dict[str, Any]) -> None:
        def add(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO members (name, settings) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET settings=excluded.settings, removed=0",
                (settings["name"], json.dumps(settings)),
            )

        await self._run(add)

    async def remove_member(self, name: str) -> None:
        """Kept as removed (a restart does not bring it back from the file); its inbox cursor goes: a
        member added later under that name is another device, read from its start."""

        def remove(db: sqlite3.Connection) -> None:
            db.execute("UPDATE members SET removed=1 WHERE name=?", (name,))
            db.execute("DELETE FROM inbox_cursor WHERE member=?", (name,))

        await self._run(remove)

    async def member_load(self, member: str, ports: tuple[int, int]) -> int:
        """Units dispatched to the member and not done, and pending units a ``to_all`` task pinned on
        its fleet ports ``ports`` (first, last): what removing it would strand."""

        def count(db: sqlite3.Connection) -> int:
            dispatched = db.execute(
                "SELECT COUNT(*) FROM units u JOIN dispatches d ON u.dispatch_id=d.id "
                "WHERE d.member=? AND d.state IN (?, ?) AND u.state=?",
                (member, RECORDED, POSTED, DISPATCHED),
            ).fetchone()[0]
            return int(dispatched) + len(_pinned(db, ports))

        return await self._run(count)

    async def fail_pinned(
        self, ports: tuple[int, int], reason: str, detail: str, ts: int
    ) -> list[tuple[int, list[list[Any]], Counts]]:
        """Pending units pinned on fleet ports that are gone: failed; per task, the new rows and counts."""

        def put(db: sqlite3.Connection) -> list[tuple[int, list[list[Any]], Counts]]:
            by_task: dict[int, list[list[Any]]] = {}
            for rowid, task_id, idx, number, port in _pinned(db, ports):
                self._seq += 1
                row = [idx, number, port, ts, reason, detail]
                db.execute(
                    "UPDATE units SET state=?, row=?, done_seq=? WHERE rowid=?",
                    (FAILED, row_text(row), self._seq, rowid),
                )
                by_task.setdefault(task_id, []).append(row)
            return [(task_id, rows, _counts(db, task_id)) for task_id, rows in by_task.items()]

        return await self._run(put)

    async def setting(self, key: str) -> str | None:
        """A setting of the fleet as a device (its status push URL and period), kept across restarts."""

        def get(db: sqlite3.Connection) -> str | None:
            r = db.execute("SELECT value FROM meta WHERE key=?", ("setting:" + key,)).fetchone()
            return None if r is None else str(r[0])

        return await self._run(get)

    async def set_setting(self, key: str, value: str) -> None:
        def put(db: sqlite3.Connection) -> None:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", ("setting:" + key, value))

        await self._run(put)

    async def lead(self, role: str) -> bool:
        """One process: it plays every role."""
        return True

    async def ports_changed(self, entries: dict[str, str]) -> set[str]:
        """One process: its own view of the ports is the whole record (no other replica saw them)."""
        return set(entries)

    async def claim(self) -> tuple[list[int], list[int]]:
        """The open tasks this process owns (all: it is the only one), and those it took over from an
        earlier life of the store (at the first call) whose recorded dispatches must be reconciled."""
        ids = [row.id for row in await self.open_tasks()]
        taken = [] if self._claimed else ids
        self._claimed = True
        return ids, taken

    async def release(self) -> None:
        pass

    async def recorded(self, task_id: int) -> list[tuple[int, str, int, list[tuple[Unit, str, int]]]]:
        """Dispatches recorded and never answered (the post may or may not have reached the member),
        with their units still waiting: (dispatch id, member, member tid, (unit, fleet port, sub idx))."""

        def get(db: sqlite3.Connection) -> list[tuple[int, str, int, list[tuple[Unit, str, int]]]]:
            out = []
            for dispatch_id, member, tid in db.execute(
                "SELECT id, member, member_tid FROM dispatches WHERE task_id=? AND state=? ORDER BY id",
                (task_id, RECORDED),
            ).fetchall():
                units = [
                    (Unit(idx, number, port), via, sub)
                    for idx, number, port, via, sub in db.execute(
                        "SELECT idx, number, port, via, sub_idx FROM units WHERE dispatch_id=? AND state=? "
                        "ORDER BY sub_idx, rowid",
                        (dispatch_id, DISPATCHED),
                    )
                ]
                if units:
                    out.append((dispatch_id, member, tid, units))
            return out

        return await self._run(get)

    @asynccontextmanager
    async def pick_lock(self) -> AsyncIterator[None]:
        """Held from reading ports' loads and SIMs' usage to recording what was given them, so both hold."""
        async with self._picking:
            yield

    @asynccontextmanager
    async def members_lock(self) -> AsyncIterator[None]:
        """One process: its own lock around member changes is enough."""
        yield
