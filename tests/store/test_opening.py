"""Store faults at start: one plain line naming the file and the cause; one writer per directory."""

from __future__ import annotations

import errno
import logging
import sqlite3

import pytest

from ejoin.store.opening import StoreOpenError, describe_failure
from ejoin.store.sqlite import SQLiteStore


async def _make_store(path) -> None:
    store = SQLiteStore(path)
    await store.open()
    await store.save_settings({"sms_url": "http://example.invalid/x"})
    for n in range(300):
        store.save_settings({f"k{n}": "v" * 200})
    await store.save_settings({})
    await store.close()


async def test_a_second_writer_is_refused_with_the_holder_named(tmp_path):
    path = tmp_path / "ejoin.sqlite3"
    first = SQLiteStore(path)
    await first.open()
    try:
        with pytest.raises(StoreOpenError, match=r"in use by another ejoin process \(pid \d+\)"):
            await SQLiteStore(path).open()
    finally:
        await first.close()
    second = SQLiteStore(path)  # the lock goes with the first store
    await second.open()
    await second.close()


async def test_corrupt_pages_are_named_in_one_line(tmp_path):
    path = tmp_path / "ejoin.sqlite3"
    await _make_store(path)
    raw = bytearray(path.read_bytes())
    page = 4096
    assert len(raw) >= 3 * page
    for offset in range(page + 100, min(len(raw), 5 * page), 97):
        raw[offset] = 0xA5  # scribble over b-tree pages, keep the header valid
    path.write_bytes(bytes(raw))
    with pytest.raises(StoreOpenError) as info:
        await SQLiteStore(path).open()
    message = str(info.value)
    assert "\n" not in message and str(path) in message and "damaged" in message


async def test_a_file_that_is_not_a_database_is_named(tmp_path):
    path = tmp_path / "ejoin.sqlite3"
    path.write_bytes(b"this is a text file, not a SQLite store\n" * 200)
    with pytest.raises(StoreOpenError, match="damaged"):
        await SQLiteStore(path).open()


async def test_a_file_in_place_of_the_data_directory(tmp_path):
    (tmp_path / "data").write_text("x")
    with pytest.raises(StoreOpenError, match="a file is in the way|not a directory"):
        await SQLiteStore(tmp_path / "data" / "ejoin.sqlite3").open()


async def test_zero_byte_store_starts_new_with_a_warning(tmp_path, caplog):
    path = tmp_path / "ejoin.sqlite3"
    path.write_bytes(b"")
    with caplog.at_level(logging.WARNING):
        store = SQLiteStore(path)
        await store.open()
        await store.close()
    assert any("empty (0 bytes)" in r.getMessage() and str(path) in r.getMessage() for r in caplog.records)


async def test_garbage_wal_is_reported(tmp_path, caplog):
    path = tmp_path / "ejoin.sqlite3"
    await _make_store(path)
    (tmp_path / "ejoin.sqlite3-wal").write_bytes(b"\x00garbage" * 512)
    with caplog.at_level(logging.WARNING):
        store = SQLiteStore(path)
        await store.open()
        assert (await store.load_settings())["sms_url"] == "http://example.invalid/x"
        await store.close()
    assert any("not a SQLite WAL" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (OSError(errno.EROFS, "Read-only file system"), "read-only"),
        (OSError(errno.ENOSPC, "No space left on device"), "disk is full"),
        (sqlite3.OperationalError("database or disk is full"), "disk is full"),
        (sqlite3.OperationalError("attempt to write a readonly database"), "read-only"),
        (sqlite3.DatabaseError("file is not a database"), "damaged"),
    ],
)
def test_every_cause_is_one_plain_line(tmp_path, exc, expected):
    message = describe_failure(exc, tmp_path / "ejoin.sqlite3")
    assert expected in message and "ejoin.sqlite3" in message and "\n" not in message
