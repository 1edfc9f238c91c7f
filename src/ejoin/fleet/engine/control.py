"""goip_pause_sms / goip_resume_sms / goip_remove_sms on fleet tasks: held in the ledger, routed to members.

A paused or removed task gets no new dispatch; its dispatches on members are paused, resumed or
removed there with the members' own tids.  What a removed task never dispatched fails at once
("8 Removed", as a device fails what it never sent); what members held comes back in their
reports as their own "8 Removed" rows.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

from ...protocol.codes import SendFailure, TaskStatus
from ..ledger import Hold, Ledger
from .members import MemberDown, MemberLink
from .reports import ReportMerger
from .sending import Dispatcher

log = logging.getLogger(__name__)

_HOLD = {"pause": Hold.PAUSED, "resume": Hold.RUNNING, "remove": Hold.REMOVED}


class TaskControl:
    def __init__(
        self, ledger: Ledger, links: dict[str, MemberLink], dispatcher: Dispatcher, reports: ReportMerger
    ) -> None:
        self._ledger = ledger
        self._links = links
        self._dispatcher = dispatcher
        self._reports = reports

    async def change(self, op: str, tids: list[Any] | None) -> list[tuple[Any, TaskStatus]]:
        results: list[tuple[Any, TaskStatus]] = []
        on_members: dict[str, list[int]] = defaultdict(list)
        touched: list[int] = []
        for tid, task_id in await self._ledger.find(tids):
            if task_id is None:
                results.append((tid, TaskStatus.TID_EXPECTED))  # as a device answers a tid it does not hold
                continue
            for member, member_tid in await self._ledger.hold(task_id, _HOLD[op]):
                on_members[member].append(member_tid)
            touched.append(task_id)
            results.append((tid, TaskStatus.OK))
        await asyncio.gather(*(self._tell(member, op, member_tids) for member, member_tids in on_members.items()))
        for task_id in touched:
            if op == "remove":
                await self._reports.removed(task_id, SendFailure.REMOVED)
            elif op == "resume":
                await self._dispatcher.dispatch(task_id)
        return results

    async def _tell(self, member: str, op: str, member_tids: list[int]) -> None:
        link = self._links.get(member)
        if link is None:
            return  # removed from the fleet: its dispatches were withdrawn and removed on it then
        try:
            await link.call(f"/goip_{op}_sms.html", body={"tids": member_tids})
        except MemberDown as exc:  # no answer, or an error answer (MemberError): its words
            log.warning("could not %s %d sub-tasks on member %s: %s", op, len(member_tids), member, exc)
