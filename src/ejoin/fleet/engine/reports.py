"""Members' status reports merged into one report stream per fleet task, in fleet numbers.

Why not ``gateway/reports.py``'s ``TaskReports``: it is driven by the send engine's ``Task``
objects and marks progress in the device store's task rows; the fleet's progress lives in its
own ledger (many members, one task), so it keeps the same rules here instead: a report when
``sr_cnt`` more units are done, every ``sr_prd`` seconds, and when the task is done; the
counts are the whole task's, the sdr/fdr rows those done since the last report.  As a device's,
reports then wait in a cache, one per (sr_url, request-level sr_cnt, request-level sr_prd), pushed
as one ``status-report`` when it holds ``sr_cnt`` reports or ``sr_prd`` seconds after its first
one (at once when ``sr_prd`` is 0).  Pushes go through the device's durable ``Outbox`` (reused as
is); the units of a report are marked reported once the outbox holds its push, so a report lost
in the cache (a crash, a lease lost) is made again from what the ledger holds unreported.

The stream is read from the ledger, not kept in memory: a member's report may land on any
replica, which records it; the task's owner (the one replica holding its lease, ``owns``) is
woken and emits what the ledger holds unreported, marking exactly those units reported.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from ...clock import Clock, Timer
from ...config import ConfigError
from ...gateway.outbox import Outbox
from ...gateway.reports import StatusReportPush, TaskReport
from ...protocol.codes import SendFailure
from ...protocol.messages import encode
from ...protocol.ports import PortAddress
from ..config import MemberConfig, member_of
from ..ledger import Counts, Ledger, TaskRow, UnitState
from ..ledger.records import DISPATCH_SPAN
from .numbering import PortMap, parse_port

log = logging.getLogger(__name__)


@dataclass
class _Open:
    row: TaskRow
    timer: Timer | None = None
    finished: bool = False
    emits: int = 0  # reports made or marked so far (counts read before one of them are stale)


@dataclass
class _Held:
    """A task's report waiting in a cache: the units it reports (by done seq), and whether it is the last."""

    task_id: int
    report: TaskReport
    seqs: list[int]
    final: bool


@dataclass
class _Cache:
    url: str
    count: int
    period: int
    held: list[_Held] = field(default_factory=list)
    timer: Timer | None = None


def batching(row: TaskRow) -> tuple[int, int]:
    """The request-level (sr_cnt, sr_prd) the task came with; a task recorded before the fleet
    batched reports has none: pushed at once, as it was then."""
    given = row.task.get("fleet_batch")
    if isinstance(given, list) and len(given) == 2:
        return max(1, int(given[0])), max(0, int(given[1]))
    return 1, 0


class ReportMerger:
    def __init__(self, ledger: Ledger, outbox: Outbox, clock: Clock, ports: PortMap, members: dict[str, Any]) -> None:
        self._ledger = ledger
        self._outbox = outbox
        self._clock = clock
        self._ports = ports
        self._members = members  # name -> MemberConfig
        self._open: dict[int, _Open] = {}
        self._caches: dict[tuple[str, int, int], _Cache] = {}
        self._held: dict[int, set[int]] = {}  # task -> units (done seqs) in a report waiting in a cache
        self._closing: set[int] = set()  # tasks whose last report waits in a cache
        # tasks whose last report is in the outbox (until the next claim forgets them): a late duplicate
        # outcome, or the notification of this replica's own, need not read them back to see it
        self._ended: set[int] = set()
        self._lock = asyncio.Lock()  # reports of several members for one task: one at a time
        # Reports being recorded, per fleet task; tasks with two or more at once (their counts read again)
        self._applying: dict[int, int] = {}
        self._contended: set[int] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._formers: dict[str, MemberConfig] = {}  # name -> MemberConfig of members removed, as they were
        # SMS members sent after they had been withdrawn and given to another member, counted here
        # since the start (the ledger keeps them with their tasks: the member list's sent_twice)
        self.sent_twice: dict[str, int] = {}
        # Told the report rows of every outcome recorded here (the dashboard's figures and live rows).
        self.on_outcomes: Callable[[list[list[Any]]], None] = lambda rows: None
        # Whether this replica emits a task's stream (it holds the task's lease); one process: always.
        self.owns: Callable[[int], bool] = lambda task_id: True

    @property
    def waiting(self) -> int:
        """Reports waiting in the caches."""
        return sum(len(cache.held) for cache in self._caches.values())

    async def track(self, task_id: int, row: TaskRow | None = None) -> None:
        """Follow the task's progress (``row``: as just recorded, else read from the ledger)."""
        if task_id in self._closing or task_id in self._open or task_id in self._ended:
            return  # its last report waits in a cache (a late duplicate outcome must not repeat it)
        if row is None:
            row = await self._ledger.task(task_id)
        if row is None or row.finished or task_id in self._open:
            return  # a finished task's last report is out (a late duplicate outcome must not repeat it)
        state = self._open[task_id] = _Open(row)
        self._arm(task_id, state)

    def _arm(self, task_id: int, state: _Open) -> None:
        if state.row.sr_prd > 0 and not state.finished:
            state.timer = self._clock.call_later(state.row.sr_prd, self._periodic, task_id)

    def _periodic(self, task_id: int) -> None:
        state = self._open.get(task_id)
        if state is None or state.finished:
            return
        task = asyncio.ensure_future(self._periodic_report(task_id, state))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _periodic_report(self, task_id: int, state: _Open) -> None:
        async with self._lock:
            if not state.finished and self._open.get(task_id) is state:
                await self._emit(task_id, state)
                self._arm(task_id, state)

    def forget(self, task_id: int) -> None:
        """The task's lease went to another replica: its stream is that one's now (with what its
        reports waiting here held: unreported in the ledger)."""
        state = self._open.pop(task_id, None)
        if state is not None and state.timer is not None:
            state.timer.cancel()
        for cache in self._caches.values():
            cache.held = [h for h in cache.held if h.task_id != task_id]
        self._held.pop(task_id, None)
        self._closing.discard(task_id)
        self._ended.discard(task_id)

    async def _former(self, member: str) -> MemberConfig | None:
        """A member removed (forced): its reports still come for what it had in its modules then."""
        config = self._formers.get(member)
        if config is None:
            settings = await self._ledger.former_member(member)
            if settings is None:
                return None
            try:
                config = member_of(settings, 0, where=f"member {member}")
            except ConfigError:
                return None
            self._formers[member] = config
        return config

    async def member_report(self, member: str, body: Any) -> None:
        """A status-report a member pushed to the fleet (possibly again: done units count once)."""
        rpts = body.get("rpts") if isinstance(body, dict) else None
        if not isinstance(rpts, list):
            return
        config: MemberConfig | None = self._members.get(member)
        removed = config is None
        if config is None:
            # What it sent after a forced removal had withdrawn it (its modules had it already, or it
            # answered no removal): the outcome of a unit nobody was given since, else sent twice.
            config = await self._former(member)
            if config is None:
                return
        for rpt in rpts:
            if not isinstance(rpt, dict):
                continue
            try:
                member_tid = int(rpt.get("tid"))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                continue
            outcomes: list[tuple[int, str | None, int, list[Any]]] = []
            for key, state in (("sdr", UnitState.SENT), ("fdr", UnitState.FAILED)):
                for r in rpt.get(key) or []:
                    if isinstance(r, list) and len(r) >= 4 and isinstance(r[0], int):
                        port = self._ports.rename(config, str(r[2]))
                        outcomes.append((r[0], port, state, [r[0], r[1], port, *r[3:]]))
            sending = rpt.get("sending")
            # the dispatch found by the member's tid and its outcomes recorded in one transaction
            fleet_task = member_tid // DISPATCH_SPAN  # the fleet task the member's tid was derived from
            before = self._open.get(fleet_task)
            seen = None if before is None else (before, before.emits)
            busy = self._applying.get(fleet_task, 0)
            self._applying[fleet_task] = busy + 1
            if busy:
                self._contended.add(fleet_task)
            try:
                found = await self._ledger.apply_report(
                    member, member_tid, outcomes, sending if isinstance(sending, int) else 0
                )
            finally:
                left = self._applying.pop(fleet_task) - 1
                if left:
                    self._applying[fleet_task] = left
            contended = fleet_task in self._contended
            if not left:
                self._contended.discard(fleet_task)
            if found is None:
                continue  # not ours (another client of the member), or from before this store
            dispatch_id, task_id, fresh, counts = found
            if fresh:
                self.on_outcomes(fresh)
                # Outcomes of the task recorded at once by another transaction here (another member's
                # report) are in neither's counts, and this replica is not notified of its own: read again.
                await self.progress(task_id, None if contended else counts, seen)
            applied = bool(fresh)
            if not applied and any(state == UnitState.SENT for _, _, state, _ in outcomes):
                # nothing of it was waiting: a report pushed again, or one of a dispatch withdrawn from it
                await self._late(member, member_tid, dispatch_id, task_id, outcomes, removed)

    async def _late(
        self,
        member: str,
        member_tid: int,
        dispatch_id: int,
        task_id: int,
        outcomes: list[tuple[int, str | None, int, list[Any]]],
        removed: bool = False,
    ) -> None:
        """What a member sent of a dispatch the fleet had withdrawn from it (down for the failover, or
        removed by force): a unit not given to another member yet takes it as its outcome (not sent
        again); one given already went out twice, which the operator is told (log, member list, metrics)."""
        sent = [(sub, port, row) for sub, port, state, row in outcomes if state == UnitState.SENT]
        late = await self._ledger.sent_late(dispatch_id, task_id, sent)
        if late is None:
            return
        applied, twice, counts = late
        if twice:
            self.sent_twice[member] = self.sent_twice.get(member, 0) + len(twice)
            log.warning(
                "member %s sent %d SMS of task %d (its tid %d) after %s had withdrawn them and given them to "
                "another member: they may have gone out twice (recipients %s of the task)",
                member,
                len(twice),
                task_id,
                member_tid,
                "its removal from the fleet" if removed else "the fleet",
                ", ".join(str(r[0]) for r in twice),
            )
        if applied:
            self.on_outcomes(applied)
            log.info("member %s sent %d withdrawn SMS of task %d: not sent again", member, len(applied), task_id)
            await self.progress(task_id, counts)

    async def outcomes(
        self,
        dispatch_id: int,
        task_id: int,
        outcomes: list[tuple[int, str | None, int, list[Any]]],
        sending: int = 0,
    ) -> bool:
        """Units of a dispatch done (by a member's report, or refused): recorded, then reported as the
        rules say.  False when none of them was waiting (a report pushed again, or of a withdrawn dispatch)."""
        fresh, _ = await self._ledger.apply(dispatch_id, task_id, outcomes, sending)
        if fresh:
            self.on_outcomes(fresh)
            # (the counts read again: a member's report recorded at once is not in these, and this
            # replica is not notified of its own outcomes)
            await self.progress(task_id)
        return bool(fresh)

    async def removed(self, task_id: int, reason: str) -> None:
        """A removed task's units never dispatched count as failed now (the rest as members report them)."""
        rows, counts = await self._ledger.remove_pending(task_id, reason, int(self._clock.time()))
        self.on_outcomes(rows)
        await self.progress(task_id, counts)

    async def ports_gone(self, ports: tuple[int, int], detail: str) -> None:
        """Units a ``to_all`` task pinned on fleet ports that left the fleet (their member removed)
        can never go: failed, and reported under the task's rules."""
        failed = await self._ledger.fail_pinned(ports, SendFailure.SEND_FAILED, detail, int(self._clock.time()))
        for task_id, rows, counts in failed:
            self.on_outcomes(rows)
            await self.progress(task_id, counts)

    async def resume(self, task_id: int) -> None:
        """After a restart or a takeover: what was done but never reported goes out under the same rules."""
        await self.progress(task_id)

    async def progress(self, task_id: int, counts: Counts | None = None, seen: tuple[_Open, int] | None = None) -> None:
        """Units of the task were done (here or on another replica): report if the rules say so.
        ``counts``: read with the outcomes just recorded; ``seen``: the task's stream and its reports
        made when they were read (none made since: they need not be read again under the lock)."""
        if not self.owns(task_id):
            return  # its owner was notified by the ledger
        if counts is not None and task_id in self._open and not self._due(self._open[task_id], counts):
            return  # nothing to report yet: spare the lock and a read
        async with self._lock:
            if task_id not in self._open:
                await self.track(task_id)
            state = self._open.get(task_id)
            if state is None or state.finished:
                return
            # read again under the lock (unless no report was made since they were): a report emitted
            # meanwhile may hold these units already
            if counts is None or seen is None or seen[0] is not state or seen[1] != state.emits:
                counts = await self._ledger.counts(task_id)
            if counts.done >= counts.total:
                state.finished = True
                if state.timer is not None:
                    state.timer.cancel()
                await self._emit(task_id, state, counts)
                del self._open[task_id]
            elif counts.done - self._reported(task_id, counts) >= state.row.sr_cnt:
                await self._emit(task_id, state, counts)

    def _reported(self, task_id: int, counts: Counts) -> int:
        """Units reported: marked so in the ledger, or in a report waiting in a cache."""
        return counts.reported + len(self._held.get(task_id, ()))

    def _due(self, state: _Open, counts: Counts) -> bool:
        return counts.done >= counts.total or counts.done - self._reported(state.row.id, counts) >= state.row.sr_cnt

    async def _emit(self, task_id: int, state: _Open, counts: Counts | None = None) -> None:
        state.emits += 1
        # The counts first (``counts``: just read under the lock), then the rows: every unit the counts
        # say is done is among the rows (or reported already), so the final report holds the last of them.
        if counts is None:
            counts = await self._ledger.counts(task_id)
        held = self._held.get(task_id, set())
        done = [(seq, r) for seq, r in await self._ledger.unreported(task_id) if seq not in held]
        row = state.row
        rows = sorted((r for _, r in done), key=lambda r: (r[0], _port_key(r[2])))
        report = TaskReport(
            tid=row.tid_echo,
            sending=counts.sending,
            sent=counts.sent,
            failed=counts.failed,
            unsent=counts.unsent,
            sdr=[r[:4] for r in rows if len(r) == 4] if row.sdr else msgspec.UNSET,
            fdr=[r for r in rows if len(r) > 4] if row.fdr else msgspec.UNSET,
        )
        seqs = [seq for seq, _ in done]
        if not row.sr_url:  # nowhere to push: reported as far as the ledger goes
            await self._ledger.mark_reported(task_id, seqs, self._clock.time(), final=state.finished)
            return
        count, period = batching(row)
        key = (row.sr_url, count, period)
        cache = self._caches.get(key)
        if cache is None:
            cache = self._caches[key] = _Cache(row.sr_url, count, period)
        cache.held.append(_Held(task_id, report, seqs, state.finished))
        held.update(seqs)
        self._held[task_id] = held
        if state.finished:
            self._closing.add(task_id)
        if len(cache.held) >= cache.count or cache.period == 0:
            await self._flush(key)
        elif cache.timer is None:
            cache.timer = self._clock.call_later(cache.period, self._cache_due, key)

    def _cache_due(self, key: tuple[str, int, int]) -> None:
        task = asyncio.ensure_future(self._flush_due(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush_due(self, key: tuple[str, int, int]) -> None:
        async with self._lock:
            await self._flush(key)

    async def _flush(self, key: tuple[str, int, int]) -> None:
        """A cache's reports in one push (under ``_lock``); their units marked reported once the outbox
        holds it.  If either step fails, the tasks report those units again (their counts are exact:
        cumulative), as they would after a crash."""
        cache = self._caches.pop(key, None)
        if cache is None:
            return
        if cache.timer is not None:
            cache.timer.cancel()
        if not cache.held:
            return
        try:
            body = StatusReportPush("status-report", len(cache.held), [h.report for h in cache.held])
            await self._outbox.push(cache.url, "status-report", encode(body))
            for h in cache.held:
                # the last report holds every unit not reported yet (all done): it finishes the task
                await self._ledger.mark_reported(h.task_id, h.seqs, self._clock.time(), final=h.final)
                marked = self._open.get(h.task_id)
                if marked is not None:
                    marked.emits += 1  # (its reported count changed)
                if h.final:
                    self._ended.add(h.task_id)
                self._let_go(h)
        except BaseException as exc:
            for h in cache.held:
                self._let_go(h)
            if isinstance(exc, Exception):  # not when stopping (cancelled): the next start reports them
                for task_id in {h.task_id for h in cache.held}:
                    task = asyncio.ensure_future(self.progress(task_id))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            raise

    def _let_go(self, h: _Held) -> None:
        held = self._held.get(h.task_id)
        if held is not None:
            held.difference_update(h.seqs)
            if not held:
                del self._held[h.task_id]
        if h.final:
            self._closing.discard(h.task_id)

    async def stop(self) -> None:
        for state in self._open.values():
            if state.timer is not None:
                state.timer.cancel()
        # reports waiting in a cache go now (a stop is not a crash: the platform need not wait for them)
        try:
            async with self._lock:
                for key in list(self._caches):
                    await self._flush(key)
        except Exception:
            log.exception("reports waiting in the cache could not be pushed; they are made again at the next start")
        for task in list(self._tasks):
            task.cancel()


def _port_key(name: Any) -> Any:
    try:
        return parse_port(str(name))
    except ValueError:
        return PortAddress(0)
