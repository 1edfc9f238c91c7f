"""Doubles for the push outbox: a scripted receiver, and a store that stops on demand at a chosen
point (what a kill -9 at that moment leaves on disk)."""

from __future__ import annotations

import asyncio
from typing import Any

from ejoin.clock import VirtualClock
from ejoin.gateway.outbox import PushTransport


class ScriptedTransport(PushTransport):
    """Answers per destination from a script; records every attempt with its time."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.down: set[str] = set()
        self.hang: set[str] = set()
        self.attempts: list[tuple[str, bytes, float]] = []
        self.delivered: list[tuple[str, bytes]] = []
        self.changed = asyncio.Event()

    async def post(self, url, body, headers):
        self.attempts.append((url, body, self.clock.time()))
        self.changed.set()
        if url in self.hang:
            await asyncio.Event().wait()  # a receiver that never answers
        if url in self.down:
            raise ConnectionRefusedError("connection refused")
        self.delivered.append((url, body))
        return 200

    async def wait(self, predicate, timeout=5.0):
        async def loop():
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(loop(), timeout)


class StoppingOutboxStore:
    """Wraps an ``OutboxStore``; from the ``stop_at_delete``-th deletion on, nothing more reaches the
    store and every call waits forever (the process died with that deletion not committed).

    ``stopped`` is set at that moment, so a test acts there, not after some time."""

    def __init__(self, store: Any, stop_at_delete: int) -> None:
        self._store = store
        self._stop_at = stop_at_delete
        self.deletes = 0
        self.stopped = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def _never(self) -> asyncio.Future[Any]:
        return asyncio.get_running_loop().create_future()

    def outbox_delete(self, item_id: int) -> asyncio.Future[None]:
        if not self.stopped.is_set():
            self.deletes += 1
            if self.deletes < self._stop_at:
                return self._store.outbox_delete(item_id)
            self.stopped.set()
        return self._never()

    def outbox_retry(self, item_id: int, attempts: int, next_at: float, error: str) -> asyncio.Future[None]:
        if self.stopped.is_set():
            return self._never()
        return self._store.outbox_retry(item_id, attempts, next_at, error)

    async def outbox_head(self, dest: str, limit: int) -> Any:
        if self.stopped.is_set():
            await self._never()
        return await self._store.outbox_head(dest, limit)
