"""Versioned schemas, and the one runner that brings a database to the newest version: the device
store's (``MIGRATIONS``, below), the fleet's ledger on SQLite and PostgreSQL
(``fleet/ledger/schema.py``) and the push receiver's (``client/receiver.py``).

A schema is a list of steps; step n brings version n - 1 to n.  A step is appended, never edited:
a database written by any earlier version is brought forward step by step on open, each step in
one transaction with its version number (SQLite: ``PRAGMA user_version``; PostgreSQL: a
``schema_version`` row).  The runner is written once, as a generator of what it needs done
(``migration``, run by ``run_migration`` with a database's answers): SQLite's here
(``migrate_sqlite``), PostgreSQL's in ``fleet/ledger/pgdb.py``.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

from .thread import run_now

log = logging.getLogger(__name__)

# The device store's steps (SQLite).
MIGRATIONS: list[str] = [
    # 1: device settings, inventory, push outbox
    """
    CREATE TABLE setting (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE port (
        port        INTEGER PRIMARY KEY,
        active_slot INTEGER NOT NULL,
        led         INTEGER NOT NULL DEFAULT 1,
        signal      INTEGER
    );
    CREATE TABLE slot (
        port        INTEGER NOT NULL,
        slot        INTEGER NOT NULL,
        present     INTEGER NOT NULL,
        iccid       TEXT NOT NULL DEFAULT '',
        imsi        TEXT NOT NULL DEFAULT '',
        number      TEXT NOT NULL DEFAULT '',
        operator    TEXT NOT NULL DEFAULT '',
        balance     REAL NOT NULL DEFAULT 0,
        imei        TEXT NOT NULL DEFAULT '',
        locked      INTEGER NOT NULL DEFAULT 0,
        reg_outcome INTEGER,
        seq         INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (port, slot)
    );
    CREATE TABLE outbox (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        dest         TEXT NOT NULL,
        kind         TEXT NOT NULL,
        content_type TEXT NOT NULL,
        headers      TEXT NOT NULL DEFAULT '{}',
        body         BLOB NOT NULL,
        created      REAL NOT NULL,
        attempts     INTEGER NOT NULL DEFAULT 0,
        next_at      REAL NOT NULL DEFAULT 0,
        last_error   TEXT
    );
    CREATE INDEX outbox_by_dest ON outbox(dest, id);
    """,
    # 2: send tasks. Recipients are kept in chunks; a job row is written before
    # an SMS is handed to a module (never sent twice) and completed after.
    """
    CREATE TABLE task (
        id           INTEGER PRIMARY KEY,
        tid          INTEGER NOT NULL,
        spec         BLOB NOT NULL,
        n            INTEGER NOT NULL,
        request      BLOB NOT NULL,
        state        INTEGER NOT NULL DEFAULT 0,
        reported_seq INTEGER NOT NULL DEFAULT 0,
        created      REAL NOT NULL
    );
    CREATE INDEX task_by_state ON task(state);
    CREATE TABLE task_chunk (
        task_id INTEGER NOT NULL,
        chunk   INTEGER NOT NULL,
        numbers TEXT NOT NULL,
        PRIMARY KEY (task_id, chunk)
    ) WITHOUT ROWID;
    CREATE TABLE job (
        task_id  INTEGER NOT NULL,
        lane     INTEGER NOT NULL,
        idx      INTEGER NOT NULL,
        number   TEXT NOT NULL,
        port     TEXT NOT NULL,
        state    INTEGER NOT NULL,
        ts       INTEGER NOT NULL,
        reason   TEXT NOT NULL DEFAULT '',
        carrier  TEXT NOT NULL DEFAULT '',
        done_seq INTEGER,
        PRIMARY KEY (task_id, lane, idx)
    ) WITHOUT ROWID;
    CREATE INDEX job_in_flight ON job(state) WHERE state = 1;
    ALTER TABLE slot ADD COLUMN price REAL NOT NULL DEFAULT 0;
    """,
    # 3: the inbox (SMS and delivery reports, ids never reused), parts of
    # concatenated SMS waiting for the rest, and received counters per minute.
    """
    CREATE TABLE inbox (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        flag       INTEGER NOT NULL,
        port       TEXT NOT NULL,
        ts         INTEGER NOT NULL,
        sender     TEXT NOT NULL,
        recipient  TEXT NOT NULL,
        content    TEXT NOT NULL,
        incomplete TEXT NOT NULL DEFAULT '',
        pushed     INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX inbox_unpushed ON inbox(id) WHERE pushed = 0;
    CREATE TABLE inbox_part (
        port     TEXT NOT NULL,
        sender   TEXT NOT NULL,
        ref      INTEGER NOT NULL,
        total    INTEGER NOT NULL,
        seq      INTEGER NOT NULL,
        text     TEXT NOT NULL,
        ts       REAL NOT NULL,
        PRIMARY KEY (port, sender, ref, seq)
    ) WITHOUT ROWID;
    CREATE TABLE sms_stat (
        port     INTEGER NOT NULL,
        slot     INTEGER NOT NULL,
        minute   INTEGER NOT NULL,
        received INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (port, slot, minute)
    ) WITHOUT ROWID;
    """,
    # 4: statistics (SMS outcomes and calls per slot and minute, plus running
    # totals so a cumulative query does not sum history) and eSIM profiles.
    """
    ALTER TABLE sms_stat ADD COLUMN sent_ok INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sms_stat ADD COLUMN sent_failed INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE sms_total (
        port        INTEGER NOT NULL,
        slot        INTEGER NOT NULL,
        received    INTEGER NOT NULL DEFAULT 0,
        sent_ok     INTEGER NOT NULL DEFAULT 0,
        sent_failed INTEGER NOT NULL DEFAULT 0,
        con_failed  INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (port, slot)
    ) WITHOUT ROWID;
    INSERT INTO sms_total(port, slot, received)
        SELECT port, slot, SUM(received) FROM sms_stat GROUP BY port, slot;
    CREATE TABLE call_stat (
        port      INTEGER NOT NULL,
        slot      INTEGER NOT NULL,
        minute    INTEGER NOT NULL,
        calls     INTEGER NOT NULL DEFAULT 0,
        alerted   INTEGER NOT NULL DEFAULT 0,
        connected INTEGER NOT NULL DEFAULT 0,
        failed    INTEGER NOT NULL DEFAULT 0,
        pdd_sum   REAL NOT NULL DEFAULT 0,
        duration  INTEGER NOT NULL DEFAULT 0,
        billed    INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (port, slot, minute)
    ) WITHOUT ROWID;
    CREATE TABLE call_total (
        port      INTEGER NOT NULL,
        slot      INTEGER NOT NULL,
        calls     INTEGER NOT NULL DEFAULT 0,
        alerted   INTEGER NOT NULL DEFAULT 0,
        connected INTEGER NOT NULL DEFAULT 0,
        failed    INTEGER NOT NULL DEFAULT 0,
        pdd_sum   REAL NOT NULL DEFAULT 0,
        duration  INTEGER NOT NULL DEFAULT 0,
        billed    INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (port, slot)
    ) WITHOUT ROWID;
    ALTER TABLE slot ADD COLUMN esim INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE slot ADD COLUMN esim_ac TEXT NOT NULL DEFAULT '';
    ALTER TABLE slot ADD COLUMN esim_cc TEXT NOT NULL DEFAULT '';
    ALTER TABLE slot ADD COLUMN esim_provider TEXT NOT NULL DEFAULT '';
    """,
    # 5: what only a driver knows (the simulator's forced outcomes, prices, fixed signals) leaves the
    # device's records for a table of its own; slot.reg_outcome, slot.price and port.signal are no longer read.
    """
    CREATE TABLE driver_state (
        driver TEXT NOT NULL,
        key    TEXT NOT NULL,
        value  TEXT NOT NULL,
        PRIMARY KEY (driver, key)
    ) WITHOUT ROWID;
    INSERT INTO driver_state(driver, key, value)
        SELECT 'simulated', 'outcome:' || port || '.' || slot, CAST(reg_outcome AS TEXT)
        FROM slot WHERE reg_outcome IS NOT NULL;
    INSERT INTO driver_state(driver, key, value)
        SELECT 'simulated', 'price:' || port || '.' || slot, CAST(price AS TEXT) FROM slot WHERE price != 0;
    INSERT INTO driver_state(driver, key, value)
        SELECT 'simulated', 'signal:' || port, CAST(signal AS TEXT) FROM port WHERE signal IS NOT NULL;
    """,
    # 6: dead-letter pushes: what failed for longer than the retry window, kept
    # (with its original id, so a replay goes back in its old place) until replayed or dropped.
    """
    CREATE TABLE outbox_dead (
        id           INTEGER PRIMARY KEY,
        dest         TEXT NOT NULL,
        kind         TEXT NOT NULL,
        content_type TEXT NOT NULL,
        headers      TEXT NOT NULL DEFAULT '{}',
        body         BLOB NOT NULL,
        created      REAL NOT NULL,
        attempts     INTEGER NOT NULL DEFAULT 0,
        last_error   TEXT,
        died         REAL NOT NULL
    );
    CREATE INDEX outbox_dead_by_dest ON outbox_dead(dest, id);
    """,
    # 7: received messages kept as their raw PDU (one that cannot be decoded, or an outgoing message
    # found in a module's storage) before the module deletes them; and a balance nobody has read yet
    # (an AT module without a balance code), which is not 0.
    """
    CREATE TABLE inbox_raw (
        id     INTEGER PRIMARY KEY AUTOINCREMENT,
        port   TEXT NOT NULL,
        ts     INTEGER NOT NULL,
        pdu    TEXT NOT NULL,
        reason TEXT NOT NULL
    );
    CREATE INDEX inbox_raw_by_pdu ON inbox_raw(port, pdu);
    ALTER TABLE slot ADD COLUMN balance_known INTEGER NOT NULL DEFAULT 1;
    """,
]


Dialect = Literal["sqlite", "postgres"]


@dataclass(frozen=True)
class Step:
    """One version's change, per database; None where it has nothing to do there (the version
    still advances, so both databases keep one numbering)."""

    sqlite: str | None = None
    postgres: str | None = None

    def script(self, dialect: Dialect) -> str | None:
        return self.sqlite if dialect == "sqlite" else self.postgres


@dataclass(frozen=True)
class Schema:
    what: str  # for messages: "the data directory", "the fleet ledger", ...
    steps: tuple[Step, ...]

    @classmethod
    def of_sqlite(cls, what: str, scripts: Sequence[str]) -> Schema:
        return cls(what, tuple(Step(sqlite=s) for s in scripts))

    @property
    def version(self) -> int:
        return len(self.steps)


class NewerSchema(RuntimeError):
    pass


@dataclass(frozen=True)
class Ask:
    """What the runner needs done: ``begin`` a transaction that excludes other runners, read the
    ``version``, ``run`` a step's script, ``set`` the version, ``commit`` (or ``rollback`` what is in
    progress, after a failure)."""

    kind: Literal["begin", "version", "run", "set", "commit", "rollback"]
    arg: Any = None


def migration(schema: Schema, dialect: Dialect) -> Generator[Ask, Any, int]:
    """The steps a database of ``schema`` still needs, each in its own transaction; the version reached.

    The version is read again in each transaction, so runners starting at once (replicas on one
    PostgreSQL) take turns and none runs a step twice."""
    while True:
        yield Ask("begin")
        current = yield Ask("version")
        if current > schema.version:
            raise NewerSchema(
                f"{schema.what} was written by a newer ejoin (schema {current}, this one knows {schema.version})"
            )
        if current == schema.version:
            yield Ask("commit")
            return current
        script = schema.steps[current].script(dialect)
        if script:
            yield Ask("run", script)
        yield Ask("set", current + 1)
        yield Ask("commit")
        log.info("%s migrated to schema %d", schema.what, current + 1)


def statements(script: str) -> list[str]:
    """A script's statements, cut where SQLite says one is complete (a ``;`` in a string, a comment
    or a trigger's body does not end one)."""
    out, pending = [], ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \t\r\n;"):
                out.append(pending)
            pending = ""
    if pending.strip(" \t\r\n;"):
        raise ValueError(f"an incomplete statement ends the script: {pending.strip()[:80]!r}")
    return out


async def run_migration(schema: Schema, dialect: Dialect, answer: Callable[[Ask], Awaitable[Any]]) -> int:
    """``migration``'s asks answered by a database (``answer``); on any failure the transaction in
    progress is rolled back (``Ask("rollback")``) and the failure raised."""
    program = migration(schema, dialect)
    reply: Any = None
    try:
        while True:
            try:
                ask = program.send(reply)
            except StopIteration as done:
                return int(done.value)
            reply = await answer(ask)
    except BaseException:
        await answer(Ask("rollback"))
        raise


def migrate_sqlite(conn: sqlite3.Connection, schema: Schema) -> int:
    """Bring a SQLite database (opened with ``isolation_level=None``) to the newest version of ``schema``."""
    return run_now(run_migration(schema, "sqlite", partial(_sqlite_answer, conn)))


async def _sqlite_answer(conn: sqlite3.Connection, ask: Ask) -> Any:
    """Never waits (``run_now``): it runs where the connection lives."""
    if ask.kind == "begin":
        conn.execute("BEGIN IMMEDIATE")  # one runner at a time, as the advisory lock on PostgreSQL
    elif ask.kind == "version":
        return conn.execute("PRAGMA user_version").fetchone()[0]
    elif ask.kind == "run":
        for statement in statements(ask.arg):
            conn.execute(statement)
    elif ask.kind == "set":
        conn.execute(f"PRAGMA user_version = {int(ask.arg)}")
    elif ask.kind == "commit":
        conn.execute("COMMIT")
    elif conn.in_transaction:
        conn.execute("ROLLBACK")
    return None


DEVICE = Schema.of_sqlite("the data directory", MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the device store to the newest version; returns that version."""
    return migrate_sqlite(conn, DEVICE)
