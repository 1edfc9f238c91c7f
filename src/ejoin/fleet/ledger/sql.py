"""How the ledger's operations speak to a database, whichever it is (sans-I/O).

An operation (``operations.py``) is a generator: it yields what it needs done — a query, a bulk
insert or update, a notification, a lock — and is sent each answer; an executor (``sqlite.py``,
``postgres.py``) runs it in one transaction.  Statements are written once, in SQLite's parameter
style (``?``), with a few words in braces where the two databases truly differ (row locks, the
database's clock, lists of ids); ``Dialect.render`` gives each database its text.  What differs more
than a word has a request of its own, rendered by each dialect from one description: ``Insert``
(``COPY`` on PostgreSQL, or for a few rows one statement over arrays), ``Update`` (many rows each
changed its own way: ``executemany`` on SQLite, one statement over arrays on PostgreSQL; the
ledger's done sequence: a counter of the one SQLite thread, a sequence on PostgreSQL), ``LastId``,
``Notify`` and ``Lock`` (PostgreSQL only: SQLite has one writer and no other process to tell).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeVar

T = TypeVar("T")


class Duplicate(Exception):
    """A unique constraint refused a row (thrown into the operation that wrote it)."""


@dataclass(frozen=True)
class Query:
    sql: str
    params: tuple[Any, ...] = ()


class Rows(Query):
    """A query's rows (list of tuples)."""


class One(Query):
    """A query's first row, or None."""


class Do(Query):
    """A statement; the rows it changed."""


@dataclass(frozen=True, slots=True)
class Insert:
    """Rows into ``table`` (``COPY`` on PostgreSQL; with ``pg_types``, the columns' types there, a few
    rows go as one statement over arrays instead)."""

    table: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    pg_types: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Parent:
    """A row written by ``row`` (an ``INSERT ... RETURNING id``, perhaps ``ON CONFLICT DO NOTHING``) and,
    when it wrote one, ``children``: rows whose first column (left out of ``children.rows``) is that id.
    One statement on PostgreSQL (a data-modifying ``WITH``), so it needs no transaction of its own; two
    on SQLite.  Answer: ``row``'s row, or None."""

    row: One
    children: Insert


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    pg_type: str  # its array's element type on PostgreSQL
    nullable: bool = False  # compared as a key: NULL equals NULL (never through an index on PostgreSQL)


@dataclass(frozen=True)
class Change:
    """How rows of ``table`` (``t`` in ``fixed`` and ``where``) change each its own way: found by their
    ``key`` columns, given new ``values``; ``fixed`` (``"state=?"``) and ``where`` (``"t.state=?"``) hold for
    all.  ``done_seq``: each row also takes the next number of the ledger's done sequence, in order."""

    table: str
    key: tuple[Column, ...]
    values: tuple[Column, ...]
    fixed: str = ""
    where: str = ""
    done_seq: bool = False


@dataclass(frozen=True, slots=True)
class Update:
    """A ``change`` of ``rows`` (each a row's key values, then its new values) in one request; the
    params of its ``fixed`` and ``where``.  Answer: the rows changed."""

    change: Change
    rows: list[tuple[Any, ...]]
    fixed_params: tuple[Any, ...] = ()
    where_params: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class LastId:
    """The last id ``table`` gave (its AUTOINCREMENT or sequence), 0 if none."""

    table: str


@dataclass(frozen=True, slots=True)
class Notify:
    """Told to every replica once the transaction commits (PostgreSQL; nothing on SQLite).  With
    ``task`` and ``owner``: only when that task is not held by ``owner`` (the replica writing, which
    acts on it itself): the notification would only come back to it."""

    payload: str
    task: int | None = None
    owner: str | None = None


@dataclass(frozen=True, slots=True)
class Lock:
    """Held until the transaction ends, by name, across replicas (PostgreSQL; nothing on SQLite)."""

    key: str


Ask = Query | Insert | Parent | Update | LastId | Notify | Lock
Program = Generator[Ask, Any, T]


async def drive(program: Program[T], answer: Callable[[Any], Awaitable[Any]]) -> T:
    """Run ``program`` to its end, each of its asks answered by ``answer`` (an executor's); a
    ``Duplicate`` it raises goes into the program, which may make something else of it."""
    reply: Any = None
    error: Duplicate | None = None
    while True:
        try:
            ask = program.send(reply) if error is None else program.throw(error)
        except StopIteration as done:
            return done.value
        try:
            reply, error = await answer(ask), None
        except Duplicate as exc:
            reply, error = None, exc


@dataclass(frozen=True)
class Dialect:
    name: str
    param: str
    words: dict[str, str]
    _rendered: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def render(self, sql: str) -> str:
        text = self._rendered.get(sql)
        if text is None:
            if "%" in sql:
                raise ValueError(f"a literal % in a ledger statement: {sql!r}")  # psycopg's placeholder
            text = self._rendered[sql] = sql.replace("?", self.param).format_map(self.words)
        return text


SQLITE = Dialect(
    "sqlite",
    "?",
    {
        "lock": "",
        "lock_u": "",
        "skip_locked": "",
        "now": "((julianday('now') - 2440587.5) * 86400.0)",
        "greatest": "MAX",
        "ids": "(SELECT value FROM json_each(?))",  # the list as JSON text
    },
)
POSTGRES = Dialect(
    "postgres",
    "%s",
    {
        "lock": " FOR UPDATE",
        "lock_u": " FOR UPDATE OF u",
        "skip_locked": " FOR UPDATE SKIP LOCKED",
        "now": "extract(epoch from clock_timestamp())",  # leases: the database's clock, the replicas' one
        "greatest": "GREATEST",
        # a join with the ids (hashed), not ``= ANY(array)``: that compares every row with every id
        "ids": "(SELECT unnest(%b::bigint[]))",
    },
)


@lru_cache(maxsize=64)
def sqlite_update(change: Change) -> str:
    """Numbered parameters, so that each row's are its own tuple and a constant tail: its keys and
    values, its done number, then ``fixed``'s and ``where``'s params (``sqlite_update_rows``)."""
    k, v = len(change.key), len(change.values)
    sets = [f"{c.name}=?{k + i + 1}" for i, c in enumerate(change.values)]
    n = k + v
    if change.done_seq:
        n += 1
        sets.append(f"done_seq=?{n}")
    fixed, n = _numbered(change.fixed, n)
    where = [f"{c.name} IS ?{i + 1}" if c.nullable else f"{c.name}=?{i + 1}" for i, c in enumerate(change.key)]
    # one table: no alias (``t.``, which PostgreSQL needs beside its arrays; it costs SQLite per row)
    condition, n = _numbered(re.sub(r"\bt\.", "", change.where), n)
    return SQLITE.render(
        f"UPDATE {change.table} SET {', '.join([fixed, *sets] if fixed else sets)} "
        f"WHERE {' AND '.join([*where, condition] if condition else where)}"
    )


def _numbered(sql: str, after: int) -> tuple[str, int]:
    """``sql``'s ``?`` numbered from ``after`` + 1; the last number given."""
    parts = sql.split("?")
    for i in range(1, len(parts)):
        parts[i] = f"{after + i}{parts[i]}"
    return "?".join(parts), after + len(parts) - 1


def sqlite_update_rows(update: Update, take_seqs: Callable[[int], int]) -> list[tuple[Any, ...]]:
    """Each row's params for ``sqlite_update``; ``take_seqs(n)``: the first of n done numbers given them."""
    tail = update.fixed_params + update.where_params
    if update.change.done_seq:
        first = take_seqs(len(update.rows))
        return [row + (seq,) + tail for seq, row in enumerate(update.rows, first)]
    return [row + tail for row in update.rows]


@lru_cache(maxsize=64)
def postgres_update(change: Change) -> str:
    columns = (*change.key, *change.values)
    arrays = ", ".join(f"%b::{c.pg_type}[]" for c in columns)
    names = ", ".join(c.name for c in columns)
    sets = [POSTGRES.render(change.fixed)] if change.fixed else []
    sets += [f"{c.name}=v.{c.name}" for c in change.values]
    if change.done_seq:
        sets.append("done_seq=v.seq")
        # numbered in the order of the rows (WITH ORDINALITY), as the member reported them
        source = (
            f"(SELECT *, nextval('units_done_seq') AS seq FROM unnest({arrays}) WITH ORDINALITY AS x({names}, n) "
            "ORDER BY n) AS v"
        )
    else:
        source = f"unnest({arrays}) AS v({names})"
    where = [
        f"t.{c.name} IS NOT DISTINCT FROM v.{c.name}" if c.nullable else f"t.{c.name}=v.{c.name}" for c in change.key
    ]
    if change.where:
        where.append(POSTGRES.render(change.where))
    return f"UPDATE {change.table} AS t SET {', '.join(sets)} FROM {source} WHERE {' AND '.join(where)}"


def postgres_insert(insert: Insert) -> str:
    arrays = ", ".join(f"%b::{t}[]" for t in insert.pg_types)
    return f"INSERT INTO {insert.table} ({', '.join(insert.columns)}) SELECT * FROM unnest({arrays})"


def postgres_parent(ask: Parent) -> str:
    first, *columns = ask.children.columns
    arrays = ", ".join(f"%b::{t}[]" for t in ask.children.pg_types[1:])
    return (
        f"WITH p AS ({POSTGRES.render(ask.row.sql)}), "
        f"c AS (INSERT INTO {ask.children.table} ({first}, {', '.join(columns)}) "
        f"SELECT p.id, x.* FROM p, unnest({arrays}) AS x) SELECT * FROM p"
    )


def postgres_parent_params(ask: Parent) -> tuple[Any, ...]:
    columns = [list(column) for column in zip(*ask.children.rows, strict=True)]
    return (*ask.row.params, *(columns or [[] for _ in ask.children.pg_types[1:]]))


def postgres_insert_params(insert: Insert) -> tuple[Any, ...]:
    return tuple(list(column) for column in zip(*insert.rows, strict=True))


def postgres_update_params(update: Update) -> tuple[Any, ...]:
    arrays = [list(column) for column in zip(*update.rows, strict=True)]
    return (*update.fixed_params, *arrays, *update.where_params)
