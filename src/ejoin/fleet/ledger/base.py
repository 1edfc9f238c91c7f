"""``Ledger``: the fleet's record, as the rest of the fleet sees it.

Every operation is written once (``operations.py``) and run by the subclass's executor: the
embedded SQLite store (``sqlite.py``) or PostgreSQL shared by replicas (``postgres.py``).  What
only replicas need — task leases, roles, locks across processes, the ports' last pushed entries —
is the subclass's own.
"""

from __future__ import annotations

import secrets
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

from . import operations as op
from .operations import BULK_UNITS
from .records import Counts, Figures, TaskRow, Unit
from .sql import Program
from .states import DispatchState, Hold

T = TypeVar("T")


class Ledger:
    """The fleet's record.  With several replicas on one database, each open task is *owned* by one
    replica at a time under a lease (``claim``): only its owner dispatches it and emits its reports."""

    lease: float = 0.0  # seconds a task's ownership lasts unless renewed (0: one process owns everything)
    owner: str | None = None  # this process's name in leases (None: no other process shares the record)

    async def _run(self, program: Program[T], *, read: bool = False) -> T:
        """Run an operation in one transaction (``read``: one statement alone, in autocommit: a read,
        or a write of one statement)."""
        raise NotImplementedError

    async def open(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    # --- what only replicas need (a single process has trivial answers) ---

    async def claim(self) -> tuple[list[int], list[int]]:
        """The open tasks this process owns, and those it took over (their dispatches to reconcile)."""
        raise NotImplementedError

    async def release(self) -> None:
        raise NotImplementedError

    async def lead(self, role: str) -> bool:
        """Whether this process plays ``role`` (one replica plays it for all) now."""
        raise NotImplementedError

    async def ports_changed(self, entries: dict[str, str]) -> set[str]:
        """Fleet ports' entries as this process sees them now: those whose change it is the first to see."""
        raise NotImplementedError

    def pick_lock(self) -> AbstractAsyncContextManager[None]:
        """Held from reading ports' loads and SIMs' usage to recording what was given them, so both hold."""
        raise NotImplementedError

    def members_lock(self) -> AbstractAsyncContextManager[None]:
        """One member added or removed at a time, each checked against the last."""
        raise NotImplementedError

    async def beat(self) -> int:
        """This process is alive (replicas: a lease of its own); how many replicas are, itself included."""
        return 1

    # --- the record ---

    async def ping(self) -> None:
        await self._run(op.ping(), read=True)

    async def figures(self) -> Figures:
        return await self._run(op.figures())

    async def secret(self) -> str:
        return await self._run(op.secret(secrets.token_urlsafe(16)))

    async def add_tasks(self, tasks: list[tuple[Any, dict[str, Any], dict[str, Any], list[Unit]]]) -> list[int | None]:
        # one task of a few units is one statement: no BEGIN and COMMIT around it
        alone = len(tasks) == 1 and len(tasks[0][3]) <= BULK_UNITS
        return await self._run(op.add_tasks(tasks, self.owner, self.lease), read=alone)

    async def pending(self, task_id: int) -> list[Unit]:
        return await self._run(op.pending(task_id), read=True)

    async def pending_and_busy(self, task_id: int) -> tuple[list[Unit], dict[str, int] | None]:
        return await self._run(op.pending_and_busy(task_id), read=True)

    async def open_tasks(self) -> list[TaskRow]:
        return await self._run(op.open_tasks(), read=True)

    async def task(self, task_id: int) -> TaskRow | None:
        return await self._run(op.task(task_id), read=True)

    async def find(self, tids: list[Any] | None) -> list[tuple[Any, int | None]]:
        return await self._run(op.find(tids))

    async def hold(self, task_id: int, hold: Hold) -> list[tuple[str, int]]:
        return await self._run(op.hold(task_id, hold))

    async def remove_pending(self, task_id: int, reason: str, ts: int) -> tuple[list[list[Any]], Counts]:
        return await self._run(op.remove_pending(task_id, reason, ts))

    async def counts(self, task_id: int) -> Counts:
        return await self._run(op.task_counts(task_id), read=True)

    async def unreported(self, task_id: int) -> list[tuple[int, list[Any]]]:
        return await self._run(op.unreported(task_id), read=True)

    async def mark_reported(self, task_id: int, seqs: list[int], at: float, final: bool = False) -> None:
        await self._run(op.mark_reported(task_id, seqs, at, final), read=final)  # final: one statement

    async def prune(self, finished_before: float, inbox_keep: int, unforwarded: bool) -> tuple[int, int]:
        return await self._run(op.prune(finished_before, inbox_keep, unforwarded))

    async def record_dispatch(
        self, task_id: int, member: str, units: list[tuple[Unit, str, int]], sim: str | None = None, at: float = 0
    ) -> tuple[int, int]:
        return await self._run(op.record_dispatch(task_id, member, units, sim, at))

    async def dispatch_done(self, dispatch_id: int, state: DispatchState) -> None:
        await self._run(op.dispatch_done(dispatch_id, state))

    async def dispatches_posted(self, ids: list[int]) -> None:
        if ids:
            await self._run(op.dispatches_posted(ids), read=True)  # one statement

    async def dispatch_of(self, member: str, member_tid: int) -> tuple[int, int] | None:
        return await self._run(op.dispatch_of(member, member_tid), read=True)

    async def recorded(self, task_id: int) -> list[tuple[int, str, int, list[tuple[Unit, str, int]]]]:
        return await self._run(op.recorded(task_id))

    async def apply(
        self, dispatch_id: int, task_id: int, rows: list[tuple[int, str | None, int, list[Any]]], sending: int
    ) -> tuple[list[list[Any]], Counts]:
        return await self._run(op.apply(dispatch_id, task_id, rows, sending, self.owner))

    async def apply_report(
        self, member: str, member_tid: int, rows: list[tuple[int, str | None, int, list[Any]]], sending: int
    ) -> tuple[int, int, list[list[Any]], Counts] | None:
        return await self._run(op.apply_report(member, member_tid, rows, sending, self.owner))

    async def withdraw(self, member: str) -> list[int]:
        return await self._run(op.withdraw(member))

    async def sent_late(
        self, dispatch_id: int, task_id: int, rows: list[tuple[int, str | None, list[Any]]]
    ) -> tuple[list[list[Any]], list[list[Any]], Counts] | None:
        return await self._run(op.sent_late(dispatch_id, task_id, rows))

    async def sent_twice(self) -> dict[str, int]:
        return await self._run(op.sent_twice(), read=True)

    async def withdrawn(self, member: str) -> list[int]:
        return await self._run(op.withdrawn(member), read=True)

    async def removed(self, member: str, member_tids: list[int]) -> None:
        await self._run(op.removed(member, member_tids))

    async def busy(self) -> dict[str, int]:
        return await self._run(op.busy(), read=True)

    async def sim_usage(self, hour_since: float, day_since: float) -> dict[str, tuple[int, int]]:
        return await self._run(op.sim_usage(hour_since, day_since), read=True)

    async def member_load(self, member: str, ports: tuple[int, int]) -> int:
        return await self._run(op.member_load(member, ports))

    async def fail_pinned(
        self, ports: tuple[int, int], reason: str, detail: str, ts: int
    ) -> list[tuple[int, list[list[Any]], Counts]]:
        return await self._run(op.fail_pinned(ports, reason, detail, ts))

    async def seed_members(self, members: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return await self._run(op.seed_members(members))

    async def add_member(self, settings: dict[str, Any]) -> None:
        await self._run(op.add_member(settings))

    async def remove_member(self, name: str) -> None:
        await self._run(op.remove_member(name))

    async def task_list(self, limit: int, tid: Any = None) -> list[tuple[TaskRow, Counts]]:
        return await self._run(op.task_list(limit, tid))

    async def task_units(
        self, task_id: int, limit: int
    ) -> list[tuple[int, str, str | None, int, str | None, list[Any] | None, str | None]]:
        return await self._run(op.task_units(task_id, limit), read=True)

    async def task_split(self, task_id: int) -> dict[str, dict[str, int]]:
        return await self._run(op.task_split(task_id))

    async def inbox_recent(self, limit: int) -> list[tuple[int, list[Any]]]:
        return await self._run(op.inbox_recent(limit), read=True)

    async def former_member(self, name: str) -> dict[str, Any] | None:
        return await self._run(op.former_member(name), read=True)

    async def setting(self, key: str) -> str | None:
        return await self._run(op.setting(key), read=True)

    async def set_setting(self, key: str, value: str) -> None:
        await self._run(op.set_setting(key, value))

    async def inbox_cursor(self, member: str) -> tuple[str, int]:
        return await self._run(op.inbox_cursor(member), read=True)

    async def inbox_add(
        self, member: str, ssrc: str, rows: list[tuple[int, list[Any]]], next_id: int
    ) -> list[tuple[int, list[Any]]]:
        return await self._run(op.inbox_add(member, ssrc, rows, next_id))

    async def inbox_pushed(self, member: str, rows: list[list[Any]]) -> list[tuple[int, list[Any]]]:
        return await self._run(op.inbox_pushed(member, rows))

    async def inbox_forwarded(self, ids: list[int]) -> None:
        await self._run(op.inbox_forwarded(ids))

    async def inbox_unforwarded(self) -> list[tuple[int, list[Any]]]:
        return await self._run(op.inbox_unforwarded(), read=True)

    async def inbox_page(self, first: int, limit: int, delete: bool) -> tuple[list[list[Any]], int]:
        return await self._run(op.inbox_page(first, limit, delete))
