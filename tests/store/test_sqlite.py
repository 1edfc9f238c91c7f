import asyncio
import logging
import sqlite3

import pytest

from ejoin.store.base import PortRecord, RawRecord, SlotRecord
from ejoin.store.migrations import MIGRATIONS
from ejoin.store.opening import StoreOpenError
from ejoin.store.sqlite import SQLiteStore


@pytest.fixture
async def store(tmp_path):
    s = SQLiteStore(tmp_path / "db.sqlite3")
    await s.open()
    yield s
    await s.close()


async def test_schema_is_migrated_and_wal(tmp_path, store):
    conn = sqlite3.connect(tmp_path / "db.sqlite3")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_reopen_keeps_everything(tmp_path):
    path = tmp_path / "db.sqlite3"
    s = SQLiteStore(path)
    await s.open()
    await s.save_settings({"sms_url": "http://x/", "status_period": 90})
    await s.save_slot(SlotRecord(port=1, slot=2, present=True, iccid="8986", balance=1.5, locked=True, seq=4))
    await s.save_port(PortRecord(port=1, active_slot=2, led=False))
    await s.save_driver_state("simulated", "signal:1", 20)
    await s.save_driver_state("simulated", "price:1.2", 0.05)
    await s.save_driver_state("simulated", "price:1.2", None)  # forgotten
    await s.outbox_add("http://r/", "port-status", "application/json", b"{}", {"A": "b"}, 1.0)
    await s.close()
    s = SQLiteStore(path)
    await s.open()
    assert await s.load_settings() == {"sms_url": "http://x/", "status_period": 90}
    [slot] = await s.load_slots()
    assert (slot.iccid, slot.balance, slot.locked, slot.seq) == ("8986", 1.5, True, 4)
    assert await s.load_ports() == [PortRecord(port=1, active_slot=2, led=False)]
    assert await s.load_driver_state("simulated") == {"signal:1": 20}
    assert await s.load_driver_state("at") == {}
    [item] = await s.outbox_head("http://r/", 10)
    assert item.headers == {"A": "b"} and item.body == b"{}"
    await s.close()


async def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "db.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(StoreOpenError, match="newer ejoin"):
        await SQLiteStore(path).open()


async def test_outbox_is_fifo_per_destination(store):
    ids = [await store.outbox_add(d, "k", "ct", str(i).encode(), {}, 0.0) for i, d in enumerate("abab")]
    assert [i.body for i in await store.outbox_head("a", 10)] == [b"0", b"2"]
    await store.outbox_delete(ids[0])
    await store.outbox_retry(ids[2], 3, 99.0, "HTTP 500")
    [head] = await store.outbox_head("a", 10)
    assert (head.attempts, head.next_at) == (3, 99.0)
    assert sorted(await store.outbox_destinations()) == ["a", "b"]
    assert await store.outbox_count() == 3


async def test_writes_queued_together_share_a_transaction_but_fail_alone(store):
    # a task whose numbers SQLite cannot store: its task row is written, then its chunk fails
    half = store.tasks_add([(7, b"spec", 1, b"request", 0.0, [object()])])
    futs = [store.save_settings({"a": 1}), half, store.save_settings({"b": 2})]
    results = await asyncio.gather(*futs, return_exceptions=True)
    assert isinstance(results[1], sqlite3.Error)
    assert await store.load_settings() == {"a": 1, "b": 2}
    assert await store.tasks_open() == []  # the failed piece left nothing behind


async def test_many_concurrent_writes_all_land(store):
    await asyncio.gather(*[store.outbox_add("d", "k", "ct", b"x", {}, 0.0) for _ in range(2000)])
    assert await store.outbox_count() == 2000


async def test_simulator_fields_of_old_records_move_to_its_driver_state(tmp_path):
    path = tmp_path / "db.sqlite3"
    conn = sqlite3.connect(path)
    for version, script in enumerate(MIGRATIONS[:4], 1):
        conn.executescript(script)
        conn.execute(f"PRAGMA user_version = {version}")
    conn.execute("INSERT INTO slot(port, slot, present, reg_outcome, price) VALUES(1, 2, 1, 6, 0.05)")
    conn.execute("INSERT INTO slot(port, slot, present) VALUES(1, 1, 1)")
    conn.execute("INSERT INTO port(port, active_slot, signal) VALUES(3, 1, 8)")
    conn.commit()
    conn.close()
    s = SQLiteStore(path)
    await s.open()
    assert await s.load_driver_state("simulated") == {"outcome:1.2": 6, "price:1.2": 0.05, "signal:3": 8}
    assert len(await s.load_slots()) == 2
    await s.close()


async def test_a_failed_write_nobody_awaits_is_logged_by_the_store_once(tmp_path, caplog):
    from ..conftest import DiskFullStore

    store = DiskFullStore(tmp_path / "s.sqlite3")
    await store.open()
    try:
        store.full = True
        with caplog.at_level(logging.ERROR, logger="ejoin.store"):
            store.save_settings({"sms_url": "http://x/"})  # a state change: nobody waits for it
            with pytest.raises(sqlite3.OperationalError):
                await store.save_settings({"sms_url": "http://y/"})  # this one is awaited: the caller hears it
            await store.quiesce()
            for _ in range(3):
                await asyncio.sleep(0)
        logged = [r.getMessage() for r in caplog.records if "nobody was waiting" in r.getMessage()]
        assert logged == [
            "a store write (save_settings) failed and nobody was waiting for it: database or disk is full"
        ]
    finally:
        store.full = False
        await store.close()


async def test_raw_received_messages_are_kept_once_paged_dropped_and_pruned(store):
    first = await store.raw_add(RawRecord("1.01", 100, "0011AB", "the PDU ends inside the user data"))
    again = await store.raw_add(RawRecord("1.01", 160, "0011AB", "read again after a crash"))
    other = await store.raw_add(RawRecord("2.01", 170, "0011AB", "another slot's"))
    assert first == again == 1 and other == 2  # the same PDU from the same module is one message
    page, next_id = await store.raw_page(1, 1)
    assert [(r.id, r.port, r.ts, r.reason) for r in page] == [(1, "1.01", 100, "the PDU ends inside the user data")]
    assert next_id == 2 and (await store.raw_page(3, 10)) == ([], 3)
    assert await store.raw_drop([1, 9]) == 1
    await store.raw_add(RawRecord("1.01", 200, "07", "x"))
    await store.inbox_prune(1)  # beyond inbox_max the oldest raw ones go too
    assert [r.pdu for r in (await store.raw_page(1, 10))[0]] == ["07"]
    assert await store.raw_drop(None) == 1


async def test_a_balance_nobody_read_stays_unknown_and_old_records_keep_theirs(tmp_path):
    path = tmp_path / "db.sqlite3"
    conn = sqlite3.connect(path)
    for statement in ";".join(MIGRATIONS[:6]).split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("INSERT INTO slot(port, slot, present, balance) VALUES(1, 1, 1, 12.5)")
    conn.execute("PRAGMA user_version = 6")
    conn.commit()
    conn.close()
    s = SQLiteStore(path)
    await s.open()
    try:
        [old] = await s.load_slots()
        assert old.balance == 12.5  # schema 6 -> 7: a balance it had is kept
        await s.save_slot(SlotRecord(port=1, slot=2, present=True, balance=None))
        assert [r.balance for r in await s.load_slots()] == [12.5, None]
    finally:
        await s.close()
