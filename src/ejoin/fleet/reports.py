"""Members' status reports merged into one report stream per fleet task, in fleet numbers.

Why not ``gateway/reports.py``'s ``TaskReports``: it is driven by the send engine's ``Task``
objects and marks progress in the device store's task rows; the fleet's progress lives in its
own ledger (many members, one task), so it keeps the same rules here instead: a report when
``sr_cnt`` more units are done, every ``sr_prd`` seconds, and when the task is done; the
counts are the whole task's, the sdr/fdr rows those done since the last report.  Pushes go
through the device's durable ``Outbox`` (reused as is).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import msgspec

from ..clock import Clock, Timer
from ..gateway.outbox import Outbox
from ..gateway.reports import StatusReportPush, TaskReport
from ..protocol.codes import SendFailure
from ..protocol.messages import encode
from ..protocol.ports import PortAddress
from .numbering import PortMap
from .store import FAILED, SENT, Counts, Ledger, TaskRow

log = logging.getLogger(__name__)


@dataclass
class _Open:
    row: TaskRow
    rows: list[list[Any]] = field(default_factory=list)
    since: int = 0
    timer: Timer | None = None
    finished: bool = False


class ReportMerger:
    def __init__(self, ledger: Ledger, outbox: Outbox, clock: Clock, ports: PortMap, members: dict[str, Any]) -> None:
        self._ledger = ledger
        self._outbox = outbox
        self._clock = clock
        self._ports = ports
        self._members = members  # name -> MemberConfig
        self._open: dict[int, _Open] = {}
        self._lock = asyncio.Lock()  # reports of several members for one task: one at a time
        self._tasks: set[asyncio.Task[Any]] = set()

    async def track(self, task_id: int) -> None:
        row = await self._ledger.task(task_id)
        if row is None or task_id in self._open:
            return
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
            if not state.finished:
                await self._emit(task_id, state)
                self._arm(task_id, state)

    async def member_report(self, member: str, body: Any) -> None:
        """A status-report a member pushed to the fleet (possibly again: done units count once)."""
        config = self._members.get(member)
        rpts = body.get("rpts") if isinstance(body, dict) else None
        if config is None or not isinstance(rpts, list):
            return
        for rpt in rpts:
            if not isinstance(rpt, dict):
                continue
            try:
                member_tid = int(rpt.get("tid"))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                continue
            found = await self._ledger.dispatch_of(member, member_tid)
            if found is None:
                continue  # not ours (another client of the member), or from before this store
            dispatch_id, task_id = found
            outcomes: list[tuple[int, str | None, int, list[Any]]] = []
            for key, state in (("sdr", SENT), ("fdr", FAILED)):
                for r in rpt.get(key) or []:
                    if isinstance(r, list) and len(r) >= 4 and isinstance(r[0], int):
                        port = self._ports.rename(config, str(r[2]))
                        outcomes.append((r[0], port, state, [r[0], r[1], port, *r[3:]]))
            sending = rpt.get("sending")
            await self.outcomes(dispatch_id, task_id, outcomes, sending if isinstance(sending, int) else 0)

    async def outcomes(
        self,
        dispatch_id: int,
        task_id: int,
        outcomes: list[tuple[int, str | None, int, list[Any]]],
        sending: int = 0,
    ) -> None:
        """Units of a dispatch done (by a member's report, or refused): recorded, then reported as the rules say."""
        async with self._lock:
            fresh, counts = await self._ledger.apply(dispatch_id, task_id, outcomes, sending)
            await self._progress(task_id, fresh, counts)

    async def removed(self, task_id: int, reason: str) -> None:
        """A removed task's units never dispatched count as failed now (the rest as members report them)."""
        async with self._lock:
            fresh, counts = await self._ledger.remove_pending(task_id, reason, int(self._clock.time()))
            await self._progress(task_id, fresh, counts)

    async def ports_gone(self, ports: tuple[int, int], detail: str) -> None:
        """Units a ``to_all`` task pinned on fleet ports that left the fleet (their member removed)
        can never go: failed, and reported under the task's rules."""
        async with self._lock:
            failed = await self._ledger.fail_pinned(ports, SendFailure.SEND_FAILED, detail, int(self._clock.time()))
            for task_id, fresh, counts in failed:
                await self._progress(task_id, fresh, counts)

    async def resume(self, task_id: int) -> None:
        """After a restart: what was done but never reported goes out under the same rules."""
        async with self._lock:
            await self._progress(task_id, await self._ledger.unreported(task_id))

    async def _progress(self, task_id: int, fresh: list[list[Any]], counts: Counts | None = None) -> None:
        if task_id not in self._open:
            await self.track(task_id)
        state = self._open.get(task_id)
        if state is None or state.finished:
            return
        state.rows.extend(fresh)
        state.since += len(fresh)
        if counts is None:
            counts = await self._ledger.counts(task_id)
        if counts.done >= counts.total:
            state.finished = True
            if state.timer is not None:
                state.timer.cancel()
            await self._emit(task_id, state, counts)
            del self._open[task_id]
        elif state.since >= state.row.sr_cnt:
            await self._emit(task_id, state, counts)

    async def _emit(self, task_id: int, state: _Open, counts: Counts | None = None) -> None:
        if counts is None:
            counts = await self._ledger.counts(task_id)
        row = state.row
        rows = sorted(state.rows, key=lambda r: (r[0], _port_key(r[2])))
        report = TaskReport(
            tid=row.tid_echo,
            sending=counts.sending,
            sent=counts.sent,
            failed=counts.failed,
            unsent=counts.unsent,
            sdr=[r[:4] for r in rows if len(r) == 4] if row.sdr else msgspec.UNSET,
            fdr=[r for r in rows if len(r) > 4] if row.fdr else msgspec.UNSET,
        )
        state.rows = []
        state.since = 0
        if row.sr_url:
            await self._outbox.push(row.sr_url, "status-report", encode(StatusReportPush("status-report", 1, [report])))
        await self._ledger.mark_reported(task_id)

    async def stop(self) -> None:
        for state in self._open.values():
            if state.timer is not None:
                state.timer.cancel()
        for task in list(self._tasks):
            task.cancel()


def _port_key(name: Any) -> Any:
    try:
        return PortAddress.parse(str(name))
    except ValueError:
        return PortAddress(0)
