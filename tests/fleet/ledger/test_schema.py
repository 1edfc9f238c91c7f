"""The ledger's schema: one list of steps for SQLite and PostgreSQL, one runner.  A ledger written at
any version either database was ever at opens with its data usable and its ids going on; both reach
the same tables."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from ejoin.fleet.ledger import DispatchState, Ledger, SqliteLedger, Unit, UnitState
from ejoin.fleet.ledger.operations import BUSY_SQL
from ejoin.fleet.ledger.schema import LEDGER
from ejoin.store.migrations import Schema, migrate_sqlite

RULES = {"sr_url": "http://platform/r", "sr_cnt": 10, "sr_prd": 0, "sdr": True, "fdr": True}
ROW = [0, "1.01", 1700000001, "139", "", "eA=="]
MEMBER = {"name": "a", "url": "http://a", "ports": "1-4"}
# What each database reached before the two histories became one (PostgreSQL's 6th step is empty).
SQLITE_VERSIONS = [1, 2, 3, 4, 5, 6]
POSTGRES_VERSIONS = [1, 2, 3, 4, 5]


def up_to(version: int) -> Schema:
    return Schema(LEDGER.what, LEDGER.steps[:version])


def has(dialect: str, version: int, what: str) -> bool:
    """Whether a ledger at ``version`` has ``what`` (the step that brought it, per database)."""
    since = {"members": (2, 2), "fp": (3, 2), "finished_at": (5, 4), "sent_late": (6, 5)}[what]
    return version >= since[0 if dialect == "sqlite" else 1]


def fill(execute: Any, dialect: str, version: int) -> None:
    """One open task (tid 7: a unit sent, one in a dispatch posted to member a, one pending), one
    finished (tid 8), an SMS pulled from member a, and the member itself: what a ledger of that
    version could hold.  ``execute(sql, values)`` returns the rows it read."""
    p = "?" if dialect == "sqlite" else "%s"

    def insert(table: str, values: dict[str, Any]) -> int:
        names = ", ".join(values)
        marks = ", ".join([p] * len(values))
        # units have an id of their own since version 7 on SQLite (a rowid before), members never had
        returning = table == "units" and dialect == "sqlite" or table == "members"
        rows = execute(f"INSERT INTO {table} ({names}) VALUES ({marks}){'' if returning else ' RETURNING id'}", values)
        return 0 if returning else int(rows[0][0])

    task = {"sr_url": "", "sr_cnt": 1, "sr_prd": 0, "sdr": 0, "fdr": 0, "task": "{}"}
    open_id = insert("tasks", {"tid_echo": "7", **task})
    done = {"tid_echo": "8", **task, "finished": 1}
    if has(dialect, version, "finished_at"):
        done["finished_at"] = 1.0
    insert("tasks", done)
    dispatch = insert(
        "dispatches",
        {"task_id": open_id, "no": 1, "member": "a", "member_tid": open_id * 100000 + 1, "state": 1, "sending": 1},
    )
    unit = {"task_id": open_id, "number": "1380000", "port": None}
    sent = [0, "1380000", "1.01", 1700000000]
    insert(
        "units",
        {**unit, "idx": 0, "state": 2, "dispatch_id": dispatch, "sub_idx": 0, "via": "1.01"}
        | {"row": json.dumps(sent), "done_seq": 1},
    )
    insert("units", {**unit, "idx": 1, "state": 1, "dispatch_id": dispatch, "sub_idx": 1, "via": "1.01"})
    insert("units", {**unit, "idx": 2})
    if dialect == "postgres":
        execute("SELECT setval('units_done_seq', 1)", {})  # as the sequence numbered the one done
    sms = {"member": "a", "ssrc": "s", "member_id": 1, "row": json.dumps(ROW)}
    if has(dialect, version, "fp"):
        sms |= {"fp": json.dumps(ROW), "forwarded": 1}
    insert("inbox", sms)
    if has(dialect, version, "members"):
        insert("members", {"name": "a", "settings": json.dumps(MEMBER)})


async def check(ledger: Ledger, dialect: str, version: int) -> None:
    """The data is there, each operation reads and writes it, and the ids go on."""
    [task] = await ledger.open_tasks()
    assert task.tid_echo == 7 and task.hold == 0
    assert await ledger.find([8]) == [(8, None)]  # finished: its tid is free
    assert await ledger.pending(task.id) == [Unit(2, "1380000", None)]
    counts = await ledger.counts(task.id)
    assert (counts.total, counts.sent, counts.failed, counts.sending) == (3, 1, 0, 1)
    dispatch = await ledger.dispatch_of("a", task.id * 100000 + 1)
    assert dispatch is not None and dispatch[1] == task.id
    late = [1, "1380000", "1.01", 1700000002]
    fresh, counts = await ledger.apply(dispatch[0], task.id, [(1, "1.01", UnitState.SENT, late)], 0)
    assert fresh == [late] and counts.sent == 2
    done = await ledger.unreported(task.id)
    assert [row[0] for _, row in done] == [0, 1] and done[0][0] < done[1][0]  # done numbers go on
    new_dispatch, _ = await ledger.record_dispatch(task.id, "a", [(Unit(2, "1380000", None), "2.01", 0)])
    assert new_dispatch > dispatch[0]
    await ledger.dispatch_done(new_dispatch, DispatchState.POSTED)
    assert await ledger.busy() == {"2.01": 1}
    rows, next_id = await ledger.inbox_page(1, 0, False)
    assert rows == [ROW] and next_id == 2
    assert await ledger.inbox_pushed("a", [ROW]) == []  # the SMS pulled before the upgrade, pushed now
    assert [i for i, _ in await ledger.inbox_pushed("a", [[*ROW[:2], 1700000009, *ROW[3:]]])] == [2]
    assert await ledger.seed_members([]) == ([MEMBER] if has(dialect, version, "members") else [])
    assert await ledger.prune(2e9, 100, False) == (1, 0)  # the finished task goes
    (new_task,) = await ledger.add_tasks([(9, {"tid": 9}, RULES, [Unit(0, "1390000", None)])])
    assert new_task == 3  # an id never given before, though the highest one was pruned


@pytest.mark.parametrize("version", SQLITE_VERSIONS)
async def test_a_sqlite_ledger_of_every_version_opens_with_its_data(tmp_path: Path, version: int) -> None:
    path = tmp_path / "fleet.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    migrate_sqlite(db, up_to(version))
    fill(lambda sql, values: db.execute(sql, tuple(values.values())).fetchall(), "sqlite", version)
    db.close()
    ledger = SqliteLedger(path)
    await ledger.open()
    try:
        await check(ledger, "sqlite", version)
    finally:
        await ledger.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == LEDGER.version
    finished = dict(db.execute("SELECT tid_echo, finished_at FROM tasks"))
    assert finished == {"7": None, "9": None}
    plan = " ".join(str(r) for r in db.execute(f"EXPLAIN QUERY PLAN {BUSY_SQL}"))
    assert "units_busy" in plan  # the units in flight only, not every unit the ledger ever held


async def test_a_sqlite_ledger_finished_before_finish_times_were_kept_counts_from_the_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "fleet.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    migrate_sqlite(db, up_to(4))
    fill(lambda sql, values: db.execute(sql, tuple(values.values())).fetchall(), "sqlite", 4)
    db.close()
    ledger = SqliteLedger(path)
    await ledger.open()
    try:
        assert await ledger.prune(1e9, 100, False) == (0, 0)  # finished "now", at the upgrade
    finally:
        await ledger.close()
    assert sqlite3.connect(path).execute("SELECT finished_at FROM tasks WHERE finished=1").fetchone()[0] > 1.7e9


@pytest.mark.parametrize("version", POSTGRES_VERSIONS)
async def test_a_postgresql_ledger_of_every_version_opens_with_its_data(pg_url: str, version: int) -> None:
    import psycopg

    from ejoin.fleet.ledger.pgdb import PgDatabase, migrate_postgres
    from ejoin.fleet.ledger.postgres import PgLedger

    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        await migrate_postgres(conn, up_to(version))
    with psycopg.connect(pg_url, autocommit=True) as sync:

        def execute(sql: str, values: dict[str, Any]) -> list[Any]:
            cur = sync.execute(sql, tuple(values.values()))
            return cur.fetchall() if "RETURNING" in sql else []

        fill(execute, "postgres", version)
    ledger = PgLedger(PgDatabase(pg_url))
    await ledger.open()
    try:
        await check(ledger, "postgres", version)
    finally:
        await ledger.close()
    with psycopg.connect(pg_url) as sync:
        assert sync.execute("SELECT version FROM schema_version").fetchone() == (LEDGER.version,)


def _columns_sqlite(path: Path) -> dict[str, list[str]]:
    db = sqlite3.connect(path)
    tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'") if t != "sqlite_sequence"]
    return {t: [c[1] for c in db.execute(f"PRAGMA table_info({t})")] for t in tables}


async def test_both_databases_reach_the_same_tables(tmp_path: Path, pg_url: str) -> None:
    import psycopg

    from ejoin.fleet.ledger.pgdb import PgDatabase

    ledger = SqliteLedger(tmp_path / "fleet.sqlite3")
    await ledger.open()
    await ledger.close()
    on_sqlite = _columns_sqlite(tmp_path / "fleet.sqlite3")
    db = PgDatabase(pg_url)
    await db.open()
    await db.close()
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema='public' "
            "ORDER BY table_name, ordinal_position"
        ).fetchall()
    on_postgres: dict[str, list[str]] = {}
    for table, column in rows:
        on_postgres.setdefault(table, []).append(column)
    # PostgreSQL only: the outbox to the platform and the replicas' leases (SQLite: one process, its
    # outbox a device store of its own), and the version row (SQLite: PRAGMA user_version)
    only_postgres = {"outbox", "outbox_dead", "push_leases", "roles", "port_status", "schema_version"}
    assert set(on_postgres) - set(on_sqlite) == only_postgres
    assert {t: c for t, c in on_postgres.items() if t not in only_postgres} == on_sqlite


async def test_a_ledger_it_cannot_use_is_said_in_one_line(tmp_path: Path) -> None:
    from ejoin.store.opening import StoreOpenError

    (tmp_path / "file").write_text("")
    with pytest.raises(StoreOpenError, match="cannot use .*file.* a file is in the way"):
        await SqliteLedger(tmp_path / "file" / "fleet.sqlite3").open()
    newer = tmp_path / "newer.sqlite3"
    sqlite3.connect(newer).execute(f"PRAGMA user_version = {LEDGER.version + 1}")
    with pytest.raises(
        StoreOpenError, match=rf"the fleet ledger was written by a newer ejoin \(schema {LEDGER.version + 1}"
    ):
        await SqliteLedger(newer).open()
