"""An emulated module on an in-memory serial line: what a pty gives, without the kernel.

The driver gets an ``asyncio.StreamReader`` and a writer as from serialx; bytes
cross on the event loop (one callback per write), so a test on a virtual clock
knows exactly when a line is quiet: nothing is buffered anywhere it cannot see.
Unplugging ends the stream (the driver reads EOF, as from a USB modem pulled
out); opening a line that is unplugged fails as opening a missing tty does.
Bytes the module writes while nobody has the line open are lost, as on a
serial line.

The module is any ``LinePeer``: an ``EmulatedModem``, or a test's scripted peer
that answers each command with bytes a real module gave (a replayed capture).
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Callable, Mapping
from typing import Any, Generic, Protocol, TypeVar

from ...modems.at.channel import Channel
from ...modems.at.driver import ATDriver


class LinePeer(Protocol):
    """What sits at the module's end of a line: it hears bytes and writes its own through ``connect``'s ``out``."""

    def connect(self, out: Callable[[bytes], None]) -> None: ...

    def power_on(self) -> None: ...

    def feed(self, data: bytes) -> None: ...

    @property
    def busy(self) -> bool:
        """Work that needs no simulated time is under way."""
        ...

    @property
    def needs_time(self) -> bool:
        """Silent until simulated time passes: waiting for the network, restarting, or hung."""
        ...


P = TypeVar("P", bound=LinePeer)


class MemoryWriter:
    """The driver's end of the line: what it writes reaches the module on the next loop turn."""

    def __init__(self, line: MemoryLine[Any], generation: int) -> None:
        self._line = line
        self._generation = generation
        self._closed = False

    def write(self, data: bytes) -> None:
        if self._closed:
            return
        self._line._from_driver(self._generation, bytes(data))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._line._closed_by_driver(self._generation)

    def is_closing(self) -> bool:
        return self._closed

    async def drain(self) -> None:
        return None

    async def wait_closed(self) -> None:
        return None


class MemoryLine(Generic[P]):
    """``modem`` behind a line that a driver opens with ``open`` (the AT driver's opener)."""

    def __init__(self, modem: P, name: str) -> None:
        self.modem = modem
        self.name = name
        self._plugged = False
        self._generation = 0  # bumped by every plug and open: a stale end talks to nobody
        self._reader: asyncio.StreamReader | None = None
        self.in_flight = 0  # writes scheduled and not yet delivered, both ways
        self.bytes_in = self.bytes_out = 0  # since plugged in: what the driver wrote / what the module wrote

    @property
    def path(self) -> str:
        return self.name

    @property
    def plugged(self) -> bool:
        return self._plugged

    def plug(self) -> None:
        if self._plugged:
            return
        self._plugged = True
        self._generation += 1
        self.bytes_in = self.bytes_out = 0
        self.modem.connect(self._from_module)
        self.modem.power_on()

    def unplug(self) -> None:
        if not self._plugged:
            return
        self._plugged = False
        self._generation += 1
        self._hang_up()

    async def open(self) -> tuple[asyncio.StreamReader, MemoryWriter]:
        """The driver's side, as ``serialx.open_serial_connection`` gives it (OSError when unplugged)."""
        await asyncio.sleep(0)
        if not self._plugged:
            raise FileNotFoundError(errno.ENOENT, "no such device", self.name)
        self._hang_up()  # one program at a time on the line (the driver opens exclusively)
        self._generation += 1
        self._reader = asyncio.StreamReader()
        return self._reader, MemoryWriter(self, self._generation)

    @property
    def quiet(self) -> bool:
        """No byte is on its way in either direction."""
        return self.in_flight == 0

    # --- the two directions -------------------------------------------------------------------------

    def _hang_up(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.feed_eof()

    def _from_driver(self, generation: int, data: bytes) -> None:
        if generation != self._generation or not self._plugged:
            return
        self.bytes_in += len(data)
        self.in_flight += 1
        asyncio.get_running_loop().call_soon(self._to_module, generation, data)

    def _to_module(self, generation: int, data: bytes) -> None:
        self.in_flight -= 1
        if generation == self._generation and self._plugged:
            self.modem.feed(data)

    def _from_module(self, data: bytes) -> None:
        if not self._plugged:
            return
        self.bytes_out += len(data)
        reader = self._reader
        if reader is None:
            return  # nobody has the line open: lost, as on a serial line
        self.in_flight += 1
        asyncio.get_running_loop().call_soon(self._to_driver, reader, bytes(data))

    def _to_driver(self, reader: asyncio.StreamReader, data: bytes) -> None:
        self.in_flight -= 1
        if reader is self._reader and not reader.at_eof():
            reader.feed_data(data)

    def _closed_by_driver(self, generation: int) -> None:
        if generation == self._generation:
            self._reader = None


def line_busy(line: MemoryLine[Any], channel: Channel, opening: bool) -> bool:
    """Work on ``line`` that needs no simulated time: a byte on its way, a module working, the driver's
    end being opened, or a command waiting for an answer the module gives without the clock moving."""
    modem = line.modem
    if not line.quiet or modem.busy:
        return True
    if not line.plugged:
        return False
    if opening and not channel.is_open:
        return True
    if channel.is_open and channel.in_flight:
        return not modem.needs_time
    return False


async def quiesce_lines(lines: Mapping[int, MemoryLine[Any]], driver: ATDriver) -> bool:
    """A test clock's quiescer: True (after a turn of the loop) while any line has such work."""
    for port, line in lines.items():
        module = driver.modules[port]
        if line_busy(line, module.channel, module.opening):
            await asyncio.sleep(0)
            return True
    return False
