"""Background inbound traffic: SMS from the simulated network at a configured rate.

Arrivals are a Poisson process on the device clock (deterministic per seed);
each SMS goes to a random registered slot, from a random sender, with a random
text of the configured ones (long texts arrive as parts, like any long SMS).
"""

from __future__ import annotations

import random

from ..clock import Clock, Timer
from ..gateway.device import Device
from ..modems.base import ModemEvents
from ..protocol.text import segment
from .config import Traffic


class TrafficGenerator:
    def __init__(self, device: Device, events: ModemEvents, clock: Clock, traffic: Traffic, seed: int) -> None:
        self._device = device
        self._events = events
        self._clock = clock
        self._traffic = traffic
        self._rng = random.Random(f"traffic:{seed}")
        self._timer: Timer | None = None
        self._ref = 0
        self.sent = 0

    def start(self) -> None:
        if self._traffic.rate > 0:
            self._schedule()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _schedule(self) -> None:
        self._timer = self._clock.call_later(self._rng.expovariate(self._traffic.rate / 60.0), self._arrive)

    def _arrive(self) -> None:
        ready = [p.active for p in self._device.ports if p.active.state.can_send]
        if ready:
            slot = self._rng.choice(ready)
            sender = self._rng.choice(self._traffic.senders)
            parts = segment(self._rng.choice(self._traffic.texts)).parts
            self._ref = (self._ref + 1) % 256
            now = self._clock.time()
            for seq, part in enumerate(parts, 1):
                self._events.sms_part(slot.address, sender, part, now, self._ref, len(parts), seq)
            self.sent += 1
        self._schedule()
