"""``ejoin modem-emulator``: emulated modules alone, for minicom, gammu or one's own code.

Each module holds a generated SIM; SMS between them arrive, 999/998/997 numbers
behave as on the simulated device, delivery reports come after a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from datetime import UTC, datetime
from pathlib import Path

from ...clock import Clock, SystemClock
from ...modems.at.profiles import profile as profile_named
from ...modems.base import CardInfo
from ...protocol import pdu
from ..cards import generate_card, generate_imei
from ..modems import normalize_number
from .engine import EmulatedModem, Submitted
from .memory import MemoryLine
from .pty import PtyModem

DELIVERY = 1.0  # seconds until a delivery report


class Standalone:
    """A small network of ``count`` modules, each with a generated SIM in its one slot."""

    def __init__(
        self,
        profile: str,
        count: int,
        seed: int,
        directory: Path | None,
        clock: Clock | None = None,
    ) -> None:
        """``directory``: where the ptys' links go; None: in-memory lines (``MemoryLine.open``), for tests."""
        p = profile_named(profile)
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.cards = {port: generate_card(seed, port, 1) for port in range(1, count + 1)}
        self.lines: dict[int, PtyModem | MemoryLine[EmulatedModem]] = {}
        for port in range(1, count + 1):
            modem = EmulatedModem(port, p, self, generate_imei(seed, port, 1), self.clock)
            modem.registers_on_power_on = True  # as a real module does: tools find it registered
            if directory is None:
                self.lines[port] = MemoryLine(modem, f"memory:modem{port}")
            else:
                self.lines[port] = PtyModem(modem, directory / f"modem{port}")
        self._mr: dict[int, int] = {}

    def card(self, modem: EmulatedModem) -> CardInfo:
        return self.cards[modem.port] if modem.slot == 1 else CardInfo(present=False)

    async def register(self, modem: EmulatedModem) -> int:
        await self.clock.sleep(0.5)
        return 1

    async def pause(self, what: str) -> None:
        await self.clock.sleep(1.0 if what == "restart" else 0.2)

    async def signal(self, modem: EmulatedModem) -> int:
        return 20

    async def submit(self, modem: EmulatedModem, message: pdu.Submit) -> Submitted:
        digits = normalize_number(message.recipient)
        if digits.startswith("998"):
            return Submitted(hang=True)
        if digits.startswith("999"):
            return Submitted(cms=21)
        mr = self._mr[modem.port] = (self._mr.get(modem.port, -1) + 1) % 256
        now = datetime.fromtimestamp(self.clock.time(), UTC)
        for port, card in self.cards.items():
            if normalize_number(card.number) == digits:
                c = message.concat
                sender = self.cards[modem.port].number
                d = pdu.encode_deliver(sender, message.text, now, concat=(c.ref, c.total, c.seq) if c else None)
                self.lines[port].modem.deliver(d.hex, d.tpdu_length)
        if message.request_report:
            status = 64 if digits.startswith("997") else 0
            r = pdu.encode_status_report(mr, message.recipient, status, now, now)
            self.clock.call_later(DELIVERY, lambda: modem.deliver(r.hex, r.tpdu_length, report=True))
        return Submitted(mr=mr)

    async def ussd_answer(self, modem: EmulatedModem, code: str) -> tuple[int, str, int]:
        # In the default alphabet: a module shows it as text, and people read it in their terminal.
        if code == "*100#":
            return 0, f"Balance: {self.cards[modem.port].balance or 0:.2f}", 15
        return 0, "UNKNOWN APPLICATION", 15

    def ussd_end(self, modem: EmulatedModem) -> None:
        pass  # no menus here: no session to end


async def run(profile: str, count: int, seed: int, directory: str) -> None:
    where = Path(directory)
    where.mkdir(parents=True, exist_ok=True)
    net = Standalone(profile, count, seed, where)
    for port, pty in net.lines.items():
        pty.plug()
        card = net.cards[port]
        print(f"{pty.path}  ({pty.modem.profile.name}, number {card.number}, IMSI {card.imsi})", flush=True)
    stop = asyncio.Event()
    with contextlib.suppress(NotImplementedError):  # SIGTERM ends it like Ctrl-C: the links are removed
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await stop.wait()
    finally:
        for pty in net.lines.values():
            pty.unplug()
            with contextlib.suppress(Exception):
                await pty.modem.stop()
