"""Lines modules print on their own, where they fall: between a +CMGR header and its PDU, inside an
answer, alone.  And a property: unsolicited lines anywhere in every answer the driver parses change
nothing of what it makes of the answers, and no message leaves the SIM before the device has it."""

from __future__ import annotations

import asyncio
import functools
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from ejoin.protocol.codes import PortState
from ejoin.protocol.text import segment

from .loader import Vector, cases, vectors
from .replay import IMSI, Replay, frame

# A message the driver reads (python-gsmmodem's test_receiveSmsPduMode): header, PDU, and what it holds
HEADER, PDU = "+CMGR: 0,,29", "06917228195339040A9110325476980000313080512061800CC8329BFD06DDDF72363904"
SENDER, TEXT = "+0123456789", "Hello world!"


@pytest.mark.parametrize("v", cases("noise", "cmgr"))
async def test_between_a_cmgr_header_and_its_pdu(v: Vector) -> None:
    rp = Replay({"AT+CMGR=3": frame(HEADER, v["line"], PDU)})
    try:
        await rp.up()
        await rp.say(b'\r\n+CMTI: "SM",3\r\n')
        rp.check_deletes()
        assert [(s[1], s[2]) for s in rp.ledger.of("sms_part")] == [(SENDER, TEXT)]
        assert "AT+CMGD=3" in rp.peer.heard
    finally:
        await rp.close()


@pytest.mark.parametrize("v", cases("noise", "answer"))
async def test_inside_an_answer(v: Vector) -> None:
    rp = Replay({"AT+CSQ": frame(v["line"], "+CSQ: 17,99"), "AT+CREG?": frame(v["line"], "+CREG: 2,5")})
    try:
        await rp.up()
        assert await rp.run(rp.driver.register(rp.PORT, 1)) is PortState.REGISTERED
        assert await rp.run(rp.driver.signal(rp.PORT)) == 17
    finally:
        await rp.close()


@pytest.mark.parametrize("v", cases("noise", "alone"))
async def test_on_its_own(v: Vector) -> None:
    rp = Replay()
    try:
        await rp.up()
        assert await rp.run(rp.driver.register(rp.PORT, 1)) is PortState.REGISTERED
        await rp.say(frame(v["line"], final=None))
        assert rp.ledger.of("module_state") == [] and rp.ledger.received == []
        assert await rp.run(rp.driver.at_command(rp.PORT, "AT+CSQ", 5.0)) == "+CSQ: 20,99\r\nOK"
    finally:
        await rp.close()


# --- the property ----------------------------------------------------------------------------------

# What the driver acts on when it comes unsolicited: a message announced or shown, a registration or card
# change, a restart, a USSD answer.  Noise is anything else.
ACTING = ("+CMTI", "+CDSI", "+CMT", "+CDS", "+CREG", "+CGREG", "+CEREG", "+C5GREG", "+CPIN", "+CFUN", "RDY", "+CUSD")
CAPTURED = [v["line"] for v in vectors("noise")]

# The scenario: a bring-up, registration, a signal read, a message read after +CMTI, a send.  Each answer
# as (lines, final); the unsolicited lines go between any of its lines.
ANSWERS: dict[str, tuple[list[str], str]] = {
    "AT+CGSN": (["350000000000002"], "OK"),
    "AT+CPIN?": (["+CPIN: READY"], "OK"),
    'AT+CPMS="SM","SM","SM"': (["+CPMS: 0,30,0,30,0,30"], "OK"),
    "AT+CNMI=?": (["+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)"], "OK"),
    "AT+CIMI": ([IMSI], "OK"),
    "AT+CRSM=176,12258,0,0,10": (['+CRSM: 144,0,"98019300000021436597"'], "OK"),
    "AT+CNUM": (['+CNUM: "","+491761234567",145'], "OK"),
    "AT+COPS?": (['+COPS: 0,0,"Test Network",7'], "OK"),
    "AT+CMGL=4": ([], "OK"),
    "AT+CREG?": (["+CREG: 2,1"], "OK"),
    "AT+CSQ": (["+CSQ: 23,99"], "OK"),
    "AT+CMGR=3": ([HEADER, PDU], "OK"),
    "AT+CMGS=*": (["+CMGS: 77"], "OK"),
}


HEXLIKE = re.compile(r"[0-9A-Fa-f]+")


def prefix(line: str) -> str:
    return line.partition(":")[0].strip() if ":" in line else line.strip()


def unsolicited(command: str) -> st.SearchStrategy[str]:
    """Lines no command answers: captured ones and made-up ones, never a prefix the command answers with."""
    own = {prefix(line) for line in ANSWERS[command][0]}
    made_up = st.builds(
        lambda sign, name, args: f"{sign}{name}: {args}" if args else f"{sign}{name}",
        st.sampled_from(["+", "^", "#", "$", "*", ""]),
        st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=8),
        st.text('0123456789," ABCDEF', max_size=20),
    )
    return (st.sampled_from(CAPTURED) | made_up).filter(
        lambda line: (
            prefix(line) not in own
            and not prefix(line).startswith(ACTING)
            and line.strip() not in ("OK", "ERROR", "NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE", "CONNECT")
            and not line.strip().startswith(
                ("+CME ERROR", "+CMS ERROR", "COMMAND NOT SUPPORT", "MODEM ERROR", ">", "AT")
            )
            and bool(line.strip())
            and not HEXLIKE.fullmatch(line.strip())
        )  # a PDU line is hex: no module prints hex of its own
    )


@st.composite
def noisy(draw: st.DrawFn) -> dict[str, list[tuple[int, str]]]:
    """For each answer, unsolicited lines and where each goes (0: before its first line)."""
    out: dict[str, list[tuple[int, str]]] = {}
    for command, (lines, _) in ANSWERS.items():
        out[command] = draw(
            st.lists(st.tuples(st.integers(0, len(lines)), unsolicited(command)), max_size=2),
        )
    return out


def script(noise: dict[str, list[tuple[int, str]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for command, (lines, final) in ANSWERS.items():
        mixed = list(lines)
        for position, line in sorted(noise.get(command, []), key=lambda p: -p[0]):
            mixed.insert(position, line)
        out[command] = frame(*mixed, final=final)
    return out


async def scenario(noise: dict[str, list[tuple[int, str]]]) -> tuple[Any, ...]:
    rp = Replay(script(noise))
    try:
        card = await rp.up()
        state = await rp.run(rp.driver.register(rp.PORT, 1))
        signal = await rp.run(rp.driver.signal(rp.PORT))
        await rp.say(b'\r\n+CMTI: "SM",3\r\n')
        rp.check_deletes()
        sent = await rp.run(rp.driver.send_sms(rp.PORT, 1, "+4915112345678", segment("hello"), "", report=True))
        sms = [(s[1], s[2]) for s in rp.ledger.of("sms_part")]
        return (card.iccid, card.imsi, card.number, card.operator, rp.module.imei, state, signal, sms, sent.refs)
    finally:
        await rp.close()


# no shrinking: while the driver fails, a shrunk example costs seconds and says no more than the reason
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[HealthCheck.too_slow],
)
@given(noisy())
def test_unsolicited_lines_anywhere_change_nothing(noise: dict[str, list[tuple[int, str]]]) -> None:
    assert asyncio.run(scenario(noise)) == quiet()


@functools.cache
def quiet() -> tuple[Any, ...]:
    """The scenario without noise: what every noisy run must come to."""
    outcome = asyncio.run(scenario({}))
    assert outcome[-2] == [(SENDER, TEXT)] and outcome[5] is PortState.REGISTERED and outcome[6] == 23
    return outcome
