"""The ledger's operations, each written once as a program of statements (``sql.py``) that either
database runs: the embedded SQLite store and PostgreSQL shared by replicas.

A *unit* is one SMS the fleet owes: a recipient (and, for ``to_all`` tasks, one of the listed
ports).  A *dispatch* is a sub-task posted to one member; it is written (with its units) before it
is posted, so after a crash the record says what may have reached a member.  Every change of a
unit's or a dispatch's state is guarded by the states it may come from (``states.py``).

Where replicas share PostgreSQL: every writer of a dispatch's units takes the dispatch's row first
(``apply`` by writing its count in flight, ``withdraw`` and ``sent_late`` with ``{lock}``), so the
units need no row locks of their own; units are taken by a dispatch only while pending, so no two
passes or replicas dispatch one unit; a member's outcomes notify the task's owner (``t<task>``).
"""

from __future__ import annotations

import json
from typing import Any

from .decisions import counts as make_counts
from .decisions import done_before, match_outcomes, next_inbox_id, pinned_within, port_forms, tid_keys
from .records import (
    DISPATCH_SPAN,
    Conflict,
    Counts,
    Figures,
    TaskRow,
    Unit,
    row_of,
    row_text,
    task_of,
    task_text,
)
from .sql import Change, Column, Do, Duplicate, Insert, LastId, Lock, Notify, One, Parent, Program, Rows, Update
from .states import (
    DISPATCH_TRANSITIONS,
    DONE,
    HOLD_TRANSITIONS,
    LIVE,
    UNIT_TRANSITIONS,
    DispatchState,
    Hold,
    UnitState,
    from_states,
    sql_in,
)

U, D = UnitState, DispatchState

TASK_COLUMNS = "id, tid_echo, task, sr_url, sr_cnt, sr_prd, sdr, fdr, hold, finished"
# The state as a literal: only then can the planner use the partial index of the units in flight
# (units_busy), instead of scanning every unit the ledger holds.
BUSY_SQL = f"SELECT via, COUNT(*) FROM units WHERE state={U.DISPATCHED:d} AND via IS NOT NULL GROUP BY via"
_UNIT_COLUMNS = ("task_id", "idx", "number", "port")
_UNIT_TYPES = ("bigint", "int", "text", "text")
# Rows of an insert past which PostgreSQL takes them by COPY (fewer: one statement over arrays).
BULK_UNITS = 1000
PRUNE_BATCH = 200  # finished tasks deleted per batch: the store stays free for other work between

_LIVE = sql_in(LIVE)
_DONE = sql_in(DONE)
_OPEN = sql_in(from_states(UNIT_TRANSITIONS, U.SENT))  # units that may still be settled
_FREE = (
    f"UPDATE units SET state={U.PENDING:d}, dispatch_id=NULL, sub_idx=NULL, via=NULL "
    f"WHERE dispatch_id=? AND state={U.DISPATCHED:d}"
)
# Units settled (found by id): their state and report row, numbered in the order done (the order
# reports list them); only units that may still be settled.
_SETTLE = Change(
    "units",
    (Column("id", "bigint"),),
    (Column("state", "smallint"), Column("row", "text")),
    where=f"t.state IN {_OPEN}",
    done_seq=True,
)
# Pending units (found by task, idx and the port a to_all unit must go from) given to a dispatch.
_DISPATCH = Change(
    "units",
    (Column("idx", "int"), Column("port", "text", nullable=True)),
    (Column("sub_idx", "int"), Column("via", "text")),
    fixed="state=?, dispatch_id=?, sim=?, at=?",
    where="t.task_id=? AND t.state=?",
)
# A pending unit (by id) sent by a member a failover withdrew it from (its late report).
_SENT_LATE = Change(
    "units",
    (Column("id", "bigint"),),
    (Column("row", "text"), Column("sub_idx", "int")),
    fixed="state=?, dispatch_id=?",
    done_seq=True,
)


def _task(r: Any) -> TaskRow:
    return TaskRow(
        int(r[0]), json.loads(r[1]), task_of(r[2]), r[3], int(r[4]), int(r[5]), bool(r[6]), bool(r[7]), r[8], bool(r[9])
    )


def _settled(rows: list[tuple[int, int, list[Any]]]) -> Update:
    """Units (id, SENT|FAILED, report row) done, each taking the next done number."""
    return Update(_SETTLE, [(i, s, row_text(r)) for i, s, r in rows])


def task_counts(task_id: int) -> Program[Counts]:
    r = yield One(
        "SELECT COUNT(*), "
        f"COUNT(*) FILTER (WHERE state={U.SENT:d}), COUNT(*) FILTER (WHERE state={U.FAILED:d}), "
        f"COUNT(*) FILTER (WHERE state={U.DISPATCHED:d}), COALESCE(SUM(reported), 0), "
        f"(SELECT COALESCE(SUM(sending), 0) FROM dispatches WHERE task_id=? AND state={D.POSTED:d}) "
        "FROM units WHERE task_id=?",
        (task_id, task_id),
    )
    return make_counts(*r)


def secret(token: str) -> Program[str]:
    """The ledger's secret (the members' report URLs carry it): ``token`` the first time."""
    yield Do("INSERT INTO meta VALUES ('secret', ?) ON CONFLICT (key) DO NOTHING", (token,))
    r = yield One("SELECT value FROM meta WHERE key='secret'")
    return str(r[0])


# --- tasks and their units -------------------------------------------------------------------------


def add_tasks(
    tasks: list[tuple[Any, dict[str, Any], dict[str, Any], list[Unit]]], owner: str | None, lease: float
) -> Program[list[int | None]]:
    """Each task's id (owned by ``owner`` for ``lease`` seconds), or None when a task with its tid is
    still open (13 Duplicated TaskId)."""
    ids: list[int | None] = []
    for tid_echo, task, rep, units in tasks:
        task_row = One(
            "INSERT INTO tasks (tid_echo, task, sr_url, sr_cnt, sr_prd, sdr, fdr, owner, lease_until) "
            "VALUES (?,?,?,?,?,?,?,?,{now} + ?) ON CONFLICT (tid_echo) WHERE finished=0 DO NOTHING RETURNING id",
            (
                json.dumps(tid_echo),
                task_text(task),
                rep["sr_url"],
                rep["sr_cnt"],
                rep["sr_prd"],
                int(rep["sdr"]),
                int(rep["fdr"]),
                owner,
                lease,
            ),
        )
        unit_rows = [(u.idx, u.number, u.port) for u in units]
        if len(units) <= BULK_UNITS:  # the task and its units in one statement (PostgreSQL)
            r = yield Parent(task_row, Insert("units", _UNIT_COLUMNS, unit_rows, _UNIT_TYPES))
        else:  # COPY: the task first, then its units
            r = yield task_row
            if r is not None:
                yield Insert("units", _UNIT_COLUMNS, [(int(r[0]), *u) for u in unit_rows], _UNIT_TYPES)
        ids.append(None if r is None else int(r[0]))
    return ids


def pending(task_id: int) -> Program[list[Unit]]:
    """The task's units not dispatched yet; none while it is paused or removed (nothing more goes to
    members: read with the units, so a pass may take the task's row from its acceptance)."""
    rows = yield Rows(
        "SELECT idx, number, port FROM units WHERE task_id=? AND state=? "
        "AND EXISTS (SELECT 1 FROM tasks WHERE id=? AND hold=?) ORDER BY id",
        (task_id, U.PENDING, task_id, Hold.RUNNING),
    )
    return [Unit(*r) for r in rows]


def pending_and_busy(task_id: int) -> Program[tuple[list[Unit], dict[str, int] | None]]:
    """``pending`` and, when some of those units are the fleet's to route (no port of their own),
    ``busy`` beside them, read by one statement; busy is None when none is."""
    rows = yield Rows(
        "SELECT 0, id, idx, number, port FROM units WHERE task_id=? AND state=? "
        "AND EXISTS (SELECT 1 FROM tasks WHERE id=? AND hold=?) "
        f"UNION ALL SELECT 1, COUNT(*), 0, via, NULL FROM units WHERE state={U.DISPATCHED:d} AND via IS NOT NULL "
        "AND EXISTS (SELECT 1 FROM units WHERE task_id=? AND state=? AND port IS NULL) GROUP BY via ORDER BY 1, 2",
        (task_id, U.PENDING, task_id, Hold.RUNNING, task_id, U.PENDING),
    )
    units = [Unit(idx, number, port) for kind, _, idx, number, port in rows if kind == 0]
    busy = {str(via): int(n) for kind, n, _, via, _ in rows if kind == 1}
    return units, busy if any(u.port is None for u in units) else None


def open_tasks() -> Program[list[TaskRow]]:
    rows = yield Rows(f"SELECT {TASK_COLUMNS} FROM tasks WHERE finished=0 ORDER BY id")
    return [_task(r) for r in rows]


def task(task_id: int) -> Program[TaskRow | None]:
    r = yield One(f"SELECT {TASK_COLUMNS} FROM tasks WHERE id=?", (task_id,))
    return None if r is None else _task(r)


def find(tids: list[Any] | None) -> Program[list[tuple[Any, int | None]]]:
    """Open tasks by the tids the platform gave (None: every open task); (tid, None) when not open."""
    if tids is None:
        rows = yield Rows("SELECT tid_echo, id FROM tasks WHERE finished=0 ORDER BY id")
        return [(json.loads(t), int(i)) for t, i in rows]
    out: list[tuple[Any, int | None]] = []
    for tid in tids:
        r = yield One("SELECT id FROM tasks WHERE tid_echo IN (?, ?) AND finished=0 ORDER BY id LIMIT 1", tid_keys(tid))
        out.append((tid, int(r[0]) if r else None))
    return out


def hold(task_id: int, new: Hold) -> Program[list[tuple[str, int]]]:
    """Set a task's hold; the (member, member tid) of its dispatches that may still be sending."""
    yield Do(
        f"UPDATE tasks SET hold=? WHERE id=? AND hold IN {sql_in(from_states(HOLD_TRANSITIONS, new))}", (new, task_id)
    )
    yield Notify(f"d{task_id}")  # its owner dispatches again (resumed) or stops
    rows = yield Rows(
        f"SELECT member, member_tid FROM dispatches WHERE task_id=? AND state IN {_LIVE} ORDER BY id", (task_id,)
    )
    return [(str(m), int(t)) for m, t in rows]


def remove_pending(task_id: int, reason: str, ts: int) -> Program[tuple[list[list[Any]], Counts]]:
    """A removed task's units never dispatched: failed with ``reason``, as a device fails what it never sent."""
    found = yield Rows(
        "SELECT id, idx, number FROM units WHERE task_id=? AND state=? ORDER BY id{lock}", (task_id, U.PENDING)
    )
    fresh = [[idx, number, "", ts, reason, ""] for _, idx, number in found]
    if found:
        yield _settled([(unit_id, U.FAILED, row) for (unit_id, _, _), row in zip(found, fresh, strict=True)])
        yield Notify(f"t{task_id}")
    return fresh, (yield from task_counts(task_id))


def unreported(task_id: int) -> Program[list[tuple[int, list[Any]]]]:
    """(done_seq, row) of the units done and not yet in a report queued for the platform, in order done."""
    rows = yield Rows(
        f"SELECT done_seq, row FROM units WHERE task_id=? AND state IN {_DONE} AND reported=0 ORDER BY done_seq",
        (task_id,),
    )
    return [(int(seq), row_of(r)) for seq, r in rows]


def mark_reported(task_id: int, seqs: list[int], at: float, final: bool) -> Program[None]:
    """These units (by done_seq) are in a report the outbox holds; the task is finished once all are
    (``at``: when, for task_retention).

    ``final``: the report holds every unit not reported before, all of them done (the task's last
    report): the task is finished at once, its units left unmarked (one write per unit saved; a
    finished task is never reported again)."""
    if final:
        yield Do(
            "UPDATE tasks SET finished=1, finished_at=?, owner=NULL WHERE id=? AND NOT EXISTS "
            f"(SELECT 1 FROM units WHERE task_id=? AND state NOT IN {_DONE})",
            (at, task_id, task_id),
        )
        return
    if seqs:
        yield Do("UPDATE units SET reported=1 WHERE task_id=? AND done_seq IN {ids}", (task_id, seqs))
    yield Do(
        "UPDATE tasks SET finished=1, finished_at=?, owner=NULL WHERE id=? AND NOT EXISTS "
        "(SELECT 1 FROM units WHERE task_id=? AND reported=0)",
        (at, task_id, task_id),
    )


def prune(finished_before: float, inbox_keep: int, unforwarded: bool) -> Program[tuple[int, int]]:
    """Tasks finished before ``finished_before`` (a batch of them, with their units and dispatches)
    and received SMS past the newest ``inbox_keep`` (those pushed to the platform; ``unforwarded``:
    the others too, when there is nowhere to push them): (tasks, SMS) deleted.

    A task with a dispatch withdrawn from a member and not removed on it yet stays: that record is
    what removes it there when the member comes back.  A task another replica holds locked now is
    left for the next round."""
    rows = yield Rows(
        "SELECT id FROM tasks WHERE finished=1 AND finished_at < ? AND NOT EXISTS "
        f"(SELECT 1 FROM dispatches d WHERE d.task_id=tasks.id AND d.state={D.WITHDRAWN:d}) "
        "LIMIT ?{skip_locked}",
        (finished_before, PRUNE_BATCH),
    )
    ids = [int(i) for (i,) in rows]
    if ids:
        yield Do("DELETE FROM units WHERE task_id IN {ids}", (ids,))
        yield Do(
            "DELETE FROM sent_late WHERE dispatch_id IN (SELECT id FROM dispatches WHERE task_id IN {ids})", (ids,)
        )
        yield Do("DELETE FROM dispatches WHERE task_id IN {ids}", (ids,))
        yield Do("DELETE FROM tasks WHERE id IN {ids}", (ids,))
    cutoff = yield One("SELECT id FROM inbox ORDER BY id DESC LIMIT 1 OFFSET ?", (inbox_keep,))
    gone = 0
    if cutoff is not None:
        gone = yield Do("DELETE FROM inbox WHERE id <= ?" + ("" if unforwarded else " AND forwarded=1"), (cutoff[0],))
    return len(ids), int(gone)


# --- dispatches ----------------------------------------------------------------------------------


def record_dispatch(
    task_id: int, member: str, units: list[tuple[Unit, str, int]], sim: str | None, at: float
) -> Program[tuple[int, int]]:
    """A new dispatch of ``units`` (each with the fleet port it goes from and its index in the
    sub-task; ``sim``: the SIM the fleet picked, counted against its quotas): (its id, the member's tid).
    ``Conflict`` when any of them is no longer pending, or another replica numbered a dispatch at once."""
    # numbered by the statement that writes it (one round trip, not a count read first)
    try:
        r = yield One(
            "INSERT INTO dispatches (task_id, no, member, member_tid) "
            f"SELECT ?, n, ?, ? * {DISPATCH_SPAN} + n "
            "FROM (SELECT COUNT(*) + 1 AS n FROM dispatches WHERE task_id=?) c RETURNING id, member_tid",
            (task_id, member, task_id, task_id),
        )
    except Duplicate as exc:
        raise Conflict(f"task {task_id}: dispatch numbered twice") from exc
    dispatch_id, tid = int(r[0]), int(r[1])
    taken = yield Update(
        _DISPATCH,
        [(u.idx, u.port, sub, via) for u, via, sub in units],
        fixed_params=(U.DISPATCHED, dispatch_id, sim, at),
        where_params=(task_id, U.PENDING),
    )
    if taken != len(units):
        raise Conflict(f"task {task_id}: {len(units) - taken} of the units to dispatch were taken")
    return dispatch_id, tid


def dispatch_done(dispatch_id: int, new: DispatchState) -> Program[None]:
    moved = yield Do(
        f"UPDATE dispatches SET state=? WHERE id=? AND state IN {sql_in(from_states(DISPATCH_TRANSITIONS, new))}",
        (new, dispatch_id),
    )
    if moved and new == D.REFUSED:  # never reached the member: its units are free again
        yield Do(_FREE, (dispatch_id,))


def dispatches_posted(ids: list[int]) -> Program[None]:
    """The dispatches of a post the member answered (each accepted or refused: its units come back in
    reports, or fail with its refusal), recorded posted in one statement."""
    may = sql_in(from_states(DISPATCH_TRANSITIONS, D.POSTED))
    yield Do(f"UPDATE dispatches SET state=? WHERE id IN {{ids}} AND state IN {may}", (D.POSTED, ids))


def dispatch_of(member: str, tid: int) -> Program[tuple[int, int] | None]:
    r = yield One("SELECT id, task_id FROM dispatches WHERE member=? AND member_tid=?", (member, tid))
    return None if r is None else (int(r[0]), int(r[1]))


def recorded(task_id: int) -> Program[list[tuple[int, str, int, list[tuple[Unit, str, int]]]]]:
    """Dispatches recorded and never answered (the post may or may not have reached the member),
    with their units still waiting: (dispatch id, member, member tid, (unit, fleet port, sub idx))."""
    dispatches = yield Rows(
        "SELECT id, member, member_tid FROM dispatches WHERE task_id=? AND state=? ORDER BY id",
        (task_id, D.RECORDED),
    )
    out = []
    for dispatch_id, member, tid in dispatches:
        units = yield Rows(
            "SELECT idx, number, port, via, sub_idx FROM units WHERE dispatch_id=? AND state=? ORDER BY sub_idx, id",
            (dispatch_id, U.DISPATCHED),
        )
        if units:
            out.append(
                (int(dispatch_id), str(member), int(tid), [(Unit(i, n, p), via, sub) for i, n, p, via, sub in units])
            )
    return out


def apply(
    dispatch_id: int,
    task_id: int,
    rows: list[tuple[int, str | None, int, list[Any]]],
    sending: int,
    owner: str | None = None,
) -> Program[tuple[list[list[Any]], Counts]]:
    """Outcomes ``(sub_idx, fleet port, SENT|FAILED, fleet row)`` of a dispatch, and how many of it the
    member is sending: the rows new to the record, and the task's counts after.  ``owner``: the
    replica recording them, which need not be told (it reports them itself if it holds the task).

    Writing the count in flight takes the dispatch's row first: the same report applied by two replicas
    at once counts once (the second reads its units after the first committed: done)."""
    yield Do("UPDATE dispatches SET sending=? WHERE id=?", (sending, dispatch_id))
    return (yield from _settle(dispatch_id, task_id, rows, owner))


def _settle(
    dispatch_id: int, task_id: int, rows: list[tuple[int, str | None, int, list[Any]]], owner: str | None
) -> Program[tuple[list[list[Any]], Counts]]:
    """``apply`` once the dispatch's row is taken."""
    waiting = yield Rows(
        # the order of the index (units_dispatch): no sort of the dispatch's units at each report
        "SELECT id, sub_idx, idx, port FROM units WHERE dispatch_id=? AND state=? ORDER BY sub_idx, id",
        (dispatch_id, U.DISPATCHED),
    )
    fresh = match_outcomes(waiting, rows)
    if fresh:
        yield _settled(fresh)
        yield Notify(f"t{task_id}", task_id, owner)
    return [row for _, _, row in fresh], (yield from task_counts(task_id))


def apply_report(
    member: str,
    member_tid: int,
    rows: list[tuple[int, str | None, int, list[Any]]],
    sending: int,
    owner: str | None = None,
) -> Program[tuple[int, int, list[list[Any]], Counts] | None]:
    """``apply`` to the dispatch a member's report names by its tid: (dispatch id, task id, the rows
    new to the record, the task's counts after); None when the fleet has no such dispatch (another
    client of the member, or one from before this ledger)."""
    # found and taken (its count in flight written) by one statement
    r = yield One(
        "UPDATE dispatches SET sending=? WHERE member=? AND member_tid=? RETURNING id, task_id",
        (sending, member, member_tid),
    )
    if r is None:
        return None
    dispatch_id, task_id = int(r[0]), int(r[1])
    fresh, counts = yield from _settle(dispatch_id, task_id, rows, owner)
    return dispatch_id, task_id, fresh, counts


def withdraw(member: str) -> Program[list[int]]:
    """Failover: the member's units without an outcome go back to pending; the ids of the tasks touched.

    The fleet's record decides: what no report says was done counts as never sent.  Its dispatches
    are kept as withdrawn, to be removed on the member once it answers again."""
    rows = yield Rows(
        f"SELECT id, task_id FROM dispatches WHERE member=? AND state IN {_LIVE} ORDER BY id{{lock}}", (member,)
    )
    tasks = set()
    for dispatch_id, task_id in rows:
        moved = yield Do(_FREE, (dispatch_id,))
        if moved:
            yield Do("UPDATE dispatches SET state=?, sending=0 WHERE id=?", (D.WITHDRAWN, dispatch_id))
            tasks.add(int(task_id))
    return sorted(tasks)


def sent_late(
    dispatch_id: int, task_id: int, rows: list[tuple[int, str | None, list[Any]]]
) -> Program[tuple[list[list[Any]], list[list[Any]], Counts] | None]:
    """SMS ``(sub_idx, fleet port, fleet row)`` a member reports sent of a dispatch the fleet withdrew
    from it (failover), each taken once: (rows that became the outcome of their unit, still pending:
    it is not sent again; rows whose unit had gone to another member meanwhile: sent twice; the
    task's counts).  None when the dispatch was not withdrawn (a report pushed again)."""
    r = yield One("SELECT state FROM dispatches WHERE id=?{lock}", (dispatch_id,))
    if r is None or r[0] not in (D.WITHDRAWN, D.REMOVED):
        return None
    done = yield Rows(f"SELECT sub_idx, port FROM units WHERE dispatch_id=? AND state IN {_DONE}", (dispatch_id,))
    done_set = {(sub, port) for sub, port in done}
    applied: list[list[Any]] = []
    twice: list[list[Any]] = []
    for sub_idx, port, row in rows:
        if done_before(done_set, sub_idx, port):
            continue  # done before the withdrawal: its outcome was applied then
        new = yield Do(
            "INSERT INTO sent_late (dispatch_id, sub_idx, port, twice, row) VALUES (?,?,?,0,?) ON CONFLICT DO NOTHING",
            (dispatch_id, sub_idx, port or "", row_text(row)),
        )
        if not new:
            continue  # a report pushed again
        # a pending unit taken with its row lock (a dispatch pass taking it first leaves it to that pass)
        unit = yield One(
            "SELECT id, idx FROM units WHERE task_id=? AND state=? AND number=? "
            "AND (port IS NULL OR port IN (?, ?)) ORDER BY id LIMIT 1{lock}",
            (task_id, U.PENDING, row[1], *port_forms(port)[1:]),
        )
        if unit is None:
            yield Do(
                "UPDATE sent_late SET twice=1 WHERE dispatch_id=? AND sub_idx=? AND port=?",
                (dispatch_id, sub_idx, port or ""),
            )
            twice.append(row)
            continue
        fleet_row = [int(unit[1]), *row[1:]]
        yield Update(_SENT_LATE, [(unit[0], row_text(fleet_row), sub_idx)], fixed_params=(U.SENT, dispatch_id))
        applied.append(fleet_row)
    if applied:
        yield Notify(f"t{task_id}")
    return applied, twice, (yield from task_counts(task_id))


def sent_twice() -> Program[dict[str, int]]:
    """Per member: SMS it sent after the fleet had withdrawn them and given them to another member."""
    rows = yield Rows(
        "SELECT d.member, COUNT(*) FROM sent_late s JOIN dispatches d ON d.id=s.dispatch_id "
        "WHERE s.twice=1 GROUP BY d.member"
    )
    return {str(m): int(n) for m, n in rows}


def withdrawn(member: str) -> Program[list[int]]:
    rows = yield Rows("SELECT member_tid FROM dispatches WHERE member=? AND state=? ORDER BY id", (member, D.WITHDRAWN))
    return [int(r[0]) for r in rows]


def removed(member: str, tids: list[int]) -> Program[None]:
    if not tids:
        return
    yield Do(
        "UPDATE dispatches SET state=? WHERE member=? AND member_tid IN {ids} "
        f"AND state IN {sql_in(from_states(DISPATCH_TRANSITIONS, D.REMOVED))}",
        (D.REMOVED, member, tids),
    )


# --- ports, SIMs and members -----------------------------------------------------------------------


def busy() -> Program[dict[str, int]]:
    """Units dispatched and not done, per fleet port they were sent to go from (``via``)."""
    rows = yield Rows(BUSY_SQL)
    return {str(via): int(n) for via, n in rows}


def sim_usage(hour_since: float, day_since: float) -> Program[dict[str, tuple[int, int]]]:
    """Per SIM: units given to it (and not failed or taken back) since ``hour_since``, and since ``day_since``."""
    rows = yield Rows(
        "SELECT sim, COUNT(*) FILTER (WHERE at >= ?), COUNT(*) FROM units "
        f"WHERE sim IS NOT NULL AND at >= ? AND state IN ({U.DISPATCHED:d}, {U.SENT:d}) GROUP BY sim",
        (hour_since, day_since),
    )
    return {str(sim): (int(h), int(d)) for sim, h, d in rows}


def _pinned(ports: tuple[int, int], lock: bool) -> Program[list[tuple[Any, ...]]]:
    """(unit id, task, idx, number, port) of pending units pinned on a fleet port within ``ports``."""
    rows = yield Rows(
        "SELECT u.id, u.task_id, u.idx, u.number, u.port FROM units u JOIN tasks t ON t.id=u.task_id "
        "WHERE t.finished=0 AND u.state=? AND u.port IS NOT NULL ORDER BY u.id" + ("{lock_u}" if lock else ""),
        (U.PENDING,),
    )
    return pinned_within(rows, ports)


def member_load(member: str, ports: tuple[int, int]) -> Program[int]:
    """Units dispatched to the member and not done, and pending units a ``to_all`` task pinned on
    its fleet ports ``ports`` (first, last): what removing it would strand."""
    r = yield One(
        "SELECT COUNT(*) FROM units u JOIN dispatches d ON u.dispatch_id=d.id "
        f"WHERE d.member=? AND d.state IN {_LIVE} AND u.state=?",
        (member, U.DISPATCHED),
    )
    return int(r[0]) + len((yield from _pinned(ports, lock=False)))


def fail_pinned(
    ports: tuple[int, int], reason: str, detail: str, ts: int
) -> Program[list[tuple[int, list[list[Any]], Counts]]]:
    """Pending units pinned on fleet ports that are gone: failed; per task, the new rows and counts."""
    by_task: dict[int, list[tuple[int, int, list[Any]]]] = {}
    for unit_id, task_id, idx, number, port in (yield from _pinned(ports, lock=True)):
        by_task.setdefault(int(task_id), []).append((int(unit_id), U.FAILED, [idx, number, port, ts, reason, detail]))
    out = []
    for task_id, settled in by_task.items():
        yield _settled(settled)
        yield Notify(f"t{task_id}")
        out.append((task_id, [row for _, _, row in settled], (yield from task_counts(task_id))))
    return out


def seed_members(members: list[dict[str, Any]]) -> Program[list[dict[str, Any]]]:
    """The members now: the file's ``members`` the ledger never had are added (one removed at run
    time stays removed; one known keeps its recorded settings), then every member not removed."""
    for m in members:
        yield Do(
            "INSERT INTO members (name, settings) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
            (m["name"], json.dumps(m)),
        )
    rows = yield Rows("SELECT settings FROM members WHERE removed=0 ORDER BY seq")
    return [json.loads(r[0]) for r in rows]


def add_member(settings: dict[str, Any]) -> Program[None]:
    yield Do(
        "INSERT INTO members (name, settings) VALUES (?, ?) "
        "ON CONFLICT (name) DO UPDATE SET settings=excluded.settings, removed=0",
        (settings["name"], json.dumps(settings)),
    )
    yield Notify("m")  # every replica attaches it (ports, link) at once


def remove_member(name: str) -> Program[None]:
    """Kept as removed (a restart does not bring it back from the file); its inbox cursor goes: a
    member added later under that name is another device, read from its start."""
    yield Do("UPDATE members SET removed=1 WHERE name=?", (name,))
    yield Do("DELETE FROM inbox_cursor WHERE member=?", (name,))
    yield Notify("m")


def ping() -> Program[None]:
    """The cheapest answer the database gives (a health check: is the ledger reachable?)."""
    yield One("SELECT 1")


def figures() -> Program[Figures]:
    tasks = yield One("SELECT COUNT(*) FROM tasks WHERE finished=0")
    rows = yield Rows(
        "SELECT u.state, COUNT(*) FROM units u JOIN tasks t ON t.id=u.task_id WHERE t.finished=0 GROUP BY u.state"
    )
    flight = yield One(f"SELECT COUNT(DISTINCT dispatch_id) FROM units WHERE state={U.DISPATCHED:d}")
    by_state = {state.name.lower(): 0 for state in U}
    for state, n in rows:
        by_state[U(int(state)).name.lower()] = int(n)
    return Figures(int(tasks[0]), by_state, int(flight[0]))


# --- what the dashboard shows ------------------------------------------------------------------------


def task_list(limit: int, tid: Any = None) -> Program[list[tuple[TaskRow, Counts]]]:
    """The newest tasks the ledger keeps (open ones, and finished ones until they are pruned), newest
    first, with their counts; or (``tid``) those the platform gave that tid."""
    if tid is None:
        rows = yield Rows(f"SELECT {TASK_COLUMNS} FROM tasks ORDER BY id DESC LIMIT ?", (limit,))
    else:
        rows = yield Rows(
            f"SELECT {TASK_COLUMNS} FROM tasks WHERE tid_echo IN (?, ?) ORDER BY id DESC LIMIT ?",
            (*tid_keys(tid), limit),
        )
    tasks = [_task(r) for r in rows]
    if not tasks:
        return []
    ids = [t.id for t in tasks]
    counted = yield Rows(
        "SELECT task_id, COUNT(*), "
        f"COUNT(*) FILTER (WHERE state={U.SENT:d}), COUNT(*) FILTER (WHERE state={U.FAILED:d}), "
        f"COUNT(*) FILTER (WHERE state={U.DISPATCHED:d}), COALESCE(SUM(reported), 0) "
        "FROM units WHERE task_id IN {ids} GROUP BY task_id",
        (ids,),
    )
    sending = yield Rows(
        f"SELECT task_id, COALESCE(SUM(sending), 0) FROM dispatches WHERE task_id IN {{ids}} AND state={D.POSTED:d} "
        "GROUP BY task_id",
        (ids,),
    )
    by_task: dict[int, tuple[int, int, int, int, int]] = {int(r[0]): tuple(r[1:6]) for r in counted}
    busy = {int(i): int(n) for i, n in sending}
    out = []
    for t in tasks:
        total, sent, failed, dispatched, reported = by_task.get(t.id, (0, 0, 0, 0, 0))
        out.append((t, make_counts(total, sent, failed, dispatched, reported, busy.get(t.id, 0))))
    return out


def task_units(
    task_id: int, limit: int
) -> Program[list[tuple[int, str, str | None, int, str | None, list[Any] | None, str | None]]]:
    """A task's first ``limit`` units: (idx, number, port, state, via, report row, member)."""
    rows = yield Rows(
        "SELECT u.idx, u.number, u.port, u.state, u.via, u.row, d.member FROM units u "
        "LEFT JOIN dispatches d ON d.id=u.dispatch_id WHERE u.task_id=? ORDER BY u.id LIMIT ?",
        (task_id, limit),
    )
    return [(int(i), str(n), p, int(st), via, row_of(r) if r else None, m) for i, n, p, st, via, r, m in rows]


def task_split(task_id: int) -> Program[dict[str, dict[str, int]]]:
    """How a task's units are shared out: per member its units with an outcome (sent, failed), those it
    holds (dispatched), and what it sent twice; "" for the units no member holds (pending)."""
    rows = yield Rows(
        "SELECT COALESCE(d.member, ''), u.state, COUNT(*) FROM units u LEFT JOIN dispatches d ON d.id=u.dispatch_id "
        "WHERE u.task_id=? GROUP BY COALESCE(d.member, ''), u.state",
        (task_id,),
    )
    out: dict[str, dict[str, int]] = {}
    for member, state, n in rows:
        share = out.setdefault(str(member), {"pending": 0, "dispatched": 0, "sent": 0, "failed": 0, "twice": 0})
        share[U(int(state)).name.lower()] += int(n)
    twice = yield Rows(
        "SELECT d.member, COUNT(*) FROM sent_late s JOIN dispatches d ON d.id=s.dispatch_id "
        "WHERE d.task_id=? AND s.twice=1 GROUP BY d.member",
        (task_id,),
    )
    for member, n in twice:
        out.setdefault(str(member), {"pending": 0, "dispatched": 0, "sent": 0, "failed": 0, "twice": 0})["twice"] = int(
            n
        )
    return out


def inbox_recent(limit: int) -> Program[list[tuple[int, list[Any]]]]:
    """The newest ``limit`` SMS of the merged inbox, newest first: (fleet id, row)."""
    rows = yield Rows("SELECT id, row FROM inbox ORDER BY id DESC LIMIT ?", (limit,))
    return [(int(i), json.loads(r)) for i, r in rows]


def former_member(name: str) -> Program[dict[str, Any] | None]:
    """The settings a removed member had (its reports may still come: what it sent after it went)."""
    r = yield One("SELECT settings FROM members WHERE name=? AND removed=1", (name,))
    return None if r is None else json.loads(r[0])


def setting(key: str) -> Program[str | None]:
    """A setting of the fleet as a device (its status push URL and period), kept across restarts."""
    r = yield One("SELECT value FROM meta WHERE key=?", ("setting:" + key,))
    return None if r is None else str(r[0])


def set_setting(key: str, value: str) -> Program[None]:
    yield Do(
        "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value=excluded.value", ("setting:" + key, value)
    )
    yield Notify("s")  # every replica reads the fleet's settings again


# --- the merged inbox ---------------------------------------------------------------------------


def inbox_cursor(member: str) -> Program[tuple[str, int]]:
    """The member's ssrc and the id of its next SMS the fleet has not taken yet (("", 1) at first)."""
    r = yield One("SELECT ssrc, next_id FROM inbox_cursor WHERE member=?", (member,))
    return ("", 1) if r is None else (str(r[0]), int(r[1]))


def inbox_add(
    member: str, ssrc: str, rows: list[tuple[int, list[Any]]], next_id: int
) -> Program[list[tuple[int, list[Any]]]]:
    """SMS the fleet pulled from a member (by its ids), under the fleet's own ids, and the member's
    cursor: the (fleet id, row) of those new to the fleet.  One the member pushed already (the same
    row, known by no member id yet) takes the id and is not new."""
    yield Lock("fleet inbox:" + member)  # pulls and pushes of one member's SMS take turns, on any replica
    new: list[tuple[int, list[Any]]] = []
    for member_id, row in rows:
        known = yield One("SELECT 1 FROM inbox WHERE member=? AND ssrc=? AND member_id=?", (member, ssrc, member_id))
        if known:
            continue
        fp = json.dumps(row)
        pushed = yield One(
            "SELECT id FROM inbox WHERE member=? AND fp=? AND member_id IS NULL ORDER BY id LIMIT 1", (member, fp)
        )
        if pushed:
            yield Do("UPDATE inbox SET ssrc=?, member_id=? WHERE id=?", (ssrc, member_id, pushed[0]))
            continue
        added = yield One(
            "INSERT INTO inbox (member, ssrc, member_id, row, fp, forwarded) VALUES (?,?,?,?,?,0) RETURNING id",
            (member, ssrc, member_id, fp, fp),
        )
        new.append((int(added[0]), row))
    # Two replicas reading one member at once: the cursor only moves forward within one ssrc.
    yield Do(
        "INSERT INTO inbox_cursor VALUES (?,?,?) ON CONFLICT (member) DO UPDATE SET ssrc=excluded.ssrc, "
        "next_id=CASE WHEN inbox_cursor.ssrc=excluded.ssrc THEN {greatest}(inbox_cursor.next_id, "
        "excluded.next_id) ELSE excluded.next_id END",
        (member, ssrc, next_id),
    )
    if new:
        yield Notify("i")  # the batcher of received SMS (the status role's holder)
    return new


def inbox_pushed(member: str, rows: list[list[Any]]) -> Program[list[tuple[int, list[Any]]]]:
    """SMS a member pushed (recv-sms): the (fleet id, row) of those new to the fleet.  One the fleet
    pulled already and not yet matched to a push (the same row) is that SMS, not a new one."""
    yield Lock("fleet inbox:" + member)
    new: list[tuple[int, list[Any]]] = []
    for row in rows:
        fp = json.dumps(row)
        pulled = yield One(
            "SELECT id FROM inbox WHERE member=? AND fp=? AND pushed=0 AND member_id IS NOT NULL ORDER BY id LIMIT 1",
            (member, fp),
        )
        if pulled:
            yield Do("UPDATE inbox SET pushed=1 WHERE id=?", (pulled[0],))
            continue
        added = yield One(
            "INSERT INTO inbox (member, row, fp, pushed, forwarded) VALUES (?,?,?,1,0) RETURNING id", (member, fp, fp)
        )
        new.append((int(added[0]), row))
    if new:
        yield Notify("i")
    return new


def inbox_forwarded(ids: list[int]) -> Program[None]:
    """These SMS are in a recv-sms push the outbox holds (or there was nowhere to push them)."""
    if ids:
        yield Do("UPDATE inbox SET forwarded=1 WHERE id IN {ids}", (ids,))


def inbox_unforwarded() -> Program[list[tuple[int, list[Any]]]]:
    """After a restart: SMS taken in and never handed to the outbox."""
    rows = yield Rows("SELECT id, row FROM inbox WHERE forwarded=0 ORDER BY id")
    return [(int(i), json.loads(r)) for i, r in rows]


def inbox_page(first: int, limit: int, delete: bool) -> Program[tuple[list[list[Any]], int]]:
    """As a device's inbox: rows from id ``first`` (``limit`` 0: all), and the next id to ask for."""
    found = yield Rows(
        "SELECT id, row FROM inbox WHERE id >= ? ORDER BY id" + (" LIMIT ?" if limit > 0 else ""),
        (first, limit) if limit > 0 else (first,),
    )
    last_given = 0 if found else (yield LastId("inbox"))
    if delete and found:
        yield Do("DELETE FROM inbox WHERE id IN {ids}", ([int(i) for i, _ in found],))
    return [json.loads(r) for _, r in found], next_inbox_id(found, first, last_given)
