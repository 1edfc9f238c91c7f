"""The in-memory serial line the driver's tests run on behaves as a serial line does."""

from __future__ import annotations

import asyncio

import pytest

from ejoin.modems.at.profiles import profile
from ejoin.sim.emulator.engine import EmulatedModem
from ejoin.sim.emulator.memory import MemoryLine
from ejoin.sim.emulator.standalone import Standalone


def line() -> MemoryLine:
    net = Standalone("generic", 1, 3, None)
    return MemoryLine(EmulatedModem(1, profile("generic"), net, "350000000000001"), "memory:test")


async def read_until(reader: asyncio.StreamReader, marker: bytes) -> bytes:
    return await asyncio.wait_for(reader.readuntil(marker), 1.0)


async def test_opening_an_unplugged_line_fails_as_a_missing_tty_does():
    with pytest.raises(FileNotFoundError):
        await line().open()


async def test_what_is_written_reaches_the_module_and_its_answer_comes_back():
    ln = line()
    ln.plug()
    reader, writer = await ln.open()
    writer.write(b"ATE0\r")
    assert (await read_until(reader, b"OK\r\n")).endswith(b"OK\r\n")
    writer.write(b"AT+CGMI\r")
    assert b"3GPP" in await read_until(reader, b"OK\r\n")
    assert ln.quiet and ln.bytes_in == len(b"ATE0\rAT+CGMI\r")


async def test_unplugging_ends_the_stream_and_a_reopen_talks_to_the_module_anew():
    ln = line()
    ln.plug()
    reader, writer = await ln.open()
    ln.unplug()
    assert await asyncio.wait_for(reader.read(), 1.0) == b""  # EOF: what a pulled USB modem gives
    writer.write(b"AT\r")  # to nobody
    ln.plug()
    reader2, writer2 = await ln.open()
    writer2.write(b"AT\r")
    assert b"OK" in await read_until(reader2, b"OK\r\n")
    assert reader.at_eof()


async def test_a_second_open_hangs_up_the_first():
    ln = line()
    ln.plug()
    first, _ = await ln.open()
    second, writer = await ln.open()
    assert await asyncio.wait_for(first.read(), 1.0) == b""
    writer.write(b"AT\r")
    assert b"OK" in await read_until(second, b"OK\r\n")
