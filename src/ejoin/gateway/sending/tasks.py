"""Send tasks and their lanes: what is waiting, what is in a module, what is done.

A task is split into *lanes*: who may send which recipients.  No ``from``: one
lane any port may take from; ``from`` with ``to_all=1``: one lane per listed
port, each sending to every recipient; ``from`` with ``to_all=0``: one lane
the listed ports share.  Recipients live on disk in chunks; only a few chunks
per task are held in memory.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from ...protocol.sms import LaneSpec, SendSmsRequest, TaskSpec, request_int, request_url
from ...protocol.task_states import TaskState, TransitionRefused, can_move
from ...protocol.text import Segmented, segment

if TYPE_CHECKING:
    from ...store.base import TaskStore

CHUNK = 1000


class RequestOptions(msgspec.Struct):
    """Request-level settings of goip_post_sms, kept with each of its tasks."""

    sr_url: str = ""
    sr_cnt: int = 100
    sr_prd: int = 30
    sms_url: str = ""
    sms_cnt: int = 1
    sms_prd: int = 30


def request_options(req: SendSmsRequest) -> RequestOptions:
    """The request-level options; TaskRejected (15 Invalid CMD, with the reason) if a URL, a count or a
    period is bad (protocol/values.py: the rules of op=set)."""
    return RequestOptions(
        sr_url=request_url(req.sr_url, "sr_url"),
        sr_cnt=request_int(req.sr_cnt, "sr_cnt", 100),
        sr_prd=request_int(req.sr_prd, "sr_prd", 30),
        sms_url=request_url(req.sms_url, "sms_url"),
        sms_cnt=request_int(req.sms_cnt, "sms_cnt", 1),
        sms_prd=request_int(req.sms_prd, "sms_prd", 30),
    )


class Lane:
    """Who may send a task's recipients, and how far it got.

    A lane knows its task's recipient count, not its task: a task holds its lanes, and a lane
    holding the task back made every task a reference cycle, freed only by the garbage collector
    (its collections of thousands of finished tasks at once stalled the event loop for up to
    130 ms under one task per request).  Whoever takes a lane from the queue gets its task beside
    it (``LaneQueue.claim``).
    """

    __slots__ = ("n", "index", "spec", "cursor", "requeue", "not_before")

    def __init__(self, n: int, index: int, spec: LaneSpec, cursor: int = 0) -> None:
        self.n = n  # the task's recipients
        self.index = index
        self.spec = spec
        self.cursor = cursor  # next recipient index never handed out
        self.requeue: list[int] = []  # handed out but never started (store failure, crash gap)
        # intvl: per port, the time before which this lane sends nothing more there.
        # The port serves other lanes meanwhile; a paused or removed task holds nothing.
        self.not_before: dict[int, float] = {}

    def take(self) -> int | None:
        if self.requeue:
            return self.requeue.pop(0)
        if self.cursor < self.n:
            self.cursor += 1
            return self.cursor - 1
        return None

    @property
    def remaining(self) -> int:
        return self.n - self.cursor + len(self.requeue)


class Task:
    def __init__(self, task_id: int, spec: TaskSpec, n: int, options: RequestOptions, store: TaskStore) -> None:
        self.id = task_id
        self.spec = spec
        self.n = n
        self.options = options
        self.state = TaskState.QUEUED
        self.lanes = [Lane(n, i, lane) for i, lane in enumerate(spec.lanes)]
        self.claimed = 0  # jobs handed out (in a module or done)
        self.sent = 0
        self.failed = 0
        self.done_seq = 0
        self.since_report = 0
        self.rows: list[list[Any]] = []
        self.closed = False
        self._store = store
        self._chunks: OrderedDict[int, list[str]] = OrderedDict()
        self._loading: dict[int, asyncio.Future[list[str]]] = {}
        self._segmented: Segmented | None = None

    def move(self, new: TaskState) -> None:
        """Change state along the life cycle (states.TASK_TRANSITIONS); an impossible change is a bug."""
        if not can_move(self.state, new):
            raise TransitionRefused(self.spec.tid_echo, self.state, new)
        self.state = new

    @property
    def total(self) -> int:
        return self.n * len(self.lanes)

    @property
    def done(self) -> int:
        return self.sent + self.failed

    @property
    def sending(self) -> int:
        return self.claimed - self.done

    @property
    def unsent(self) -> int:
        return 0 if self.state == TaskState.REMOVED else self.total - self.claimed

    @property
    def is_complete(self) -> bool:
        return self.done == self.total

    @property
    def text(self) -> Segmented:
        if self._segmented is None:
            self._segmented = segment(self.spec.text, self.spec.coding)
        return self._segmented

    def keep_chunk(self, number: int, numbers: list[str]) -> None:
        self._chunks[number] = numbers
        self._chunks.move_to_end(number)
        while len(self._chunks) > len(self.lanes) + 1:  # about one chunk per lane in memory
            self._chunks.popitem(last=False)

    def forget_numbers(self) -> None:
        """Closed: its recipients are on disk only (a finished task is still shown for a while)."""
        self._chunks.clear()

    def number_now(self, idx: int) -> str | None:
        """The recipient if its chunk is in memory (the common case: no coroutine per SMS)."""
        chunk = self._chunks.get(idx // CHUNK)
        return None if chunk is None else chunk[idx % CHUNK]

    async def _chunk(self, number: int) -> list[str]:
        chunk = self._chunks.get(number)
        if chunk is not None:
            return chunk
        pending = self._loading.get(number)
        if pending is None:
            pending = self._loading[number] = asyncio.ensure_future(self._store.task_chunk(self.id, number))
            try:
                chunk = await pending
            finally:
                del self._loading[number]
            self.keep_chunk(number, chunk)
            return chunk
        return await asyncio.shield(pending)

    async def number(self, idx: int) -> str:
        return (await self._chunk(idx // CHUNK))[idx % CHUNK]

    async def all_numbers(self) -> list[str]:
        out: list[str] = []
        for c in range((self.n + CHUNK - 1) // CHUNK):
            out.extend(await self._chunk(c))
        return out

    def view(self) -> TaskView:
        return TaskView(
            self.spec.tid_echo, self.state, self.spec, self.text, self.sent, self.failed, self.sending, self.unsent
        )


# An SMS handed out to a port: the task, its lane, the recipient's index in the task.
Claim = tuple[Task, Lane, int]


@dataclass(frozen=True, slots=True)
class TaskView:
    """A read-only snapshot of an open task, for web handlers and tests."""

    tid: int | str
    state: TaskState
    spec: TaskSpec
    text: Segmented  # as the modules send it
    sent: int
    failed: int
    sending: int
    unsent: int


def chunks_of(numbers: list[str]) -> list[str]:
    return [",".join(numbers[i : i + CHUNK]) for i in range(0, len(numbers), CHUNK)]
