"""The SMPP server's own record: messages, their parts, and what waits for a deliver_sm_resp.

A SQLite file (``smpp.sqlite3`` beside the device's store) in WAL, run as ejoin runs SQLite
(``store/thread.py``, ``DatabaseThread``: one thread, group commit — writes queued while a
transaction commits go together into the next one, so a thousand submit_sm a second cost tens of
commits, not a thousand) and brought to its newest schema by the one migration runner
(``store/migrations.py``).

- ``sms``: one SMS the device sends (a task of one recipient, tid ``TID_BASE + id``), with what
  its receipts need; ``stage`` goes parts waiting -> new (being handed to the device) -> en route
  (the device holds it) -> final (``outcome``, ``err``, ``done``).
- ``part``: one submit_sm (its id is the ``message_id`` answered); several for a joined long SMS.
- ``outq``: deliver_sm waiting for their deliver_sm_resp (receipts for an account, received SMS
  for any receiver), encoded with sequence 0.
- ``meta``: the cursor over the device's inbox (the next id to read).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from ..protocol.smpp import MessageState
from ..protocol.smpp_sm import RECEIPT_ALWAYS, RECEIPT_ON_FAILURE, Submission, receipt_pdu
from ..store.migrations import Schema, migrate_sqlite
from ..store.opening import StoreOpenError, describe_failure, prepare_directory
from ..store.thread import DatabaseThread

log = logging.getLogger(__name__)
T = TypeVar("T")

TID_BASE = 9_100_000_000_000_000_000  # device tids of SMPP messages: TID_BASE + sms id
WAITING, NEW, ENROUTE, FINAL = 0, 1, 2, 3

# The steps of the schema (store/migrations.py): appended, never edited.
SCHEMA = Schema.of_sqlite(
    "the SMPP store",
    [
        # 1: messages, their parts, deliver_sm waiting for their response, the inbox cursor
        """
CREATE TABLE IF NOT EXISTS sms (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL,
    source TEXT NOT NULL,
    dest TEXT NOT NULL,
    text TEXT NOT NULL,
    ucs2 INTEGER NOT NULL,
    ref INTEGER,
    total INTEGER,
    stage INTEGER NOT NULL,
    submitted REAL NOT NULL,
    outcome INTEGER,
    err INTEGER,
    done REAL
);
CREATE INDEX IF NOT EXISTS sms_waiting ON sms(account, source, dest, ref, total) WHERE stage = 0;
CREATE INDEX IF NOT EXISTS sms_stage ON sms(stage, submitted);
CREATE TABLE IF NOT EXISTS part (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sms INTEGER NOT NULL REFERENCES sms(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    text TEXT NOT NULL,
    receipt INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS part_sms ON part(sms);
CREATE TABLE IF NOT EXISTS outq (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL,
    pdu BLOB NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
    ],
)


@dataclass(frozen=True, slots=True)
class Queued:
    """A deliver_sm waiting for its response: for ``account``'s receivers, or ("") any receiver."""

    id: int
    account: str
    pdu: bytes


@dataclass(frozen=True, slots=True)
class Taken:
    """A submit_sm recorded: its message id, its SMS, and the SMS's text once every part is in."""

    message_id: int
    sms: int
    ready: SmsToSend | None


@dataclass(frozen=True, slots=True)
class SmsToSend:
    sms: int
    destination: str
    text: str
    ucs2: bool

    @property
    def tid(self) -> int:
        return TID_BASE + self.sms


@dataclass(frozen=True, slots=True)
class Status:
    """What query_sm answers of a message."""

    state: int  # WAITING .. FINAL
    outcome: MessageState | None
    err: int
    done: float
    sms: int


class SmppStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._thread = DatabaseThread("ejoin-smpp-db", self._connect)

    async def open(self) -> None:
        """Open (and migrate) the file; ``StoreOpenError`` with one plain line if it cannot be."""
        try:
            await self._thread.start()
        except Exception as exc:
            raise StoreOpenError(describe_failure(exc, self.path)) from None

    async def close(self) -> None:
        await self._thread.stop()

    async def quiesce(self) -> bool:
        """Wait for the work queued so far (a virtual clock moves only once it is done)."""
        return await self._thread.quiesce()

    def _connect(self) -> sqlite3.Connection:
        prepare_directory(self.path)
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL: a commit survives kill -9
            conn.execute("PRAGMA foreign_keys=ON")
            migrate_sqlite(conn, SCHEMA)
        except BaseException:
            conn.close()
            raise
        return conn

    def _run(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        return self._thread.submit(fn)

    # --- submissions ---------------------------------------------------------------------

    def take(
        self,
        items: list[tuple[str, Submission]],
        now: float,
        enroute: Sequence[int] = (),
    ) -> asyncio.Future[list[Taken]]:
        """Record submit_sm of (account, submission) (one transaction); a long SMS's parts are joined
        when the last comes.  ``enroute``: SMS the device took since, marked in the same transaction."""

        def run(db: sqlite3.Connection) -> list[Taken]:
            if enroute:
                _mark_enroute(db, enroute)
            out = []
            for account, sub in items:
                c = sub.concat
                sms_id = None
                if c is not None:
                    row = db.execute(
                        f"SELECT id FROM sms WHERE stage={WAITING} AND account=? AND source=? AND dest=? "
                        "AND ref=? AND total=?",
                        (account, sub.source, sub.destination, c.ref, c.total),
                    ).fetchone()
                    sms_id = row[0] if row else None
                if sms_id is None:
                    sms_id = db.execute(
                        "INSERT INTO sms(account, source, dest, text, ucs2, ref, total, stage, submitted) "
                        "VALUES (?,?,?,?,?,?,?,?,?)",
                        (
                            account,
                            sub.source,
                            sub.destination,
                            sub.text if c is None else "",
                            int(sub.ucs2),
                            None if c is None else c.ref,
                            None if c is None else c.total,
                            NEW if c is None else WAITING,
                            now,
                        ),
                    ).lastrowid
                else:
                    db.execute("UPDATE sms SET ucs2 = ucs2 | ? WHERE id=?", (int(sub.ucs2), sms_id))
                message_id = db.execute(
                    "INSERT INTO part(sms, seq, text, receipt) VALUES (?,?,?,?)",
                    (sms_id, 1 if c is None else c.seq, sub.text, sub.receipt),
                ).lastrowid
                assert sms_id is not None and message_id is not None
                ready = None
                if c is None:
                    ready = SmsToSend(sms_id, sub.destination, sub.text, sub.ucs2)
                else:
                    texts = dict(db.execute("SELECT seq, text FROM part WHERE sms=? ORDER BY id", (sms_id,)))
                    if len(texts) >= c.total:
                        text = "".join(texts[s] for s in sorted(texts))
                        ucs2 = bool(db.execute("SELECT ucs2 FROM sms WHERE id=?", (sms_id,)).fetchone()[0])
                        db.execute("UPDATE sms SET stage=?, text=? WHERE id=?", (NEW, text, sms_id))
                        ready = SmsToSend(sms_id, sub.destination, text, ucs2)
                out.append(Taken(message_id, sms_id, ready))
            return out

        return self._run(run)

    def accepted(self, sms_ids: list[int]) -> asyncio.Future[None]:
        """The device holds these: en route (not awaited: a restart asks the device again)."""
        return self._run(lambda db: _mark_enroute(db, sms_ids))

    def refused(self, sms_id: int, err: int, now: float) -> asyncio.Future[list[Queued]]:
        """The device refused an SMS: forgotten if its only part was never acknowledged, else rejected
        (with receipts for its parts that were)."""

        def run(db: sqlite3.Connection) -> list[Queued]:
            parts = db.execute("SELECT COUNT(*) FROM part WHERE sms=?", (sms_id,)).fetchone()[0]
            if parts <= 1:
                db.execute("DELETE FROM sms WHERE id=?", (sms_id,))
                return []
            return _finish(db, sms_id, MessageState.REJECTED, err, now, skip_last=True)

        return self._run(run)

    def unsent(self) -> asyncio.Future[list[tuple[SmsToSend, int]]]:
        """SMS recorded as new (being handed to the device at a stop): each with its number of parts."""

        def run(db: sqlite3.Connection) -> list[tuple[SmsToSend, int]]:
            rows = db.execute(
                "SELECT s.id, s.dest, s.text, s.ucs2, (SELECT COUNT(*) FROM part p WHERE p.sms = s.id) "
                f"FROM sms s WHERE s.stage={NEW} ORDER BY s.id"
            ).fetchall()
            return [(SmsToSend(r[0], r[1], r[2], bool(r[3])), r[4]) for r in rows]

        return self._run(run)

    # --- outcomes ------------------------------------------------------------------------

    def outcomes(self, done: list[tuple[int, MessageState, int, float]]) -> asyncio.Future[list[Queued]]:
        """Final outcomes of SMS (sms id, state, err, when): the receipts they make, queued.  An outcome
        heard again changes nothing; only an UNKNOWN one may be proven delivered after all."""

        def run(db: sqlite3.Connection) -> list[Queued]:
            out: list[Queued] = []
            for sms_id, state, err, at in done:
                row = db.execute("SELECT stage, outcome FROM sms WHERE id=?", (sms_id,)).fetchone()
                if row is None or row[0] == WAITING:
                    continue
                if row[0] == FINAL and not (row[1] == MessageState.UNKNOWN and state == MessageState.DELIVERED):
                    continue
                out += _finish(db, sms_id, state, err, at)
            return out

        return self._run(run)

    def expire(self, before: float, err: int, now: float) -> asyncio.Future[list[Queued]]:
        """Long SMS whose parts did not all come by ``before``: rejected."""

        def run(db: sqlite3.Connection) -> list[Queued]:
            out: list[Queued] = []
            for (sms_id,) in db.execute(
                f"SELECT id FROM sms WHERE stage={WAITING} AND submitted < ?", (before,)
            ).fetchall():
                out += _finish(db, sms_id, MessageState.REJECTED, err, now)
            return out

        return self._run(run)

    def status(self, account: str, message_id: int) -> asyncio.Future[Status | None]:
        def run(db: sqlite3.Connection) -> Status | None:
            row = db.execute(
                "SELECT s.stage, s.outcome, s.err, s.done, s.id FROM part p JOIN sms s ON s.id = p.sms "
                "WHERE p.id=? AND s.account=?",
                (message_id, account),
            ).fetchone()
            if row is None:
                return None
            return Status(row[0], None if row[1] is None else MessageState(row[1]), row[2] or 0, row[3] or 0.0, row[4])

        return self._run(run)

    def prune(self, before: float) -> asyncio.Future[int]:
        return self._run(lambda db: db.execute(f"DELETE FROM sms WHERE stage={FINAL} AND done < ?", (before,)).rowcount)

    # --- what waits for a deliver_sm_resp ----------------------------------------------------

    def queued(self) -> asyncio.Future[list[Queued]]:
        return self._run(lambda db: [Queued(*r) for r in db.execute("SELECT id, account, pdu FROM outq ORDER BY id")])

    def delivered(self, ids: list[int]) -> asyncio.Future[None]:
        return self._run(lambda db: _many(db, "DELETE FROM outq WHERE id=?", ids))

    def received(self, pdus: list[bytes], cursor: int, now: float) -> asyncio.Future[list[Queued]]:
        """SMS read from the device's inbox, queued for any receiver, with the cursor past them."""

        def run(db: sqlite3.Connection) -> list[Queued]:
            out = [_queue(db, "", pdu, now) for pdu in pdus]
            db.execute(
                "INSERT INTO meta(key, value) VALUES ('inbox', ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (cursor,),
            )
            return out

        return self._run(run)

    def cursor(self) -> asyncio.Future[int | None]:
        def run(db: sqlite3.Connection) -> int | None:
            row = db.execute("SELECT value FROM meta WHERE key='inbox'").fetchone()
            return None if row is None else int(row[0])

        return self._run(run)


def _mark_enroute(db: sqlite3.Connection, sms_ids: Iterable[int]) -> None:
    _many(db, f"UPDATE sms SET stage={ENROUTE} WHERE id=? AND stage={NEW}", sms_ids)


def _many(db: sqlite3.Connection, sql: str, ids: Iterable[int]) -> None:
    db.executemany(sql, [(i,) for i in ids])


def _queue(db: sqlite3.Connection, account: str, pdu: bytes, now: float) -> Queued:
    cur = db.execute("INSERT INTO outq(account, pdu, created) VALUES (?,?,?)", (account, pdu, now))
    assert cur.lastrowid is not None
    return Queued(cur.lastrowid, account, pdu)


def _finish(
    db: sqlite3.Connection, sms_id: int, state: MessageState, err: int, at: float, skip_last: bool = False
) -> list[Queued]:
    db.execute("UPDATE sms SET stage=?, outcome=?, err=?, done=? WHERE id=?", (FINAL, int(state), err, at, sms_id))
    account, source, dest, submitted = db.execute(
        "SELECT account, source, dest, submitted FROM sms WHERE id=?", (sms_id,)
    ).fetchone()
    parts = db.execute("SELECT id, text, receipt FROM part WHERE sms=? ORDER BY id", (sms_id,)).fetchall()
    if skip_last:
        parts = parts[:-1]
    out = []
    failed = state != MessageState.DELIVERED
    for message_id, text, receipt in parts:
        if receipt == RECEIPT_ALWAYS or (receipt == RECEIPT_ON_FAILURE and failed):
            pdu = receipt_pdu(str(message_id), source, dest, submitted, at, state, err, text).encode()
            out.append(_queue(db, account, pdu, at))
    return out
