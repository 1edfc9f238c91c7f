"""An emulated module on a pseudo-terminal, reachable by a stable path (a symlink, like /dev/serial/by-path).

Unplugging closes the terminal (the program on the other side reads an error,
as from a USB modem pulled out); plugging in again opens a new one behind the
same path and the module starts as from power-on.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import tty
from pathlib import Path

from .engine import EmulatedModem


class PtyModem:
    def __init__(self, modem: EmulatedModem, link: Path) -> None:
        self.modem = modem
        self.link = link
        self._master: int | None = None
        self._slave: int | None = None
        self._pending = bytearray()
        self._writing = False
        self.bytes_in = self.bytes_out = 0  # since plugged in: what the other side wrote / has to read

    @property
    def path(self) -> str:
        return str(self.link)

    @property
    def plugged(self) -> bool:
        return self._master is not None

    def plug(self) -> None:
        """Open a terminal behind ``link`` and start the module on it."""
        if self._master is not None:
            return
        master, slave = os.openpty()
        tty.setraw(slave)  # as a USB serial line: no echo, no line editing by the kernel
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.bytes_in = self.bytes_out = 0
        tmp = self.link.with_name(self.link.name + ".new")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(os.ttyname(slave))
        tmp.replace(self.link)
        loop = asyncio.get_running_loop()
        loop.add_reader(master, self._readable)
        self.modem.connect(self._write)
        self.modem.power_on()

    def unplug(self) -> None:
        master, slave = self._master, self._slave
        if master is None:
            return
        self._master = self._slave = None
        self._pending.clear()
        loop = asyncio.get_running_loop()
        loop.remove_reader(master)
        if self._writing:
            loop.remove_writer(master)
            self._writing = False
        os.close(master)
        if slave is not None:
            os.close(slave)
        with contextlib.suppress(FileNotFoundError):
            self.link.unlink()

    def _readable(self) -> None:
        if self._master is None:
            return
        try:
            data = os.read(self._master, 65536)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.EIO:  # nobody has the terminal open right now
                return
            raise
        if data:
            self.bytes_in += len(data)
            self.modem.feed(data)

    def _write(self, data: bytes) -> None:
        if self._master is None:
            return
        self.bytes_out += len(data)
        if self._pending:
            self._pending += data
            return
        try:
            n = os.write(self._master, data)
        except BlockingIOError:
            n = 0
        except OSError:
            return
        if n < len(data):
            self._pending += data[n:]
            if not self._writing:
                asyncio.get_running_loop().add_writer(self._master, self._flush)
                self._writing = True

    def _flush(self) -> None:
        if self._master is None:
            return
        try:
            n = os.write(self._master, self._pending)
        except BlockingIOError:
            return
        except OSError:
            self._pending.clear()
            n = 0
        del self._pending[:n]
        if not self._pending:
            asyncio.get_running_loop().remove_writer(self._master)
            self._writing = False
