"""USSD and AT passthrough as the device does it whatever the driver: a scripted driver shows what reaches it."""

from __future__ import annotations

import asyncio

import pytest

from ejoin.modems.base import UssdReply

from ..conftest import use_driver
from .test_seam import OneSimModems

USSD, AT = "/goip_send_ussd.html", "/goip_send_at.html"


class ScriptedModems(OneSimModems):
    """Answers USSD from ``replies`` (a reply of None: the module never answers, whatever the timeout)."""

    def __init__(self) -> None:
        super().__init__()
        self.replies: list[UssdReply | None | Exception] = []
        self.codes: list[str] = []
        self.cancels: list[int] = []
        self.lines: list[str] = []

    async def ussd(self, port: int, code: str, timeout: float) -> UssdReply:
        self.codes.append(code)
        reply = self.replies.pop(0)
        if reply is None:
            await asyncio.get_running_loop().create_future()
        if isinstance(reply, Exception):
            raise reply
        assert isinstance(reply, UssdReply)
        return reply

    async def ussd_cancel(self, port: int) -> None:
        self.cancels.append(port)

    async def at_command(self, port: int, line: str, timeout: float) -> str:
        self.lines.append(line)
        return "OK"


@pytest.fixture
def modems(monkeypatch):
    m = ScriptedModems()
    use_driver(monkeypatch, "scripted", m)
    return m


@pytest.fixture
async def dev(modems, device_factory):
    d = await device_factory(modems="scripted", ports=2, slots=1)
    await d.settle()
    return d


async def test_a_module_that_ignores_its_timeout_is_given_up_on(dev, modems):
    modems.replies = [None, UssdReply("ok", False)]
    pending = asyncio.ensure_future(dev.get(USSD, port="1", ussd="*100#", timeout="10"))
    await dev.clock.advance(11.9)
    assert not pending.done()
    await dev.clock.advance(0.2)  # the device's own deadline, a little after the driver's
    assert (await pending)["code"] == 6
    assert modems.cancels == [1]  # the module is told to end it
    assert (await dev.get(USSD, port="1", ussd="*101#"))["resp"] == "ok"


async def test_sessions_are_kept_by_the_device_and_cancelled_in_the_module(dev, modems):
    modems.replies = [UssdReply("menu", True), UssdReply("menu again", True)]
    assert (await dev.get(USSD, port="1", ussd="*1#"))["session"] == 1
    assert dev.gw.passthrough.has_session(1)
    assert (await dev.get(USSD, port="1", ussd="1"))["session"] == 1
    await dev.clock.advance(60)
    assert not dev.gw.passthrough.has_session(1) and modems.cancels == [1]
    assert (await dev.get(USSD, port="1", cancel="1"))["code"] == 0
    assert modems.cancels == [1, 1] and modems.codes == ["*1#", "1"]


async def test_a_failing_module_is_a_reason_not_a_500(dev, modems):
    modems.replies = [RuntimeError("serial port gone")]
    res = await dev.get(USSD, port="1", ussd="*100#")
    assert res == {"code": 7, "reason": "7 Server Error: the module failed; the device logged why"}
    assert not dev.gw.passthrough.busy(1)


async def test_refused_input_never_reaches_the_driver(dev, modems):
    assert (await dev.get(USSD, port="2", ussd="*100#"))["code"] == 5  # no SIM in port 2
    assert (await dev.get(USSD, port="1", ussd="*100#x"))["code"] == 3
    assert (await dev.get(AT, port="1", at="AT+CNMI=2,2"))["code"] == 15
    assert (await dev.get(AT, port="1", at="AT+CSQ\r\nATE1"))["code"] == 15
    assert modems.codes == [] and modems.lines == []
    assert (await dev.get(AT, port="2", at=" at+cnmi? "))["resp"] == "OK"  # a read; any state will do
    assert modems.lines == ["at+cnmi?"]


async def test_a_driver_without_passthrough_says_so(one_sim, device_factory):
    d = await device_factory(modems="one-sim", ports=2, slots=1)
    await d.settle()
    res = await d.get(USSD, port="1", ussd="*100#")
    assert res == {"code": 15, "reason": "15 Invalid CMD: these modules do not do USSD"}
    res = await d.get(AT, port="1", at="AT")
    assert res == {"code": 15, "reason": "15 Invalid CMD: these modules take no AT commands"}


@pytest.fixture
def one_sim(monkeypatch):
    modems = OneSimModems()
    use_driver(monkeypatch, "one-sim", modems)
    return modems
