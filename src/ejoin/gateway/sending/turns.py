"""What many callers hand in during one turn of the event loop, written as one piece of store work.

One task per request from many connections means hundreds of small writes a second, each a piece
of work of the store's own (a savepoint, its statements, a future settled from the DB thread).
Handed in during the same turn, they share one: the store commits them together anyway, and the
callers see the same outcome as before, each its own share of the result.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

Item = TypeVar("Item")
# (where a caller's items start and end in the turn's list, its future: None when nobody waits)
_Waiters = list[tuple[int, int, "asyncio.Future[Any] | None"]]


class TurnBatch(Generic[Item]):
    """``write(items)`` once per turn for everything ``add``-ed in it.

    ``write`` returns a future of a list with one result per item (each caller gets the slice of
    its items, in order) or of None.  A failed write fails every caller of its turn: none of it
    was stored.
    """

    def __init__(self, write: Callable[[list[Item]], asyncio.Future[Any]], what: str) -> None:
        self._write = write
        self._what = what  # for the log, when nobody waits for the outcome
        self._items: list[Item] = []
        self._waiters: _Waiters = []
        self._scheduled = False

    def add(self, items: list[Item]) -> asyncio.Future[Any]:
        """``items`` go with this turn's others; the future gets their share of the result."""
        fut: asyncio.Future[Any] = self._schedule().create_future()
        self._waiters.append((len(self._items), len(self._items) + len(items), fut))
        self._items.extend(items)
        return fut

    def put(self, items: list[Item]) -> None:
        """``items`` go with this turn's others; nobody waits (a failure is logged)."""
        self._schedule()
        self._waiters.append((len(self._items), len(self._items) + len(items), None))
        self._items.extend(items)

    def _schedule(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return loop

    def _flush(self) -> None:
        self._scheduled = False
        items, waiters = self._items, self._waiters
        self._items, self._waiters = [], []
        if not waiters:
            return
        try:
            written = self._write(items)
        except Exception as exc:  # the store is closed: nothing was written
            self._settle(waiters, None, exc)
            return
        written.add_done_callback(lambda f: self._settled(waiters, f))

    def _settled(self, waiters: _Waiters, written: asyncio.Future[Any]) -> None:
        if written.cancelled():
            self._settle(waiters, None, asyncio.CancelledError())
        elif (exc := written.exception()) is not None:
            self._settle(waiters, None, exc)
        else:
            self._settle(waiters, written.result(), None)

    def _settle(self, waiters: _Waiters, result: Any, exc: BaseException | None) -> None:
        unheard = False
        for start, end, fut in waiters:
            if fut is None:
                unheard = True
            elif fut.done():  # its caller was cancelled meanwhile
                continue
            elif exc is not None:
                fut.set_exception(exc)
            else:
                fut.set_result(result[start:end] if isinstance(result, list) else result)
        if unheard and exc is not None:
            log.error("storing %s failed: %s", self._what, exc)
