"""The clock every timer of the device goes through.

Behaviour (state transitions, periodic pushes, retry back-off) asks the clock
for time and timers, never ``asyncio``/``time`` directly, so tests can run it on
a ``VirtualClock`` and advance time instead of sleeping.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["Clock", "SystemClock", "VirtualClock", "Timer"]


class Timer(ABC):
    @abstractmethod
    def cancel(self) -> None: ...


class Clock(ABC):
    @abstractmethod
    def time(self) -> float:
        """Wall-clock time in Unix seconds (what timestamps on the wire carry)."""

    @abstractmethod
    def monotonic(self) -> float:
        """Seconds for measuring intervals; never goes back."""

    @abstractmethod
    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Timer:
        """Run ``callback(*args)`` on the event loop after ``delay`` seconds."""

    async def sleep(self, delay: float) -> None:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()

        def wake() -> None:
            if not fut.done():
                fut.set_result(None)

        timer = self.call_later(delay, wake)
        try:
            await fut
        finally:
            timer.cancel()


class _LoopTimer(Timer):
    __slots__ = ("_handle",)

    def __init__(self, handle: asyncio.Handle) -> None:
        self._handle = handle

    def cancel(self) -> None:
        self._handle.cancel()


class SystemClock(Clock):
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Timer:
        loop = asyncio.get_running_loop()
        if delay <= 0:
            return _LoopTimer(loop.call_soon(callback, *args))
        return _LoopTimer(loop.call_later(delay, callback, *args))

    async def sleep(self, delay: float) -> None:
        await asyncio.sleep(max(0.0, delay))


class _VirtualTimer(Timer):
    __slots__ = ("when", "callback", "args", "cancelled")

    def __init__(self, when: float, callback: Callable[..., Any], args: tuple) -> None:
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class VirtualClock(Clock):
    """Time moves only when a test calls ``advance``.

    Timers due within the advanced span run in order of their due time, each at
    its own instant; between timers the event loop runs whatever became ready,
    so coroutines woken by one timer can set the next.
    """

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = start
        self._origin = start
        self._heap: list[tuple[float, int, _VirtualTimer]] = []
        self._seq = itertools.count()
        self._quiescers: list[Callable[[], Awaitable[bool]]] = []

    def add_quiescer(self, fn: Callable[[], Awaitable[bool]]) -> None:
        """Real I/O (a DB thread) that must finish before time moves on.

        ``fn`` waits for the work in flight and returns True if there was any.
        """
        self._quiescers.append(fn)

    def time(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._now - self._origin

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Timer:
        timer = _VirtualTimer(self._now + max(0.0, delay), callback, args)
        heapq.heappush(self._heap, (timer.when, next(self._seq), timer))
        return timer

    def pending(self) -> int:
        return sum(1 for _, _, t in self._heap if not t.cancelled)

    def next_due(self) -> float | None:
        """Seconds until the earliest timer still set (0 if one is due), or None when none is."""
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        return max(0.0, self._heap[0][0] - self._now) if self._heap else None

    async def run_until(self, done: Callable[[], bool], within: float) -> float:
        """Advance from timer to timer until ``done()`` holds; the simulated seconds that took.

        Once the loop has settled nothing changes until the next timer is due, so time jumps there
        instead of creeping in steps.  TimeoutError if ``done()`` still fails ``within`` seconds on,
        or if it fails with no timer left to wait for."""
        start = self._now
        await self.settle()
        while not done():
            left = start + within - self._now
            due = self.next_due()
            if due is None or left <= 0:
                raise TimeoutError(f"not within {within:g} simulated seconds" if due is not None else "nothing due")
            await self.advance(min(due, left))
        return self._now - start

    async def settle(self, rounds: int = 50) -> None:
        """Let the event loop run everything that is ready, I/O included (no time passes)."""
        for _ in range(1000):
            await self._spin(rounds)
            self._run_due()
            busy = False
            for quiesce in self._quiescers:
                busy = await quiesce() or busy
            if not busy:
                break
        await self._spin(rounds)

    @staticmethod
    async def _spin(rounds: int, idle_enough: int = 5) -> None:
        """Up to ``rounds`` turns of the event loop, fewer once it has been idle for ``idle_enough`` turns in a
        row (nothing ready to run but this; each turn still polls for I/O).  Time moves in tests from timer
        to timer, tens of thousands of them for days of a device's life: a fixed 50 turns each was most of
        the cost."""
        ready = getattr(asyncio.get_running_loop(), "_ready", None)  # asyncio's queue of ready callbacks
        idle = 0
        for _ in range(rounds):
            await asyncio.sleep(0)
            if ready is None:
                continue
            idle = idle + 1 if not ready else 0
            if idle >= idle_enough:
                return

    def _run_due(self) -> int:
        ran = 0
        while self._heap and self._heap[0][0] <= self._now:
            _, _, timer = heapq.heappop(self._heap)
            if not timer.cancelled:
                timer.callback(*timer.args)
                ran += 1
        return ran

    async def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time does not go back")
        target = self._now + seconds
        await self.settle()
        while self._heap and self._heap[0][0] <= target:
            when, _, timer = heapq.heappop(self._heap)
            if timer.cancelled:
                continue
            self._now = max(self._now, when)
            timer.callback(*timer.args)
            await self.settle()
        self._now = target
        await self.settle()
