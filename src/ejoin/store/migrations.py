"""Schema migrations, numbered by ``PRAGMA user_version``.

A migration is appended, never edited: a data directory written by any earlier
version is brought forward step by step on open.
"""

from __future__ import annotations

import sqlite3

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


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to the newest version; returns that version."""
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    if current > len(MIGRATIONS):
        raise RuntimeError(
            f"the data directory was written by a newer ejoin (schema {current}, this one knows {len(MIGRATIONS)})"
        )
    for version in range(current + 1, len(MIGRATIONS) + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[version - 1].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        except Exception:
            conn.execute("ROLLBACK")
            raise
    return len(MIGRATIONS)
