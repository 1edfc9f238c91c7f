"""The one migration runner: steps in order, each with its version in one transaction; a failing
step leaves the database at the version before it; a newer database is refused; scripts are cut
where SQLite says a statement ends, not at every ';'."""

from __future__ import annotations

import sqlite3

import pytest

from ejoin.store.migrations import NewerSchema, Schema, Step, migrate_sqlite, migration, statements


def _db(tmp_path) -> sqlite3.Connection:
    return sqlite3.connect(tmp_path / "s.sqlite3", isolation_level=None)


def test_a_semicolon_in_a_string_a_comment_or_a_trigger_does_not_end_a_statement() -> None:
    script = """
        CREATE TABLE t (a TEXT DEFAULT 'x;y');  -- a comment; with a semicolon
        CREATE TRIGGER t_in AFTER INSERT ON t BEGIN UPDATE t SET a = a || ';'; END;
        INSERT INTO t VALUES ('1;2')
    """
    got = statements(script)
    assert len(got) == 3
    conn = sqlite3.connect(":memory:")
    for statement in got:
        conn.execute(statement)
    assert conn.execute("SELECT a FROM t").fetchall() == [("1;2;",)]


def test_an_unfinished_statement_is_refused() -> None:
    with pytest.raises(ValueError, match="incomplete"):
        statements("CREATE TABLE t (a TEXT DEFAULT 'unclosed;")


def test_steps_run_in_order_and_a_failing_one_leaves_the_version_before_it(tmp_path) -> None:
    good = Schema.of_sqlite("the test store", ["CREATE TABLE a (x)", "CREATE TABLE b (x); INSERT INTO a VALUES (1)"])
    conn = _db(tmp_path)
    assert migrate_sqlite(conn, good) == 2
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    bad = Schema.of_sqlite(
        "the test store", [*(s.sqlite or "" for s in good.steps), "CREATE TABLE c (x); INSERT INTO nowhere VALUES (1)"]
    )
    with pytest.raises(sqlite3.OperationalError, match="nowhere"):
        migrate_sqlite(conn, bad)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    assert not conn.in_transaction
    assert conn.execute("SELECT name FROM sqlite_master WHERE name='c'").fetchone() is None  # rolled back


def test_a_database_of_a_newer_version_is_refused_with_what_it_is(tmp_path) -> None:
    conn = _db(tmp_path)
    conn.execute("PRAGMA user_version = 3")
    with pytest.raises(
        NewerSchema, match=r"the test store was written by a newer ejoin \(schema 3, this one knows 1\)"
    ):
        migrate_sqlite(conn, Schema.of_sqlite("the test store", ["CREATE TABLE a (x)"]))


def test_a_step_with_nothing_for_a_database_still_advances_its_version() -> None:
    schema = Schema("the test store", (Step(sqlite="A", postgres="A'"), Step(sqlite="B"), Step(postgres="C")))
    program = migration(schema, "postgres")
    asked, answer = [], None
    versions = iter([0, 1, 2, 3])
    try:
        while True:
            ask = program.send(answer)
            asked.append((ask.kind, ask.arg))
            answer = next(versions) if ask.kind == "version" else None
    except StopIteration as done:
        assert done.value == 3
    runs = [arg for kind, arg in asked if kind == "run"]
    sets = [arg for kind, arg in asked if kind == "set"]
    assert runs == ["A'", "C"] and sets == [1, 2, 3]
    assert [kind for kind, _ in asked].count("begin") == 4  # each step in its own transaction, then the check
