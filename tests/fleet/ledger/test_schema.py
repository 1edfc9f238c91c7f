"""The ledger's migrations: a store of an earlier schema opens with its data and its inbox ids going on."""

from __future__ import annotations

import asyncio
import json
import sqlite3

from ejoin.fleet.ledger.store import BUSY_SQL, SCHEMA, SqliteLedger


def test_a_version_1_ledger_keeps_its_inbox_and_ids(tmp_path) -> None:
    path = tmp_path / "fleet.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(f"BEGIN; {SCHEMA[0]}; PRAGMA user_version=1; COMMIT;")
    for member_id in (1, 2, 3):
        row = [0, "1.01", 1700000000 + member_id, "139", "", "eA=="]
        db.execute(
            "INSERT INTO inbox (member, ssrc, member_id, row) VALUES ('a', 's', ?, ?)", (member_id, json.dumps(row))
        )
    db.execute("DELETE FROM inbox WHERE id=3")  # the platform deleted the last one
    db.close()

    async def check() -> None:
        ledger = SqliteLedger(path)
        await ledger.open()
        try:
            rows, next_id = await ledger.inbox_page(1, 0, False)
            assert [r[2] for r in rows] == [1700000001, 1700000002] and next_id == 3
            assert await ledger.inbox_unforwarded() == []  # what it held before is not pushed now
            # a push of an SMS the pull took before the upgrade is that SMS
            assert await ledger.inbox_pushed("a", [[0, "1.01", 1700000001, "139", "", "eA=="]]) == []
            new = await ledger.inbox_pushed("a", [[0, "1.01", 1700000009, "139", "", "eA=="]])
            assert [i for i, _ in new] == [4]  # the ids go on past the deleted one
            assert await ledger.seed_members([]) == []
        finally:
            await ledger.close()

    asyncio.run(check())
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == len(SCHEMA)


def test_a_version_4_ledger_gets_finish_times_and_reads_ports_loads_through_an_index(tmp_path) -> None:
    path = tmp_path / "fleet.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(f"BEGIN; {'; '.join(SCHEMA[:4])}; PRAGMA user_version=4; COMMIT;")
    db.execute(
        "INSERT INTO tasks (id, tid_echo, task, sr_url, sr_cnt, sr_prd, sdr, fdr, finished) "
        "VALUES (1, '1', '{}', '', 1, 0, 0, 0, 1), (2, '2', '{}', '', 1, 0, 0, 0, 0)"
    )
    db.close()

    async def upgrade() -> None:
        ledger = SqliteLedger(path)
        await ledger.open()
        await ledger.close()

    asyncio.run(upgrade())
    db = sqlite3.connect(path)
    finished = dict(db.execute("SELECT id, finished_at FROM tasks"))
    assert finished[2] is None and finished[1] > 1.7e9  # finished before the upgrade: counted from it
    plan = " ".join(str(r) for r in db.execute(f"EXPLAIN QUERY PLAN {BUSY_SQL}"))
    assert "units_busy" in plan  # the units in flight only, not every unit the ledger ever held
