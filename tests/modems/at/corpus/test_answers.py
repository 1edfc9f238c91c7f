"""Real answers to USSD requests, to AT+CMGS, and final results in every form, replayed through the driver."""

from __future__ import annotations

import re

import pytest

from ejoin.modems.at.channel import ATError
from ejoin.protocol.text import segment

from .loader import Vector, cases
from .replay import Replay, frame

HEX = re.compile(r"^[0-9A-Fa-f]+$")


# gammu runs its "U" captures with the module in the UCS2 character set: the replayed module stays in it
IN_UCS2 = {
    "AT+CSCS=?": frame('+CSCS: ("UCS2")'),
    "AT+CSCS?": frame('+CSCS: "UCS2"'),
    'AT+CSCS="GSM"': frame(final="ERROR"),
    'AT+CSCS="IRA"': frame(final="ERROR"),
}
IN_IRA = {  # a module that keeps the ASCII character set (IRA, T.50)
    "AT+CSCS=?": frame('+CSCS: ("IRA")'),
    "AT+CSCS?": frame('+CSCS: "IRA"'),
    'AT+CSCS="GSM"': frame(final="ERROR"),
}
CHARSETS = {"UCS2": IN_UCS2, "IRA": IN_IRA}


@pytest.mark.parametrize("v", cases("ussd"))
async def test_a_ussd_answer(v: Vector) -> None:
    script = {**CHARSETS.get(v.get("charset", ""), {}), "AT+CUSD=1,*": v.answer()}
    rp = Replay(script, profile=v.get("profile", "generic"))  # the module's vendor, where the source names it
    try:
        await rp.up()
        expected = v.expected
        if "error" in expected:
            with pytest.raises(ATError, match=expected["error"].partition(": ")[2] or None):
                await rp.run(rp.driver.ussd(rp.PORT, v["code"], 10.0), within=12.0)
            return
        reply = await rp.run(rp.driver.ussd(rp.PORT, v["code"], 10.0), within=12.0)
        if "text" in expected:
            assert reply.text == expected["text"]
            assert reply.session_open is expected["open"]
        if expected.get("decoded"):
            assert reply.text.strip() and not HEX.match(reply.text.strip()), reply.text
        if "contains" in expected:
            assert expected["contains"] in reply.text
        # what came around the +CUSD line is nobody's answer: the next command gets its own
        assert await rp.run(rp.driver.signal(rp.PORT)) == 20
    finally:
        await rp.close()


@pytest.mark.parametrize("v", cases("send"))
async def test_a_send_answer(v: Vector) -> None:
    rp = Replay({"AT+CMGS=*": frame(*v["after_pdu"], final=v["final"])})
    rp.peer.prompt = frame(*v.get("before_prompt", []), final=None) + b"\r\n> "
    try:
        await rp.up()
        result = await rp.run(rp.driver.send_sms(rp.PORT, 1, "+4915112345678", segment("hello"), "", report=True))
        assert list(result.refs) == v.expected["refs"]
        assert result.ok is not v.expected.get("failed", False)
        assert len(rp.peer.pdus) == 1
    finally:
        await rp.close()


@pytest.mark.parametrize("v", cases("finals"))
async def test_a_final_result(v: Vector) -> None:
    rp = Replay({v.command: v.answer()})
    try:
        await rp.up()
        expected = v.expected["final"]
        started = rp.clock.monotonic()
        if expected is None:  # not a final result: the command is still waiting when its time is up
            with pytest.raises(TimeoutError):
                await rp.run(rp.driver.at_command(rp.PORT, v.command, 5.0), within=10.0)
            return
        answer = await rp.run(rp.driver.at_command(rp.PORT, v.command, 5.0), within=10.0)
        assert rp.clock.monotonic() - started < 1.0, "a final result ends the command at once"
        assert answer.split("\r\n")[-1].strip() == expected.strip()
        # what followed the final result is not the next command's answer
        assert await rp.run(rp.driver.at_command(rp.PORT, "AT+CSQ", 5.0)) == "+CSQ: 20,99\r\nOK"
    finally:
        await rp.close()
