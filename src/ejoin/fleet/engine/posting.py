"""Sub-tasks posted to a member several to a request (``goip_post_sms`` takes a list of tasks).

One post per member is on its way at a time; sub-tasks dispatched meanwhile (other fleet tasks
accepted at once) wait and go together in the next one.  A lone sub-task goes at once, so this adds
no delay; under load, a member gets a handful of requests instead of one per fleet task, and each of
its answers is shared out by tid.  Each sub-task's fate is what it was alone: its own status in the
member's answer, or ``MemberDown`` for every sub-task of a post that got no answer (recorded before
the post, they wait for the member, as one would).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ...protocol.operations import POST_SMS
from .members import MemberDown, MemberLink

log = logging.getLogger(__name__)

# At most this many sub-tasks, or recipients (past the first sub-task), in one post: well inside what
# a device takes in one request (its own max_tasks_per_request and body limits), and a post that
# fails takes no more with it than that.
MAX_TASKS = 32
MAX_RECIPIENTS = 20_000
REPORTS_PER_PUSH = 100  # the request-level sr_cnt given members (a device's default)


Waiting = list[tuple[dict[str, Any], "asyncio.Future[tuple[str, Any]]", Any]]


class SubTaskPoster:
    """``answered(keys)``: told, before any of their posters hears, the ``key`` of every sub-task of a
    post the member answered (each with a status of its own, accepted or refused): the record of a
    post written once for all of its sub-tasks."""

    def __init__(
        self,
        link: MemberLink,
        report_url: Callable[[], str],
        answered: Callable[[list[Any]], Awaitable[None]] | None = None,
    ) -> None:
        self.link = link
        self._report_url = report_url
        self._answered = answered
        self._waiting: Waiting = []
        self._sender: asyncio.Task[None] | None = None

    async def post(self, sub_task: dict[str, Any], key: Any = None) -> tuple[str, Any]:
        """(the member's status for this sub-task, its whole answer), or ``MemberDown``."""
        done: asyncio.Future[tuple[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting.append((sub_task, done, key))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.ensure_future(self._send())
        return await done

    async def _send(self) -> None:
        while self._waiting:
            batch = self._take()
            # request sr_prd 0: the member keeps no report in its cache (a box pushes each at once; an
            # ejoin gateway at once too, or with those due while a push of it is on its way, up to
            # sr_cnt: one push per round trip of the fleet under load, not one per sub-task)
            body = {
                "type": "send-sms",
                "sr_url": self._report_url(),
                "sr_cnt": REPORTS_PER_PUSH,
                "sr_prd": 0,
                "tasks": [task for task, _, _ in batch],
            }
            try:
                answer = await self.link.call(POST_SMS.path, body=body)
                if self._answered is not None:
                    await self._answered([key for _, _, key in batch])
            except MemberDown as exc:
                _no_answer(batch, str(exc))
                continue
            except Exception as exc:  # the answer could not be recorded: as if there was none (reconciled)
                log.warning("member %s: the answer to a post could not be recorded: %s", self.link.name, exc)
                _no_answer(batch, f"member {self.link.name}: answer not recorded")
                continue
            except BaseException:
                # cancelled (the fleet stops): whoever still waits learns that its post got no answer
                _no_answer(batch + self._waiting, f"member {self.link.name}: post abandoned")
                self._waiting = []
                raise
            statuses = _statuses(answer)
            for task, done, _ in batch:
                if not done.done():
                    done.set_result((statuses.get(str(task.get("tid")), ""), answer))

    def _take(self) -> Waiting:
        batch: Waiting = []
        recipients = 0
        while self._waiting and len(batch) < MAX_TASKS:
            size = len(self._waiting[0][0].get("to") or [])
            if batch and recipients + size > MAX_RECIPIENTS:
                break
            batch.append(self._waiting.pop(0))
            recipients += size
        return batch

    async def close(self) -> None:
        if self._sender is not None and not self._sender.done():
            self._sender.cancel()
            try:
                await self._sender
            except (asyncio.CancelledError, Exception):
                pass


def _no_answer(batch: Waiting, why: str) -> None:
    for _, done, _ in batch:
        if not done.done():
            done.set_exception(MemberDown(why))


def _statuses(answer: Any) -> dict[str, str]:
    """tid -> status of a task-status answer ("0 OK", "13 Duplicated TaskId", ...)."""
    if not isinstance(answer, dict) or not isinstance(answer.get("status"), list):
        return {}
    return {str(s.get("tid")): str(s.get("status", "")) for s in answer["status"] if isinstance(s, dict)}
