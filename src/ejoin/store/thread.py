"""One thread owning a SQLite connection: the one way ejoin runs SQLite (the device store, the
fleet's ledger, the SMPP store, the push receiver).

Every statement runs on that thread.  Work queued while a transaction is being committed is taken
together into the next one (group commit): under load many writes share one commit; idle, a
write commits alone and at once.  Each piece of work of a batch runs in its own SAVEPOINT, so one
failing piece does not undo the others (a piece alone is its transaction).  A piece's future
settles once its transaction committed (or failed): code that must not acknowledge before
durability awaits it.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Coroutine, Generator
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
BATCH_MAX = 1000
_STOP = object()

Batch = list[tuple[Callable[..., Any], tuple[Any, ...], "Outcome[Any]"]]
# (the work, its future, its result, its failure)
Outcomes = list[tuple[Callable[..., Any], "Outcome[Any]", Any, BaseException | None]]


class DatabaseThread:
    """``connect()`` runs on the thread first (open, pragmas, migrations); its error is ``start``'s.

    ``run_batch``: how a batch of work is run in one transaction (the default, or a test's stand-in
    for a failing disk).  ``group_commit=False``: each piece its own transaction (batches of one),
    for work of a few large pieces, where a savepoint costs more than a commit saves."""

    def __init__(
        self,
        name: str,
        connect: Callable[[], sqlite3.Connection],
        run_batch: Callable[[sqlite3.Connection, Batch], None] | None = None,
        *,
        group_commit: bool = True,
    ) -> None:
        self.name = name
        self._connect = connect
        self._run_batch = run_batch or self.run_batch
        self._batch_max = BATCH_MAX if group_commit else 1
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._in_flight = 0

    @property
    def running(self) -> bool:
        return self._thread is not None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = self._loop.create_future()
        self._thread = threading.Thread(target=self._main, args=(ready,), name=self.name, daemon=True)
        self._thread.start()
        try:
            await ready
        except BaseException:
            self._thread = None
            raise

    async def stop(self) -> None:
        if self._thread is None:
            return
        self._queue.put(_STOP)
        thread = self._thread
        self._thread = None
        await asyncio.get_running_loop().run_in_executor(None, thread.join)

    def submit(self, fn: Callable[..., T], *args: Any) -> Outcome[T]:
        """``fn(conn, *args)`` on the thread, in a transaction of its batch; its outcome once committed."""
        if self._thread is None or self._loop is None:
            raise RuntimeError("the store is not open")
        fut: Outcome[T] = Outcome(loop=self._loop)
        self._in_flight += 1
        self._queue.put((fn, args, fut))
        return fut

    async def quiesce(self) -> bool:
        """Wait for every queued piece of work; True if there was any."""
        if self._in_flight == 0:
            return False
        await self.submit(lambda conn: None)
        return True

    def _opened(self, ready: asyncio.Future[None], exc: BaseException | None) -> None:
        """From the thread: whether the connection opened, to ``start``."""
        assert self._loop is not None
        self._loop.call_soon_threadsafe(_settle, ready, None, exc)

    def _main(self, ready: asyncio.Future[None]) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:  # the opener must hear why, not hang
            self._opened(ready, exc)
            return
        self._opened(ready, None)
        try:
            while True:
                first = self._queue.get()
                if first is _STOP:
                    break
                batch = [first]
                stop = False
                while len(batch) < self._batch_max:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        stop = True
                        break
                    batch.append(item)
                self._run_batch(conn, batch)
                if stop:
                    break
        finally:
            conn.close()

    def run_batch(self, conn: sqlite3.Connection, batch: Batch) -> None:
        if len(batch) == 1:
            self._run_alone(conn, *batch[0])
            return
        outcomes: Outcomes = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for fn, args, fut in batch:
                conn.execute("SAVEPOINT work")
                try:
                    result = fn(conn, *args)
                except Exception as exc:
                    conn.execute("ROLLBACK TO work")
                    conn.execute("RELEASE work")
                    outcomes.append((fn, fut, None, exc))
                else:
                    conn.execute("RELEASE work")
                    outcomes.append((fn, fut, result, None))
            conn.execute("COMMIT")
        except Exception as failure:  # the commit itself failed: nothing of the batch holds
            log.error("store transaction failed: %s", failure)
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            outcomes = [(fn, fut, None, failure) for fn, _, fut in batch]
        self.settle_all(outcomes)

    def settle_all(self, outcomes: Outcomes) -> None:
        """From the thread: the outcomes of a batch's pieces of work, handed to the loop at once (one
        wake-up of the loop per batch, not one per piece)."""
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._settled, outcomes)

    def _settled(self, outcomes: Outcomes) -> None:
        for _, fut, result, exc in outcomes:
            _settle(fut, result, exc)
        # After the waiters' wake-ups (scheduled just now): quiesce sees the work done once they ran.
        assert self._loop is not None
        self._loop.call_soon(self._forget, outcomes)

    def _forget(self, outcomes: Outcomes) -> None:
        self._in_flight -= len(outcomes)
        for fn, fut, _, exc in outcomes:
            # A failure nobody took is logged, so writes that are not awaited (a state change) need
            # no logging callback of their own.
            if exc is not None and fut.exception_unasked():
                _unheard(fn, fut)

    def _run_alone(
        self, conn: sqlite3.Connection, fn: Callable[..., Any], args: tuple[Any, ...], fut: Outcome[Any]
    ) -> None:
        """A piece alone is its own transaction, without a savepoint: a savepoint's undo record (a copy of
        each page the piece changes) doubled the cost of a large update."""
        try:
            conn.execute("BEGIN IMMEDIATE")
            result = fn(conn, *args)
            conn.execute("COMMIT")
        except Exception as exc:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            self.settle_all([(fn, fut, None, exc)])
        else:
            self.settle_all([(fn, fut, result, None)])


class Outcome(asyncio.Future[T]):
    """A store job's outcome that knows whether anyone asked for it: awaited, or its result or
    exception read (asyncio keeps that to itself, and says so only when the future is collected)."""

    _asked = False

    def result(self) -> T:
        self._asked = True
        return super().result()

    def exception(self) -> BaseException | None:
        self._asked = True
        return super().exception()

    def __await__(self) -> Generator[Any, None, T]:
        self._asked = True
        return (yield from super().__await__())

    __iter__ = __await__

    def exception_unasked(self) -> bool:
        """Failed, and nobody has asked for the outcome yet."""
        return not self._asked and self.done() and not self.cancelled() and super().exception() is not None


def _unheard(fn: Callable[..., Any], fut: Outcome[Any]) -> None:
    if fut.exception_unasked():  # nobody asked for the outcome (asyncio would say so only at GC)
        what = fn.__qualname__.replace(".<locals>.run", "").rsplit(".", 1)[-1]
        log.error("a store write (%s) failed and nobody was waiting for it: %s", what, fut.exception())


def _settle(fut: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if fut.done():  # the waiter was cancelled; the write still happened
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)


def run_now(work: Coroutine[Any, Any, T]) -> T:
    """A coroutine that never waits (answers of a SQLite connection, on its own thread), run to its
    end here: what is written once for SQLite and PostgreSQL is written as a coroutine."""
    try:
        work.send(None)
    except StopIteration as done:
        return done.value
    work.close()
    raise RuntimeError("work that may not wait waited")
