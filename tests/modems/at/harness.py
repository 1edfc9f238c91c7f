"""The AT driver against emulated modules on real pseudo-terminals (real time, short timeouts)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from ejoin.clock import SystemClock
from ejoin.modems.at.driver import ATDriver
from ejoin.modems.at.module import ModemConfig
from ejoin.modems.base import ModemEvents
from ejoin.sim.emulator.standalone import Standalone


@dataclass
class Recorder(ModemEvents):
    """The device's side: what the driver reports; storing a message completes when ``hold`` is clear."""

    sms: list[tuple] = field(default_factory=list)
    reports: list[tuple] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)
    back: list[int] = field(default_factory=list)
    states: list[tuple[int, int]] = field(default_factory=list)  # (port, state) as reported
    hold: asyncio.Event | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def sms_part(self, slot, sender, text, ts, ref, total, seq):
        self.sms.append((slot.port, sender, text, ref, total, seq))
        self.changed.set()
        if self.hold is None:
            return None
        hold = self.hold

        async def stored() -> None:
            await hold.wait()

        return asyncio.ensure_future(stored())

    def delivery_report(self, port, ref, recipient, status, ts, smsc, smsc_ts=None):
        self.reports.append((port, ref, recipient, status))
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

    async def until(self, predicate, timeout: float = 5.0) -> None:
        async def loop() -> None:
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(loop(), timeout)


class Bench:
    """``count`` emulated modules of ``profile`` and the AT driver on their ttys."""

    def __init__(self, tmp: Path, profile: str = "quectel", count: int = 2) -> None:
        self.net = Standalone(profile, count, 3, tmp)
        self.events = Recorder()
        self.driver = ATDriver(
            [ModemConfig(p, pty.path, 115200, profile) for p, pty in self.net.ptys.items()], SystemClock()
        )
        self.driver.events = self.events
        self.driver.retry_first = 0.05
        for module in self.driver.modules.values():
            module.channel.timeout = 1.0
            module.channel.resync_wait = 0.3
            module.send_timeout = 2.0

    def modem(self, port: int):
        return self.net.ptys[port].modem

    def number(self, port: int) -> str:
        return self.net.cards[port].number

    async def start(self) -> None:
        for pty in self.net.ptys.values():
            pty.plug()
        for port in self.net.ptys:
            card = await self.driver.detect_card(port, 1)
            assert card.present
            await self.driver.register(port, 1)

    async def stop(self) -> None:
        await self.driver.stop()
        for pty in self.net.ptys.values():
            pty.unplug()
            await pty.modem.stop()
