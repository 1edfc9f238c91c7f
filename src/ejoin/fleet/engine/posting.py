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
from collections.abc import Callable
from typing import Any

from .members import MemberDown, MemberLink

# At most this many sub-tasks, or recipients (past the first sub-task), in one post: well inside what
# a device takes in one request (its own max_tasks_per_request and body limits), and a post that
# fails takes no more with it than that.
MAX_TASKS = 32
MAX_RECIPIENTS = 20_000


class SubTaskPoster:
    def __init__(self, link: MemberLink, report_url: Callable[[], str]) -> None:
        self.link = link
        self._report_url = report_url
        self._waiting: list[tuple[dict[str, Any], asyncio.Future[tuple[str, Any]]]] = []
        self._sender: asyncio.Task[None] | None = None

    async def post(self, sub_task: dict[str, Any]) -> tuple[str, Any]:
        """(the member's status for this sub-task, its whole answer), or ``MemberDown``."""
        done: asyncio.Future[tuple[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting.append((sub_task, done))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.ensure_future(self._send())
        return await done

    async def _send(self) -> None:
        while self._waiting:
            batch = self._take()
            # request sr_cnt 1: the member pushes each report at once, never held in its batching cache
            body = {
                "type": "send-sms",
                "sr_url": self._report_url(),
                "sr_cnt": 1,
                "sr_prd": 0,
                "tasks": [task for task, _ in batch],
            }
            try:
                answer = await self.link.call("/goip_post_sms.html", body=body)
            except MemberDown as exc:
                for _, done in batch:
                    if not done.done():
                        done.set_exception(MemberDown(str(exc)))
                continue
            except BaseException:
                # cancelled (the fleet stops): whoever still waits learns that its post got no answer
                for _, done in batch + self._waiting:
                    if not done.done():
                        done.set_exception(MemberDown(f"member {self.link.name}: post abandoned"))
                self._waiting = []
                raise
            statuses = _statuses(answer)
            for task, done in batch:
                if not done.done():
                    done.set_result((statuses.get(str(task.get("tid")), ""), answer))

    def _take(self) -> list[tuple[dict[str, Any], asyncio.Future[tuple[str, Any]]]]:
        batch: list[tuple[dict[str, Any], asyncio.Future[tuple[str, Any]]]] = []
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


def _statuses(answer: Any) -> dict[str, str]:
    """tid -> status of a task-status answer ("0 OK", "13 Duplicated TaskId", ...)."""
    if not isinstance(answer, dict) or not isinstance(answer.get("status"), list):
        return {}
    return {str(s.get("tid")): str(s.get("status", "")) for s in answer["status"] if isinstance(s, dict)}
