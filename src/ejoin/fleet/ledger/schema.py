"""The ledger's schema, for SQLite and PostgreSQL: one list of steps, one numbering, run by the one
migration runner (``store/migrations.py``; on PostgreSQL through ``pgdb.py``).

Versions 1 to 6 are the two histories as they were deployed, side by side (the same number did not do
the same in both: SQLite reached 6 where PostgreSQL reached 5, so PostgreSQL's 6th step is empty).
Version 7 brings SQLite to PostgreSQL's tables, so that every statement of the ledger is written once
(``operations.py``): units get the ``id`` they had as a rowid, tasks keep ids never given twice
(AUTOINCREMENT, as a sequence does) and the lease columns, one open task per tid is a unique index,
a task's dispatch numbers are unique, and members keep their order in ``seq``.  From then on a step is
written once for both wherever its SQL is the same (``Step(sqlite=S, postgres=S)``).

What exists only on PostgreSQL: the outbox to the platform (on SQLite the fleet keeps it in a device
store of its own, ``outbox.sqlite3``), leases of push destinations and roles, the ports' last pushed
entries, and the done sequence (on SQLite, a counter of its one thread).
"""

from __future__ import annotations

from typing import NamedTuple

from ...store.migrations import Schema, Step
from .states import UnitState


class Types(NamedTuple):
    """How each database writes what both keep: the tables' columns are written once, below."""

    serial: str  # an id the database gives
    big: str
    small: str
    real: str
    now: str  # seconds since the epoch, in a migration


SQLITE = Types("INTEGER PRIMARY KEY", "INTEGER", "INTEGER", "REAL", "CAST(strftime('%s', 'now') AS REAL)")
POSTGRES = Types("BIGSERIAL PRIMARY KEY", "BIGINT", "SMALLINT", "DOUBLE PRECISION", "EXTRACT(EPOCH FROM now())")

_TASK = """tid_echo TEXT NOT NULL, task TEXT NOT NULL,
        sr_url TEXT NOT NULL, sr_cnt INTEGER NOT NULL, sr_prd INTEGER NOT NULL,
        sdr INTEGER NOT NULL, fdr INTEGER NOT NULL, finished INTEGER NOT NULL DEFAULT 0,
        hold INTEGER NOT NULL DEFAULT 0"""
_UNIT_INDEXES = """
    CREATE INDEX units_task ON units (task_id, state);
    CREATE INDEX units_idx ON units (task_id, idx);
    CREATE INDEX units_sim ON units (sim, at) WHERE sim IS NOT NULL;
    CREATE INDEX units_dispatch ON units (dispatch_id, sub_idx);"""
_UNITS_DONE = "CREATE INDEX units_done ON units (task_id, done_seq) WHERE done_seq IS NOT NULL;"
_UNITS_BUSY = f"CREATE INDEX units_busy ON units (via) WHERE state={UnitState.DISPATCHED:d};"
_INBOX_MATCHING = """
    CREATE INDEX inbox_fp ON inbox (member, fp);
    CREATE INDEX inbox_unforwarded ON inbox (id) WHERE forwarded=0;"""
_MEMBER = "settings TEXT NOT NULL, removed INTEGER NOT NULL DEFAULT 0"


def _unit(t: Types) -> str:
    """A unit's columns but its id (SQLite's units had only a rowid until version 7)."""
    return f"""task_id {t.big} NOT NULL, idx INTEGER NOT NULL, number TEXT NOT NULL, port TEXT,
        state {t.small} NOT NULL DEFAULT 0, dispatch_id {t.big}, sub_idx INTEGER, via TEXT,
        row TEXT, done_seq {t.big}, reported INTEGER NOT NULL DEFAULT 0,
        sim TEXT, at {t.real}"""  # sim, at: the SIM the fleet picked for it, and when (per-SIM quotas)


def _v1(t: Types, inbox_id: str) -> str:
    """The ledger as both databases began it (PostgreSQL began with more: see its step)."""
    return f"""
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE dispatches (
        id {t.serial}, task_id {t.big} NOT NULL, no INTEGER NOT NULL, member TEXT NOT NULL,
        member_tid {t.big} NOT NULL, state {t.small} NOT NULL DEFAULT 0, sending INTEGER NOT NULL DEFAULT 0,
        UNIQUE (member, member_tid));
    CREATE TABLE inbox (
        id {inbox_id}, member TEXT NOT NULL, ssrc TEXT NOT NULL,
        member_id {t.big} NOT NULL, row TEXT NOT NULL, UNIQUE (member, ssrc, member_id));
    CREATE TABLE inbox_cursor (member TEXT PRIMARY KEY, ssrc TEXT NOT NULL, next_id {t.big} NOT NULL);
    """


def _finish_times(t: Types) -> str:
    # finished tasks pruned after task_retention (when they finished; those finished before count from
    # the upgrade), and the ports' loads read from the units in flight only
    return f"""
    ALTER TABLE tasks ADD COLUMN finished_at {t.real};
    UPDATE tasks SET finished_at = {t.now} WHERE finished=1;
    CREATE INDEX tasks_finished ON tasks (finished_at) WHERE finished=1;
    {_UNITS_BUSY}
    """


def _sent_late(t: Types) -> str:
    # SMS a member reported sent of a dispatch withdrawn from it, each once (``twice``: its unit had gone
    # to another member meanwhile)
    return f"""
    CREATE TABLE sent_late (
        dispatch_id {t.big} NOT NULL, sub_idx INTEGER NOT NULL, port TEXT NOT NULL,
        twice INTEGER NOT NULL, row TEXT NOT NULL, PRIMARY KEY (dispatch_id, sub_idx, port));
    """


LEDGER = Schema(
    "the fleet ledger",
    (
        # version 1: the ledger; on PostgreSQL also the task leases and the push outbox (it began as the
        # replicas' store)
        Step(
            sqlite=f"""{_v1(SQLITE, "INTEGER PRIMARY KEY AUTOINCREMENT")}
    CREATE TABLE tasks (id INTEGER PRIMARY KEY, {_TASK});
    CREATE INDEX tasks_open ON tasks (tid_echo) WHERE finished=0;
    CREATE TABLE units ({_unit(SQLITE)});{_UNIT_INDEXES}
    """,
            postgres=f"""{_v1(POSTGRES, POSTGRES.serial)}
    CREATE TABLE tasks (
        id BIGSERIAL PRIMARY KEY, {_TASK},
        owner TEXT, lease_until DOUBLE PRECISION NOT NULL DEFAULT 0);
    -- one open task per tid, across replicas accepting at once
    CREATE UNIQUE INDEX tasks_open ON tasks (tid_echo) WHERE finished=0;
    CREATE INDEX tasks_unfinished ON tasks (id) WHERE finished=0;
    CREATE TABLE units (id BIGSERIAL PRIMARY KEY, {_unit(POSTGRES)});{_UNIT_INDEXES}
    {_UNITS_DONE}
    CREATE SEQUENCE units_done_seq;
    ALTER TABLE dispatches ADD UNIQUE (task_id, no);
    CREATE INDEX dispatches_task ON dispatches (task_id, state);
    CREATE TABLE outbox (
        id BIGSERIAL PRIMARY KEY, dest TEXT NOT NULL, kind TEXT NOT NULL, content_type TEXT NOT NULL,
        headers TEXT NOT NULL DEFAULT '{{}}', body BYTEA NOT NULL, created DOUBLE PRECISION NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, next_at DOUBLE PRECISION NOT NULL DEFAULT 0, last_error TEXT);
    CREATE INDEX outbox_by_dest ON outbox (dest, id);
    CREATE TABLE outbox_dead (
        id BIGINT PRIMARY KEY, dest TEXT NOT NULL, kind TEXT NOT NULL, content_type TEXT NOT NULL,
        headers TEXT NOT NULL DEFAULT '{{}}', body BYTEA NOT NULL, created DOUBLE PRECISION NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, died DOUBLE PRECISION NOT NULL);
    CREATE INDEX outbox_dead_by_dest ON outbox_dead (dest, id);
    -- the replica sending a destination's pushes, in order, until its lease expires
    CREATE TABLE push_leases (dest TEXT PRIMARY KEY, owner TEXT NOT NULL, until DOUBLE PRECISION NOT NULL);
    """,
        ),
        # version 2: the members (the TOML file seeds them; ejoin fleet member add/remove change them); on
        # PostgreSQL also what SQLite's 3 brings
        Step(
            sqlite=f"CREATE TABLE members (name TEXT PRIMARY KEY, {_MEMBER});",
            postgres=f"""
    CREATE TABLE members (seq BIGSERIAL, name TEXT PRIMARY KEY, {_MEMBER});
    ALTER TABLE inbox ALTER COLUMN ssrc DROP NOT NULL, ALTER COLUMN member_id DROP NOT NULL,
        ADD COLUMN fp TEXT, ADD COLUMN pushed INTEGER NOT NULL DEFAULT 0,
        ADD COLUMN forwarded INTEGER NOT NULL DEFAULT 1;
    UPDATE inbox SET fp=row;
    ALTER TABLE inbox ALTER COLUMN fp SET NOT NULL;{_INBOX_MATCHING}
    """,
        ),
        # version 3 on SQLite: SMS members push (recv-sms) beside those the fleet pulls: an SMS known by a
        # push only has no member id yet; ``fp`` (its row) matches the two ways; ``forwarded``: pushed to the
        # platform.  On PostgreSQL: what one replica does for all (``roles``: the status pusher, under a
        # lease), and each fleet port's entry as last pushed to the platform, so a change seen by many
        # replicas goes once
        Step(
            sqlite=f"""
    ALTER TABLE inbox RENAME TO inbox_v2;
    CREATE TABLE inbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT, member TEXT NOT NULL, ssrc TEXT, member_id INTEGER,
        row TEXT NOT NULL, fp TEXT NOT NULL, pushed INTEGER NOT NULL DEFAULT 0,
        forwarded INTEGER NOT NULL DEFAULT 1, UNIQUE (member, ssrc, member_id));
    INSERT INTO inbox (id, member, ssrc, member_id, row, fp)
        SELECT id, member, ssrc, member_id, row, row FROM inbox_v2;
    INSERT INTO sqlite_sequence (name, seq) SELECT 'inbox', seq FROM sqlite_sequence
        WHERE name='inbox_v2' AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name='inbox');
    UPDATE sqlite_sequence SET seq=MAX(seq, COALESCE((SELECT seq FROM sqlite_sequence WHERE name='inbox_v2'), 0))
        WHERE name='inbox';
    DROP TABLE inbox_v2;{_INBOX_MATCHING}
    """,
            postgres="""
    CREATE TABLE roles (role TEXT PRIMARY KEY, owner TEXT NOT NULL, until DOUBLE PRECISION NOT NULL);
    CREATE TABLE port_status (port TEXT PRIMARY KEY, entry TEXT NOT NULL);
    """,
        ),
        # version 4 on SQLite: reports mark the exact units they hold (PostgreSQL had the index from its 1)
        Step(sqlite=_UNITS_DONE, postgres=_finish_times(POSTGRES)),
        Step(sqlite=_finish_times(SQLITE), postgres=_sent_late(POSTGRES)),
        Step(sqlite=_sent_late(SQLITE), postgres=None),
        # version 7: SQLite takes PostgreSQL's tables (above); nothing changes on PostgreSQL
        Step(
            sqlite=f"""
    ALTER TABLE tasks RENAME TO tasks_v6;
    CREATE TABLE tasks (
        id INTEGER PRIMARY KEY AUTOINCREMENT, {_TASK},
        owner TEXT, lease_until REAL NOT NULL DEFAULT 0, finished_at REAL);
    INSERT INTO tasks (id, tid_echo, task, sr_url, sr_cnt, sr_prd, sdr, fdr, finished, hold, finished_at)
        SELECT id, tid_echo, task, sr_url, sr_cnt, sr_prd, sdr, fdr, finished, hold, finished_at FROM tasks_v6;
    DROP TABLE tasks_v6;
    CREATE UNIQUE INDEX tasks_open ON tasks (tid_echo) WHERE finished=0;
    CREATE INDEX tasks_unfinished ON tasks (id) WHERE finished=0;
    CREATE INDEX tasks_finished ON tasks (finished_at) WHERE finished=1;
    ALTER TABLE units RENAME TO units_v6;
    CREATE TABLE units (id INTEGER PRIMARY KEY, {_unit(SQLITE)});
    INSERT INTO units SELECT rowid, task_id, idx, number, port, state, dispatch_id, sub_idx, via, row, done_seq,
        reported, sim, at FROM units_v6;
    DROP TABLE units_v6;{_UNIT_INDEXES}
    {_UNITS_DONE}
    {_UNITS_BUSY}
    CREATE UNIQUE INDEX dispatches_no ON dispatches (task_id, no);
    CREATE INDEX dispatches_task ON dispatches (task_id, state);
    ALTER TABLE members RENAME TO members_v6;
    CREATE TABLE members (seq INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, {_MEMBER});
    INSERT INTO members SELECT rowid, name, settings, removed FROM members_v6;
    DROP TABLE members_v6;
    """,
            postgres=None,
        ),
    ),
)
