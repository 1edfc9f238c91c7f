"""Simulated voice calls: for call statistics and the "4 call connected" state.

A call takes its post-dial delay, rings (or not), is answered (or not), and if
answered holds the slot in state 4 for its duration.  Calls come from a
configured background rate or from /sim/call; a slot has one call at a time.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass

from ..clock import Clock, Timer
from ..gateway.device import Device, Slot
from ..protocol.codes import PortState
from ..protocol.ports import PortAddress
from ..store.base import CallRecord, StatsStore
from .config import Calls

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallPlan:
    pdd: float
    alerted: bool
    answered: bool
    duration: float


class CallSimulator:
    def __init__(self, device: Device, store: StatsStore, clock: Clock, calls: Calls, seed: int) -> None:
        self._device = device
        self._store = store
        self._clock = clock
        self._cfg = calls
        self._rng = random.Random(f"calls:{seed}")
        self._busy: dict[PortAddress, asyncio.Task] = {}
        self._timer: Timer | None = None

    def start(self) -> None:
        if self._cfg.rate > 0:
            self._schedule()

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        tasks = list(self._busy.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _schedule(self) -> None:
        self._timer = self._clock.call_later(self._rng.expovariate(self._cfg.rate / 60.0), self._arrive)

    def _arrive(self) -> None:
        free = [p.active for p in self._device.ports if p.active.state.can_send and p.active.address not in self._busy]
        if free:
            self.place(self._rng.choice(free).address, self.random_plan())
        self._schedule()

    def random_plan(self) -> CallPlan:
        c, r = self._cfg, self._rng
        alerted = r.random() < c.alert_ratio
        return CallPlan(
            pdd=r.uniform(c.pdd_min, c.pdd_max),
            alerted=alerted,
            answered=alerted and r.random() < c.answer_ratio,
            duration=r.uniform(c.duration_min, c.duration_max),
        )

    def busy(self, addr: PortAddress) -> bool:
        return addr in self._busy

    def place(self, addr: PortAddress, plan: CallPlan) -> None:
        task = asyncio.get_running_loop().create_task(self._run(addr, plan), name=f"call {addr}")
        self._busy[addr] = task
        task.add_done_callback(lambda _: self._busy.pop(addr, None))

    async def _run(self, addr: PortAddress, plan: CallPlan) -> None:
        slot = self._device.slot(addr)
        connected_for = 0
        answered = False
        usable = slot.state.can_send and self._device.is_active(slot)
        if usable:
            await self._clock.sleep(plan.pdd)
            # not after a lock, a switch or a reset while it rang
            answered = plan.answered and self._device.may_become(slot, PortState.CALL_CONNECTED)
            if answered:
                self._device.set_state(slot, PortState.CALL_CONNECTED)
                try:
                    await self._clock.sleep(plan.duration)
                finally:
                    self._hang_up(slot)
                connected_for = int(round(plan.duration))
        self._store.call_add(
            CallRecord(
                port=addr.port,
                slot=addr.slot or 0,
                ts=self._clock.time(),
                alerted=usable and plan.alerted,
                connected=answered,
                pdd=plan.pdd if usable else 0.0,
                duration=connected_for,
            )
        )

    def _hang_up(self, slot: Slot) -> None:
        if slot.state == PortState.CALL_CONNECTED:  # a lock or a switch during the call already moved it
            self._device.set_state(slot, PortState.REGISTERED)
