"""The ledger's states and decisions, apart from any database: the transition tables, matching a
member's outcomes with the units waiting, and the statements each database is given."""

from __future__ import annotations

import pytest

from ejoin.fleet.ledger.decisions import counts, match_outcomes, next_inbox_id, pinned_within, tid_keys
from ejoin.fleet.ledger.operations import BUSY_SQL
from ejoin.fleet.ledger.sql import (
    POSTGRES,
    SQLITE,
    Change,
    Column,
    Update,
    postgres_update,
    postgres_update_params,
    sqlite_update,
    sqlite_update_rows,
)
from ejoin.fleet.ledger.states import (
    DISPATCH_TRANSITIONS,
    HOLD_TRANSITIONS,
    UNIT_TRANSITIONS,
    DispatchState,
    Hold,
    UnitState,
    from_states,
)

U, D = UnitState, DispatchState


def test_a_unit_done_and_a_dispatch_refused_or_removed_never_change_again() -> None:
    assert UNIT_TRANSITIONS[U.SENT] == UNIT_TRANSITIONS[U.FAILED] == frozenset()
    assert DISPATCH_TRANSITIONS[D.REFUSED] == DISPATCH_TRANSITIONS[D.REMOVED] == frozenset()
    assert HOLD_TRANSITIONS[Hold.REMOVED] == frozenset()
    assert (
        set(UNIT_TRANSITIONS) == set(U) and set(DISPATCH_TRANSITIONS) == set(D) and set(HOLD_TRANSITIONS) == set(Hold)
    )


def test_the_states_a_change_may_come_from() -> None:
    assert from_states(DISPATCH_TRANSITIONS, D.POSTED) == (D.RECORDED,)  # never from withdrawn: it stays so
    assert from_states(DISPATCH_TRANSITIONS, D.WITHDRAWN) == (D.RECORDED, D.POSTED)
    assert from_states(DISPATCH_TRANSITIONS, D.REMOVED) == (D.WITHDRAWN,)
    assert from_states(UNIT_TRANSITIONS, U.SENT) == from_states(UNIT_TRANSITIONS, U.FAILED) == (U.PENDING, U.DISPATCHED)
    assert from_states(HOLD_TRANSITIONS, Hold.RUNNING) == (Hold.PAUSED,)
    assert from_states(HOLD_TRANSITIONS, Hold.REMOVED) == (Hold.RUNNING, Hold.PAUSED)


def test_outcomes_match_the_units_waiting_once_each_and_to_all_units_by_their_port() -> None:
    waiting = [(10, 0, 5, None), (11, 1, 6, "3"), (12, 1, 6, "4.02")]  # (unit id, sub_idx, idx, port)
    rows = [
        (1, "4.02", U.SENT, [1, "139", "4.02", 1]),
        (1, "3.01", U.FAILED, [1, "139", "3.01", 2, "1 Send failed"]),  # the unit names the port, not the slot
        (1, "3.01", U.SENT, [1, "139", "3.01", 3]),  # the same unit again (a report pushed twice): taken once
        (0, "2.01", U.SENT, [0, "138", "2.01", 4]),
        (7, "2.01", U.SENT, [7, "137", "2.01", 5]),  # no such sub-task unit: not ours
    ]
    assert match_outcomes(waiting, rows) == [
        (12, U.SENT, [6, "139", "4.02", 1]),  # the fleet task's own index in the row
        (11, U.FAILED, [6, "139", "3.01", 2, "1 Send failed"]),
        (10, U.SENT, [5, "138", "2.01", 4]),
    ]


def test_what_is_decided_without_the_database() -> None:
    assert counts(10, 3, 1, 2, 4, 5).sending == 2  # never more than is dispatched
    assert tid_keys("5002") == ('"5002"', "5002") and tid_keys(7) == ("7", "7") and tid_keys("x1") == ('"x1"', '"x1"')
    rows = [(1, 9, "4"), (2, 9, "5.02"), (3, 9, "9.01")]
    assert pinned_within(rows, (5, 8)) == [(2, 9, "5.02")]
    assert next_inbox_id([(4, "r"), (7, "r")], 1, 0) == 8
    assert next_inbox_id([], 3, 9) == 10 and next_inbox_id([], 30, 9) == 30


def test_a_statement_is_written_once_and_each_database_gets_its_words() -> None:
    sql = "SELECT id FROM units WHERE task_id=? AND done_seq IN {ids}{lock}"
    assert SQLITE.render(sql) == "SELECT id FROM units WHERE task_id=? AND done_seq IN (SELECT value FROM json_each(?))"
    assert POSTGRES.render(sql) == (
        "SELECT id FROM units WHERE task_id=%s AND done_seq IN (SELECT unnest(%b::bigint[])) FOR UPDATE"
    )
    assert "state=1" in BUSY_SQL  # a literal: the partial index of the units in flight is used
    with pytest.raises(ValueError, match="literal %"):
        POSTGRES.render("SELECT 1 WHERE x LIKE 'a%'")


def test_an_update_of_many_rows_is_one_description_rendered_for_each_database() -> None:
    change = Change(
        "units",
        (Column("idx", "int"), Column("port", "text", nullable=True)),
        (Column("via", "text"),),
        fixed="state=?",
        where="t.task_id=?",
        done_seq=True,
    )
    update = Update(change, [(0, None, "1.01"), (1, "5", "5.02")], fixed_params=(1,), where_params=(9,))
    assert sqlite_update(change) == (
        "UPDATE units SET state=?5, via=?3, done_seq=?4 WHERE idx=?1 AND port IS ?2 AND task_id=?6"
    )
    assert sqlite_update_rows(update, lambda n: 41) == [(0, None, "1.01", 41, 1, 9), (1, "5", "5.02", 42, 1, 9)]
    assert postgres_update(change) == (
        "UPDATE units AS t SET state=%s, via=v.via, done_seq=v.seq FROM (SELECT *, nextval('units_done_seq') AS seq "
        "FROM unnest(%b::int[], %b::text[], %b::text[]) WITH ORDINALITY AS x(idx, port, via, n) ORDER BY n) AS v "
        "WHERE t.idx=v.idx AND t.port IS NOT DISTINCT FROM v.port AND t.task_id=%s"
    )
    assert postgres_update_params(update) == (1, [0, 1], [None, "5"], ["1.01", "5.02"], 9)
