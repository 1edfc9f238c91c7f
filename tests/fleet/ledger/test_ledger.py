"""The ledger's contract, run on both stores (embedded SQLite and PostgreSQL) so they cannot drift;
then what only a shared PostgreSQL adds: two replicas at once on one record."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from ejoin.fleet.ledger import Conflict, DispatchState, Hold, Ledger, SqliteLedger, Unit, UnitState, member_tid

SENT, FAILED = UnitState.SENT, UnitState.FAILED
POSTED, REFUSED = DispatchState.POSTED, DispatchState.REFUSED
PAUSED, REMOVED = Hold.PAUSED, Hold.REMOVED

RULES = {"sr_url": "http://platform/r", "sr_cnt": 10, "sr_prd": 0, "sdr": True, "fdr": True}
Factory = Callable[[], Awaitable[Ledger]]


def units(n: int, port: str | None = None) -> list[Unit]:
    return [Unit(i, f"1380000{i:04d}", port) for i in range(n)]


@pytest.fixture(params=["sqlite", "postgresql"])
async def make(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Factory]:
    """Ledgers on one store: each call is another replica (PostgreSQL) or the same file (SQLite)."""
    opened: list[Ledger] = []

    async def factory(lease: float = 30.0) -> Ledger:
        ledger: Ledger
        if request.param == "sqlite":
            ledger = SqliteLedger(tmp_path / "fleet.sqlite3")
        else:
            from ejoin.fleet.ledger.pgdb import PgDatabase
            from ejoin.fleet.ledger.postgres import PgLedger

            url = request.getfixturevalue("pg_url") if not opened else make.url  # type: ignore[attr-defined]
            make.url = url  # type: ignore[attr-defined]
            ledger = PgLedger(PgDatabase(url, lease=lease))
        await ledger.open()
        opened.append(ledger)
        return ledger

    make = factory
    try:
        yield factory
    finally:
        for ledger in reversed(opened):
            await ledger.close()


async def new_task(ledger: Ledger, tid: Any, n: int, port: str | None = None) -> int:
    (task_id,) = await ledger.add_tasks([(tid, {"tid": tid, "sms": "x"}, RULES, units(n, port))])
    assert task_id is not None
    return task_id


def sent(sub: int, port: str = "1.01") -> tuple[int, str, int, list[Any]]:
    return (sub, port, SENT, [sub, "n", port, 1700000000])


async def test_a_task_is_stored_with_its_units_and_one_open_task_per_tid(make: Factory) -> None:
    ledger = await make()
    first = await new_task(ledger, 5001, 3)
    again, other = await ledger.add_tasks([(5001, {}, RULES, units(1)), ("5002", {"tid": "5002"}, RULES, units(2))])
    assert again is None and other is not None and other != first
    row = await ledger.task(first)
    assert row is not None
    assert (row.tid_echo, row.task, row.sr_url, row.sr_cnt, row.sdr, row.hold) == (
        5001,
        {"tid": 5001, "sms": "x"},
        "http://platform/r",
        10,
        True,
        0,
    )
    assert [u.number for u in await ledger.pending(first)] == [u.number for u in units(3)]
    assert [r.id for r in await ledger.open_tasks()] == [first, other]
    # a tid sent as a string names the task sent as a number; unknown tids are not open
    assert await ledger.find([5001, "5002", "5001", 9]) == [(5001, first), ("5002", other), ("5001", first), (9, None)]
    assert await ledger.find(None) == [(5001, first), ("5002", other)]
    assert await ledger.secret() == await ledger.secret() != ""


async def test_a_dispatch_takes_pending_units_once(make: Factory) -> None:
    ledger = await make()
    task_id = await new_task(ledger, 1, 4)
    todo = await ledger.pending(task_id)
    dispatch_id, tid = await ledger.record_dispatch(task_id, "a", [(u, "1.01", i) for i, u in enumerate(todo[:3])])
    assert tid == member_tid(task_id, 1)
    assert [u.idx for u in await ledger.pending(task_id)] == [3]
    with pytest.raises(Conflict):  # a second pass with a stale view takes nothing
        await ledger.record_dispatch(task_id, "b", [(todo[0], "5.01", 0), (todo[3], "5.01", 1)])
    assert [u.idx for u in await ledger.pending(task_id)] == [3]  # the conflict took nothing
    assert await ledger.busy() == {"1.01": 3}
    assert await ledger.dispatch_of("a", tid) == (dispatch_id, task_id)
    assert await ledger.dispatch_of("b", tid) is None
    counts = await ledger.counts(task_id)
    assert (counts.total, counts.sent, counts.sending, counts.unsent) == (4, 0, 0, 4)
    # not answered yet: the dispatch may or may not have reached its member
    [(rid, member, rtid, held)] = await ledger.recorded(task_id)
    assert (rid, member, rtid) == (dispatch_id, "a", tid)
    assert [(u.idx, via, sub) for u, via, sub in held] == [(0, "1.01", 0), (1, "1.01", 1), (2, "1.01", 2)]
    await ledger.dispatch_done(dispatch_id, POSTED)
    assert await ledger.recorded(task_id) == []


async def test_a_refused_dispatch_frees_its_units(make: Factory) -> None:
    ledger = await make()
    task_id = await new_task(ledger, 1, 2)
    dispatch_id, _ = await ledger.record_dispatch(task_id, "a", [(u, "1.01", i) for i, u in enumerate(units(2))])
    await ledger.dispatch_done(dispatch_id, REFUSED)
    assert len(await ledger.pending(task_id)) == 2 and await ledger.busy() == {}
    _, tid = await ledger.record_dispatch(task_id, "a", [(u, "1.01", i) for i, u in enumerate(units(2))])
    assert tid == member_tid(task_id, 2)


async def test_outcomes_count_once_and_reports_mark_exactly_what_they_hold(make: Factory) -> None:
    ledger = await make()
    task_id = await new_task(ledger, 1, 3)
    dispatch_id, _ = await ledger.record_dispatch(task_id, "a", [(u, "1.01", i) for i, u in enumerate(units(3))])
    await ledger.dispatch_done(dispatch_id, POSTED)
    fresh, counts = await ledger.apply(dispatch_id, task_id, [sent(1), sent(0)], sending=1)
    assert fresh == [[1, "n", "1.01", 1700000000], [0, "n", "1.01", 1700000000]]
    assert (counts.sent, counts.failed, counts.sending, counts.unsent, counts.reported) == (2, 0, 1, 0, 0)
    again, counts = await ledger.apply(dispatch_id, task_id, [sent(1), sent(0)], sending=1)
    assert again == [] and counts.sent == 2  # a report pushed twice counts once
    first = await ledger.unreported(task_id)
    assert [row[0] for _, row in first] == [1, 0]  # in the order they were done
    failed = (2, "1.01", FAILED, [2, "n", "1.01", 1700000001, "1 Unknown", ""])
    fresh, counts = await ledger.apply(dispatch_id, task_id, [failed], sending=0)
    assert (counts.sent, counts.failed, counts.done, counts.total) == (2, 1, 3, 3)
    await ledger.mark_reported(task_id, [seq for seq, _ in first], 1000.0)  # a report of the first two only
    assert [row for _, row in await ledger.unreported(task_id)] == [[2, "n", "1.01", 1700000001, "1 Unknown", ""]]
    assert (await ledger.counts(task_id)).reported == 2
    assert [r.id for r in await ledger.open_tasks()] == [task_id]
    await ledger.mark_reported(task_id, [seq for seq, _ in await ledger.unreported(task_id)], 1000.0)
    assert await ledger.open_tasks() == []  # all done and reported: finished, its tid free again
    assert await ledger.find([1]) == [(1, None)]
    assert await new_task(ledger, 1, 1) != task_id


async def test_a_final_report_finishes_its_task_only_once_every_unit_is_done(make: Factory) -> None:
    ledger = await make()
    task_id = await new_task(ledger, 1, 2)
    dispatch_id, _ = await ledger.record_dispatch(task_id, "a", [(u, "1.01", i) for i, u in enumerate(units(2))])
    await ledger.dispatch_done(dispatch_id, POSTED)
    await ledger.apply(dispatch_id, task_id, [sent(0)], sending=1)
    await ledger.mark_reported(task_id, [seq for seq, _ in await ledger.unreported(task_id)], 1000.0, final=True)
    assert [r.id for r in await ledger.open_tasks()] == [task_id]  # one unit still sending: not final
    await ledger.apply(dispatch_id, task_id, [sent(1)], sending=0)
    await ledger.mark_reported(task_id, [seq for seq, _ in await ledger.unreported(task_id)], 1000.0, final=True)
    assert await ledger.open_tasks() == []
    assert await ledger.find([1]) == [(1, None)]  # its tid free again


async def test_to_all_outcomes_are_told_apart_by_port(make: Factory) -> None:
    ledger = await make()
    (task_id,) = await ledger.add_tasks([(1, {}, RULES, units(2, "2") + units(2, "7"))])
    assert task_id is not None
    todo = await ledger.pending(task_id)
    dispatch_id, _ = await ledger.record_dispatch(task_id, "a", [(u, str(u.port), u.idx) for u in todo])
    fresh, counts = await ledger.apply(dispatch_id, task_id, [sent(0, "7.01"), sent(0, "2.01")], 0)
    assert sorted(r[2] for r in fresh) == ["2.01", "7.01"] and counts.sent == 2
    fresh, _ = await ledger.apply(dispatch_id, task_id, [sent(0, "7.01")], 0)
    assert fresh == []


async def test_failover_withdraws_what_has_no_outcome(make: Factory) -> None:
    ledger = await make()
    task_id = await new_task(ledger, 1, 3)
    dispatch_id, tid = await ledger.record_dispatch(task_id, "a", [(u, "1.01", i) for i, u in enumerate(units(3))])
    await ledger.dispatch_done(dispatch_id, POSTED)
    await ledger.apply(dispatch_id, task_id, [sent(0)], 0)
    assert await ledger.withdraw("b") == []
    assert await ledger.withdraw("a") == [task_id]
    assert [u.idx for u in await ledger.pending(task_id)] == [1, 2]
    assert await ledger.withdrawn("a") == [tid]
    fresh, _ = await ledger.apply(dispatch_id, task_id, [sent(1)], 0)
    assert fresh == []  # a late report of a withdrawn dispatch is ignored: the units may go elsewhere
    await ledger.removed("a", [tid])
    assert await ledger.withdrawn("a") == []


async def test_what_a_member_sent_after_a_withdrawal_is_taken_once(make: Factory) -> None:
    ledger = await make()
    task_id = await new_task(ledger, 1, 4)
    four = units(4)
    dispatch_id, _ = await ledger.record_dispatch(task_id, "a", [(u, "1.01", i) for i, u in enumerate(four)])
    await ledger.dispatch_done(dispatch_id, POSTED)
    await ledger.apply(dispatch_id, task_id, [sent(0)], 0)
    assert await ledger.sent_late(dispatch_id, task_id, []) is None  # not withdrawn: a report pushed again
    assert await ledger.withdraw("a") == [task_id]
    # units 1 and 2 go to member b; 3 waits (pending) for a port
    other, _ = await ledger.record_dispatch(task_id, "b", [(four[1], "5.01", 0), (four[2], "5.01", 1)])
    await ledger.dispatch_done(other, POSTED)

    def late(sub: int) -> tuple[int, str, list[Any]]:
        return (sub, "1.01", [sub, four[sub].number, "1.01", 1700000000])

    result = await ledger.sent_late(dispatch_id, task_id, [late(0), late(1), late(3)])
    assert result is not None
    applied, twice, counts = result
    assert [r[0] for r in applied] == [3]  # still pending: a's outcome, the task's recipient index
    assert [r[0] for r in twice] == [1]  # b has it too
    assert (counts.sent, counts.total) == (2, 4)  # unit 0 before the failover, unit 3 now
    assert [u.idx for u in await ledger.pending(task_id)] == []
    again = await ledger.sent_late(dispatch_id, task_id, [late(1), late(3)])  # the member pushes it again
    assert again is not None and again[:2] == ([], [])
    assert await ledger.sent_twice() == {"a": 1}


async def test_hold_and_remove(make: Factory) -> None:
    ledger = await make()
    task_id = await new_task(ledger, 1, 3)
    dispatch_id, tid = await ledger.record_dispatch(task_id, "a", [(units(3)[0], "1.01", 0)])
    assert await ledger.hold(task_id, PAUSED) == [("a", tid)]
    assert (await ledger.task(task_id)).hold == PAUSED  # type: ignore[union-attr]
    await ledger.hold(task_id, REMOVED)
    await ledger.hold(task_id, 0)  # a removed task stays removed
    assert (await ledger.task(task_id)).hold == REMOVED  # type: ignore[union-attr]
    fresh, counts = await ledger.remove_pending(task_id, "8 Removed", 1700000000)
    assert fresh == [
        [1, units(3)[1].number, "", 1700000000, "8 Removed", ""],
        [2, units(3)[2].number, "", 1700000000, "8 Removed", ""],
    ]
    assert (counts.failed, counts.total, counts.unsent) == (2, 3, 1)


async def test_sim_usage_counts_units_given_to_each_sim_in_both_windows(make: Factory) -> None:
    ledger = await make()
    task_id = await new_task(ledger, 1, 5)
    todo = units(5)
    await ledger.record_dispatch(task_id, "a", [(todo[0], "1.01", 0), (todo[1], "1.01", 1)], "sim-1", at=1000.0)
    await ledger.record_dispatch(task_id, "a", [(todo[2], "1.01", 0)], "sim-1", at=5000.0)
    refused, _ = await ledger.record_dispatch(task_id, "b", [(todo[3], "5.01", 0)], "sim-2", at=5000.0)
    await ledger.dispatch_done(refused, REFUSED)
    assert await ledger.sim_usage(4000.0, 0.0) == {"sim-1": (1, 3)}


async def test_the_merged_inbox_keeps_each_members_sms_once(make: Factory) -> None:
    ledger = await make()
    assert await ledger.inbox_cursor("a") == ("", 1)
    assert await ledger.inbox_page(1, 0, False) == ([], 1)
    await ledger.inbox_add("a", "s1", [(1, ["m1"]), (2, ["m2"])], 3)
    await ledger.inbox_add("a", "s1", [(2, ["m2"])], 3)  # read again: kept once
    await ledger.inbox_add("b", "s9", [(7, ["b7"])], 8)
    assert await ledger.inbox_cursor("a") == ("s1", 3)
    rows, next_id = await ledger.inbox_page(1, 2, False)
    assert (rows, next_id) == ([["m1"], ["m2"]], 3)
    rows, after = await ledger.inbox_page(next_id, 0, True)  # (ids may skip: a row read twice used one)
    assert rows == [["b7"]] and after > next_id
    assert await ledger.inbox_page(after, 0, False) == ([], after)  # deleted, and the ids go on from there
    assert await ledger.inbox_page(1, 0, False) == ([["m1"], ["m2"]], 3)


async def test_the_first_claim_takes_over_every_open_task(make: Factory) -> None:
    ledger = await make()
    first = await new_task(ledger, 1, 1)
    owned, _ = await ledger.claim()
    assert owned == [first]
    second = await new_task(ledger, 2, 1)
    owned, taken = await ledger.claim()
    assert owned == [first, second] and taken == []  # its own, renewed


# --- PostgreSQL only: replicas on one database ---------------------------------------------------


@pytest.fixture
async def replicas(pg_url: str) -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    from ejoin.fleet.ledger.pgdb import PgDatabase
    from ejoin.fleet.ledger.postgres import PgLedger

    opened: list[Any] = []

    async def replica(lease: float = 30.0) -> Any:
        ledger = PgLedger(PgDatabase(pg_url, lease=lease))
        await ledger.open()
        opened.append(ledger)
        return ledger

    try:
        yield replica
    finally:
        for ledger in opened:
            await ledger.close()


async def test_a_task_is_owned_by_one_replica_until_its_lease_expires(replicas: Any) -> None:
    a, b, c = await replicas(lease=0), await replicas(), await replicas()
    task_id = await new_task(a, 1, 1)  # accepted by a, whose leases expire at once
    owned_b, taken_b = await b.claim()
    assert owned_b == taken_b == [task_id]  # b took over: a stopped renewing
    assert await c.claim() == ([], [])  # b holds it
    await b.release()  # b stopping: free at once
    assert await c.claim() == ([task_id], [task_id])


async def test_two_replicas_never_dispatch_one_unit_twice(replicas: Any) -> None:
    a, b = await replicas(), await replicas()
    task_id = await new_task(a, 1, 50)
    todo = await a.pending(task_id)
    results = await asyncio.gather(
        a.record_dispatch(task_id, "a", [(u, "1.01", i) for i, u in enumerate(todo)]),
        b.record_dispatch(task_id, "b", [(u, "5.01", i) for i, u in enumerate(todo)]),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "tuple"]
    assert await a.busy() in ({"1.01": 50}, {"5.01": 50})


async def test_a_report_pushed_to_two_replicas_at_once_counts_once(replicas: Any) -> None:
    a, b = await replicas(), await replicas()
    task_id = await new_task(a, 1, 40)
    dispatch_id, _ = await a.record_dispatch(task_id, "a", [(u, "1.01", i) for i, u in enumerate(units(40))])
    rows = [sent(i) for i in range(40)]
    (fresh_a, _), (fresh_b, _) = await asyncio.gather(
        a.apply(dispatch_id, task_id, rows, 0), b.apply(dispatch_id, task_id, rows, 0)
    )
    assert sorted(r[0] for r in fresh_a + fresh_b) == list(range(40))
    counts = await b.counts(task_id)
    assert (counts.sent, counts.done) == (40, 40)
    assert len({seq for seq, _ in await a.unreported(task_id)}) == 40


async def test_one_open_tid_across_replicas_accepting_at_once(replicas: Any) -> None:
    a, b = await replicas(), await replicas()
    results = await asyncio.gather(*(r.add_tasks([(77, {}, RULES, units(1))]) for r in (a, b, a, b)))
    assert sorted(r[0] is None for r in results) == [False, True, True, True]


async def test_the_outcomes_of_another_replica_are_notified(replicas: Any) -> None:
    a, b = await replicas(), await replicas()
    seen: asyncio.Queue[str] = asyncio.Queue()
    a.db.on_notify(seen.put_nowait)
    task_id = await new_task(a, 1, 1)
    dispatch_id, _ = await a.record_dispatch(task_id, "a", [(units(1)[0], "1.01", 0)])
    await asyncio.wait_for(a.db.listening.wait(), 10)
    await b.apply(dispatch_id, task_id, [sent(0)], 0)
    notes = [await asyncio.wait_for(seen.get(), 10)]
    while notes[-1] == "*":  # the listener's own connection: everyone looks again
        notes.append(await asyncio.wait_for(seen.get(), 10))
    assert notes[-1] == f"t{task_id}"


class Pushes:
    """The outbox as the report merger sees it: what it was given to push."""

    def __init__(self) -> None:
        self.reports: list[dict[str, Any]] = []

    async def push(self, url: str, kind: str, body: bytes) -> int:
        import msgspec

        self.reports.extend(msgspec.json.decode(body)["rpts"])
        return len(self.reports)


async def test_a_late_call_after_the_final_report_sends_no_second_one(make: Factory) -> None:
    # e.g. a replica's notification of the last outcomes, arriving after the final report went out
    from ejoin.clock import VirtualClock
    from ejoin.fleet.engine.numbering import PortMap
    from ejoin.fleet.engine.reports import ReportMerger

    ledger = await make()
    task_id = await new_task(ledger, 5101, 3)
    pushes = Pushes()
    merger = ReportMerger(ledger, pushes, VirtualClock(), PortMap([]), {})  # type: ignore[arg-type]
    await merger.track(task_id)
    dispatch_id, _ = await ledger.record_dispatch(task_id, "a", [(u, "1.01", u.idx) for u in units(3)])
    await merger.outcomes(dispatch_id, task_id, [sent(i) for i in range(3)])
    assert [(r["sent"], r["unsent"], len(r["sdr"])) for r in pushes.reports] == [(3, 0, 3)]
    await merger.progress(task_id)
    await merger.resume(task_id)
    assert len(pushes.reports) == 1


async def finished_task(ledger: Ledger, tid: Any, at: float) -> int:
    task_id = await new_task(ledger, tid, 1)
    dispatch_id, _ = await ledger.record_dispatch(task_id, "a", [(units(1)[0], "1.01", 0)])
    await ledger.dispatch_done(dispatch_id, POSTED)
    await ledger.apply(dispatch_id, task_id, [sent(0)], sending=0)
    await ledger.mark_reported(task_id, [seq for seq, _ in await ledger.unreported(task_id)], at, final=True)
    assert task_id not in [r.id for r in await ledger.open_tasks()]
    return task_id


async def test_prune_drops_tasks_finished_before_the_retention_with_their_records(make: Factory) -> None:
    ledger = await make()
    old = await finished_task(ledger, 1, at=1000.0)
    recent = await finished_task(ledger, 2, at=5000.0)
    still_open = await new_task(ledger, 3, 1)
    assert await ledger.prune(4000.0, 100, False) == (1, 0)
    assert await ledger.task(old) is None
    assert (await ledger.counts(old)).total == 0  # its units went with it
    assert await ledger.task(recent) is not None and await ledger.task(still_open) is not None
    assert await ledger.prune(4000.0, 100, False) == (0, 0)
    assert await ledger.prune(6000.0, 100, False) == (1, 0)
    assert await ledger.task(still_open) is not None  # open tasks are never pruned


async def test_prune_keeps_a_task_whose_withdrawn_dispatch_is_not_removed_on_its_member_yet(make: Factory) -> None:
    ledger = await make()
    task_id = await new_task(ledger, 1, 1)
    first, tid = await ledger.record_dispatch(task_id, "a", [(units(1)[0], "1.01", 0)])
    await ledger.dispatch_done(first, POSTED)
    assert await ledger.withdraw("a") == [task_id]  # failover: the unit goes to member b
    again, _ = await ledger.record_dispatch(task_id, "b", [(units(1)[0], "5.01", 0)])
    await ledger.dispatch_done(again, POSTED)
    await ledger.apply(again, task_id, [sent(0, "5.01")], sending=0)
    await ledger.mark_reported(task_id, [seq for seq, _ in await ledger.unreported(task_id)], 1000.0, final=True)
    assert await ledger.prune(4000.0, 100, False) == (0, 0)  # the record that removes it on a when a is back
    await ledger.removed("a", [tid])
    assert await ledger.prune(4000.0, 100, False) == (1, 0)


async def test_a_post_answered_after_a_failover_leaves_its_dispatch_withdrawn(make: Factory) -> None:
    ledger = await make()
    task_id = await new_task(ledger, 1, 2)
    dispatch_id, tid = await ledger.record_dispatch(task_id, "a", [(u, "1.01", i) for i, u in enumerate(units(2))])
    assert await ledger.withdraw("a") == [task_id]  # the post still on its way when a fails over
    await ledger.dispatch_done(dispatch_id, POSTED)  # then it answers
    assert await ledger.withdrawn("a") == [tid]  # still to be removed on a when it is back
    number = units(1)[0].number
    late = await ledger.sent_late(dispatch_id, task_id, [(0, "1.01", [0, number, "1.01", 1700000000])])
    assert late is not None and len(late[0]) == 1  # and what a sent of it is taken from its report
    await ledger.dispatch_done(dispatch_id, REFUSED)  # a refusal coming now frees nothing more
    assert [u.idx for u in await ledger.pending(task_id)] == [1]
    await ledger.removed("a", [tid])
    await ledger.removed("a", [tid])  # once
    assert await ledger.withdrawn("a") == []


async def test_prune_keeps_the_newest_received_sms(make: Factory) -> None:
    ledger = await make()
    added = await ledger.inbox_add("a", "s1", [(i, [f"m{i}"]) for i in range(1, 6)], 6)
    assert [row for _, row in added] == [[f"m{i}"] for i in range(1, 6)]
    await ledger.inbox_forwarded([i for i, _ in added[:4]])  # m5 not pushed to the platform yet
    assert await ledger.prune(0.0, 2, False) == (0, 3)  # m1-m3: the newest two kept, and m5 unpushed
    assert (await ledger.inbox_page(1, 0, False))[0] == [["m4"], ["m5"]]
    assert await ledger.prune(0.0, 1, False) == (0, 1)
    assert (await ledger.inbox_page(1, 0, False))[0] == [["m5"]]
    await ledger.inbox_add("a", "s1", [(6, ["m6"])], 7)
    assert await ledger.prune(0.0, 1, True) == (0, 1)  # nowhere to push them: unpushed ones go too
    assert (await ledger.inbox_page(1, 0, False))[0] == [["m6"]]


async def test_prune_takes_a_pruned_tasks_late_reports_with_it(make: Factory) -> None:
    ledger = await make()
    task_id = await new_task(ledger, 1, 1)
    first, tid = await ledger.record_dispatch(task_id, "a", [(units(1)[0], "1.01", 0)])
    await ledger.dispatch_done(first, POSTED)
    await ledger.withdraw("a")
    again, _ = await ledger.record_dispatch(task_id, "b", [(units(1)[0], "5.01", 0)])
    await ledger.dispatch_done(again, POSTED)
    await ledger.apply(again, task_id, [sent(0, "5.01")], sending=0)
    late = await ledger.sent_late(first, task_id, [(0, "1.01", [0, units(1)[0].number, "1.01", 1700000000])])
    assert late is not None and len(late[1]) == 1  # a sent it too: counted twice
    assert await ledger.sent_twice() == {"a": 1}
    await ledger.mark_reported(task_id, [seq for seq, _ in await ledger.unreported(task_id)], 1000.0, final=True)
    await ledger.removed("a", [tid])
    assert await ledger.prune(4000.0, 100, False) == (1, 0)
    assert await ledger.sent_twice() == {}
    assert await late_rows(ledger) == 0  # gone with its task, no row left behind


async def late_rows(ledger: Ledger) -> int:
    if isinstance(ledger, SqliteLedger):
        with sqlite3.connect(ledger.path) as db:
            return int(db.execute("SELECT COUNT(*) FROM sent_late").fetchone()[0])
    async with ledger.db.pool.connection() as conn:  # type: ignore[attr-defined]
        return int((await (await conn.execute("SELECT COUNT(*) FROM sent_late")).fetchone())[0])


async def test_a_members_report_finds_its_dispatch_by_tid_and_counts_once(make: Factory) -> None:
    """The report of a member applied in one operation: its dispatch found by the member's tid, its
    outcomes recorded, the task's counts after (one transaction: on PostgreSQL, pipelined)."""
    ledger = await make()
    task_id = await new_task(ledger, 77, 3)
    dispatch_id, tid = await ledger.record_dispatch(task_id, "a", [(u, "1.01", i) for i, u in enumerate(units(3))])
    await ledger.dispatch_done(dispatch_id, POSTED)
    assert await ledger.apply_report("a", tid + 1, [sent(0)], 0) is None  # no such dispatch
    assert await ledger.apply_report("b", tid, [sent(0)], 0) is None  # another member's tid
    found = await ledger.apply_report("a", tid, [sent(0), sent(1)], 1)
    assert found is not None
    got_dispatch, got_task, fresh, counts = found
    assert (got_dispatch, got_task, [r[0] for r in fresh]) == (dispatch_id, task_id, [0, 1])
    assert (counts.sent, counts.sending, counts.unsent) == (2, 1, 0)
    again = await ledger.apply_report("a", tid, [sent(0), sent(1)], 1)  # pushed again: nothing new
    assert again is not None and again[2] == [] and again[3].sent == 2


@pytest.mark.parametrize("n", [3, 1500])  # a few units go with the task's row; many in bulk (COPY)
async def test_a_task_of_many_units_is_stored_as_one_of_few(make: Factory, n: int) -> None:
    ledger = await make()
    task_id = await new_task(ledger, 88, n)
    assert [u.number for u in await ledger.pending(task_id)] == [u.number for u in units(n)]
    assert (await ledger.counts(task_id)).total == n
