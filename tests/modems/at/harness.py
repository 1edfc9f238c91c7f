"""The AT driver against emulated modules on in-memory serial lines, on a virtual clock."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from ejoin.clock import VirtualClock
from ejoin.modems.at.driver import ATDriver
from ejoin.modems.at.module import ModemConfig
from ejoin.modems.base import ModemEvents
from ejoin.sim.emulator.memory import quiesce_lines
from ejoin.sim.emulator.standalone import Standalone


@dataclass
class Recorder(ModemEvents):
    """The device's side: what the driver reports.  Storing completes when ``hold`` is clear; with
    ``failing`` set a store fails; ``stored`` lists what was acknowledged, in order."""

    sms: list[tuple] = field(default_factory=list)
    reports: list[tuple] = field(default_factory=list)
    raw: list[tuple] = field(default_factory=list)  # (port, pdu, reason)
    balances: list[tuple[int, float]] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)
    back: list[int] = field(default_factory=list)
    states: list[tuple[int, int]] = field(default_factory=list)  # (port, state) as reported
    stored: list[tuple] = field(default_factory=list)  # ("sms"|"report"|"raw", what) once acknowledged
    hold: asyncio.Event | None = None
    failing: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def _store(self, kind: str, what: tuple) -> asyncio.Future:
        self.changed.set()
        hold, failing = self.hold, self.failing

        async def stored() -> None:
            if hold is not None:
                await hold.wait()
            if failing:
                raise OSError("disk full")
            self.stored.append((kind, what))

        return asyncio.ensure_future(stored())

    def sms_part(self, slot, sender, text, ts, ref, total, seq):
        self.sms.append((slot.port, sender, text, ref, total, seq))
        return self._store("sms", (slot.port, sender, text))

    def delivery_report(self, port, ref, recipient, status, ts, smsc, smsc_ts=None):
        self.reports.append((port, ref, recipient, status))
        return self._store("report", (port, ref, recipient))

    def raw_pdu(self, slot, pdu, ts, reason):
        self.raw.append((slot.port, pdu, reason))
        return self._store("raw", (slot.port, pdu))

    def balance(self, port, value):
        self.balances.append((port, value))
        self.changed.set()

    def module_lost(self, port):
        self.lost.append(port)
        self.changed.set()

    def module_back(self, port):
        self.back.append(port)
        self.changed.set()

    def module_state(self, port, state):
        self.states.append((port, int(state)))
        self.changed.set()

    clock: VirtualClock | None = None

    async def until(self, predicate, timeout: float = 5.0) -> None:
        """Simulated time passes until ``predicate()`` holds (at most ``timeout`` simulated seconds)."""
        assert self.clock is not None
        await self.clock.run_until(predicate, timeout)


class Clocked:
    """The driver's coroutines run with simulated time passing: ``await bench.at.send_sms(...)``."""

    def __init__(self, bench: Bench) -> None:
        self._bench = bench

    def __getattr__(self, name: str):
        method = getattr(self._bench.driver, name)

        async def clocked(*args, **kwargs):
            return await self._bench.run(method(*args, **kwargs))

        return clocked


class Bench:
    """``count`` emulated modules of ``profile`` and the AT driver on their ttys."""

    def __init__(self, tmp: Path, profile: str = "quectel", count: int = 2) -> None:
        self.clock = VirtualClock()
        self.net = Standalone(profile, count, 3, None, self.clock)
        self.lines = self.net.lines
        self.events = Recorder(clock=self.clock)
        self.driver = ATDriver(
            [ModemConfig(p, line.path, 115200, profile) for p, line in self.lines.items()],
            self.clock,
            lambda cfg: self.lines[cfg.port].open,
        )
        self.clock.add_quiescer(lambda: quiesce_lines(self.lines, self.driver))
        self.at = Clocked(self)
        self.driver.events = self.events
        self.driver.retry_first = 0.05
        for module in self.driver.modules.values():
            module.channel.timeout = 1.0
            module.channel.resync_wait = 0.3
            module.send_timeout = 2.0

    def modem(self, port: int):
        return self.lines[port].modem

    async def run(self, coro, timeout: float = 120.0):
        """``coro``'s result, simulated time passing while it runs (TimeoutError past ``timeout``)."""
        task = asyncio.ensure_future(coro)
        try:
            await self.clock.run_until(task.done, timeout)
        except TimeoutError:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            raise
        return task.result()

    def number(self, port: int) -> str:
        return self.net.cards[port].number

    async def start(self) -> None:
        for line in self.lines.values():
            line.plug()
        for port in self.lines:
            card = await self.at.detect_card(port, 1)
            assert card.present
            await self.at.register(port, 1)

    async def stop(self) -> None:
        await self.driver.stop()
        for line in self.lines.values():
            line.unplug()
            await line.modem.stop()
