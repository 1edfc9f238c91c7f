"""Smoke tests on kernel pseudo-terminals: the serial layer (serialx, termios) the in-memory lines skip.

Real time, short timeouts; everything else about the driver runs on in-memory lines (harness.py)."""

from __future__ import annotations

import asyncio

import pytest

from ejoin.clock import SystemClock
from ejoin.modems.at.channel import ModuleGone
from ejoin.modems.at.driver import ATDriver
from ejoin.modems.at.module import ModemConfig
from ejoin.protocol.codes import PortState
from ejoin.protocol.text import segment
from ejoin.sim.emulator.standalone import Standalone

from .harness import Recorder


async def wait_for(predicate, seconds: float = 5.0) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), seconds)


@pytest.fixture
async def ptys(tmp_path):
    net = Standalone("quectel", 2, 3, tmp_path)
    events = Recorder()
    driver = ATDriver([ModemConfig(p, line.path, 115200, "quectel") for p, line in net.lines.items()], SystemClock())
    driver.events = events
    driver.retry_first = 0.05
    for line in net.lines.values():
        line.plug()
    yield net, driver, events
    await driver.stop()
    for line in net.lines.values():
        line.unplug()
        await line.modem.stop()


async def test_over_ptys_a_module_comes_up_sends_receives_and_reports(ptys):
    net, driver, events = ptys
    for port in (1, 2):
        card = await driver.detect_card(port, 1)
        assert card.iccid == net.cards[port].iccid
        assert await driver.register(port, 1) is PortState.REGISTERED
    result = await driver.send_sms(1, 1, net.cards[2].number, segment("over a tty"), "", report=True)
    assert result.ok
    await wait_for(lambda: events.sms and events.reports)
    assert events.sms[0][2] == "over a tty" and events.reports[0][1] == result.refs[0]


async def test_over_ptys_an_unplugged_module_is_lost_and_comes_back(ptys):
    net, driver, events = ptys
    assert (await driver.detect_card(1, 1)).present
    net.lines[1].unplug()
    with pytest.raises(ModuleGone):
        await driver.send_sms(1, 1, net.cards[2].number, segment("x"), "")
    await wait_for(lambda: events.lost == [1])
    net.lines[1].plug()
    await wait_for(lambda: events.back == [1])
    assert (await driver.detect_card(1, 1)).present
