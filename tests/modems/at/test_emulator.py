"""The AT emulator as a real module: each vendor's dialect, the faults real modules have, the commands
third-party tools ask.  Raw bytes on an in-memory line where the answer's shape is the point; the AT
driver in front where what matters is what the driver makes of it."""

from __future__ import annotations

import asyncio

import pytest

from ejoin.clock import VirtualClock
from ejoin.modems.at.profiles import PROFILES
from ejoin.protocol.codes import PortState
from ejoin.protocol.text import segment
from ejoin.sim.emulator.dialects import DIALECTS
from ejoin.sim.emulator.standalone import Standalone

from .harness import Bench

FINALS = ("OK", "ERROR", "COMMAND NOT SUPPORT")


class Terminal:
    """A person at a terminal on an emulated module: lines in, the raw answer out (on the virtual clock)."""

    def __init__(self, profile: str) -> None:
        self.clock = VirtualClock()
        self.net = Standalone(profile, 1, 7, None, self.clock)
        self.line = self.net.lines[1]
        self.got = bytearray()

    async def __aenter__(self) -> Terminal:
        self.line.plug()
        reader, self.writer = await self.line.open()

        async def read() -> None:
            while data := await reader.read(4096):
                self.got += data

        self._reader = asyncio.ensure_future(read())
        await self.clock.advance(2)  # booted, the SIM read, registered
        self.got.clear()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.line.unplug()
        await self.line.modem.stop()
        await asyncio.gather(self._reader, return_exceptions=True)

    async def ask(self, command: str, *, final: bool = True) -> list[str]:
        """The answer's lines (echo off), up to its final result."""
        self.got.clear()
        self.writer.write(command.encode() + b"\r")
        if final:
            await self.clock.run_until(lambda: self._lines()[-1:] and self._final(self._lines()[-1]), 5)
        else:
            await self.clock.advance(1)
        return self._lines()

    def _lines(self) -> list[str]:
        return [x.strip() for x in self.got.decode("latin-1").split("\r\n") if x.strip()]

    @staticmethod
    def _final(line: str) -> bool:
        return line in FINALS or line.startswith(("+CME ERROR", "+CMS ERROR"))


def test_every_driver_profile_has_a_dialect():
    assert set(DIALECTS) == set(PROFILES)


@pytest.mark.parametrize("profile", sorted(DIALECTS))
async def test_a_module_says_who_it_is_in_its_vendors_words(profile):
    d = DIALECTS[profile]
    async with Terminal(profile) as t:
        await t.ask("ATE0")
        assert await t.ask("AT+CGMI") == [d.manufacturer.strip(), "OK"]
        assert await t.ask("AT+CGMM") == [d.model.strip(), "OK"]
        assert await t.ask("AT+CGMR") == ([d.revision, "OK"] if d.revision else [d.unknown])
        assert (await t.ask("ATI"))[-1] == "OK"
        assert await t.ask("AT+XYZZY") == [d.unknown]


async def test_huawei_says_command_not_support_and_shows_location_bare():
    async with Terminal("huawei") as t:
        await t.ask("ATE0")
        assert await t.ask("AT+WIND?") == ["COMMAND NOT SUPPORT"]  # as python-gsmmodem's E1752
        await t.ask("AT+CREG=2")
        assert await t.ask("AT+CREG?") == ["+CREG: 2,1,1A2B,00C3F01", "OK"]  # as ModemManager's E160G capture


async def test_telit_gives_the_access_technology_and_an_empty_quoted_alpha():
    async with Terminal("telit") as t:
        await t.ask("ATE0")
        await t.ask("AT+CREG=2")
        assert await t.ask("AT+CREG?") == ['+CREG: 2,1,"1A2B","00C3F01",2', "OK"]  # gammu's telit.dump shape
        t.net.lines[1].modem.deliver("07919730071111F1040B919730416100F900004080912123000002C834", 18)
        await t.clock.advance(0.1)
        assert (await t.ask("AT+CMGR=1"))[0] == '+CMGR: 0,"",18'  # ModemManager's HE910 capture


async def test_wavecom_answers_cpin_without_ok():
    async with Terminal("wavecom") as t:
        await t.ask("ATE0")
        assert await t.ask("AT+CPIN?", final=False) == ["+CPIN: READY"]  # python-gsmmodem's Wavecom
        assert await t.ask("AT+CEREG?") == ["ERROR"]  # a 2G module


async def test_registration_in_every_form_and_the_character_set():
    async with Terminal("quectel") as t:
        await t.ask("ATE0")
        assert await t.ask("AT+CGREG=2;+CEREG=2") == ["OK"]
        assert await t.ask("AT+CGREG?") == ['+CGREG: 2,1,"1A2B","00C3F01",7', "OK"]
        assert await t.ask("AT+CEREG?") == ['+CEREG: 2,1,"0A1B","01A2B3C",7', "OK"]
        assert await t.ask("AT+CGATT?") == ["+CGATT: 1", "OK"]
        assert await t.ask('AT+CSCS="UCS2";+CSCS?') == ['+CSCS: "UCS2"', "OK"]
        assert await t.ask('AT+CSCS="KOI8"') == ["ERROR"]
        t.got.clear()
        t.line.modem.set_fault("creg", "6")  # registered for SMS only, told as it happens
        await t.clock.settle()
        assert t._lines() == ['+CGREG: 6,"1A2B","00C3F01",7', '+CEREG: 6,"0A1B","01A2B3C",7']
        assert await t.ask("AT+CREG?") == ["+CREG: 0,6", "OK"]


async def test_a_registration_it_starts_is_told_after_the_answer():
    async with Terminal("generic") as t:
        modem = t.line.modem
        await t.ask("ATE0;+CREG=1")
        modem._registered_for = None  # a new card: asking about it starts the registration
        assert await t.ask("AT+CREG?", final=False) == ["+CREG: 1,2", "OK", "+CREG: 2", "+CREG: 1"]


async def test_the_imei_is_written_and_read_back():
    async with Terminal("quectel") as t:
        await t.ask("ATE0")
        assert await t.ask('AT+EGMR=1,7,"861234567890123"') == ["OK"]
        assert await t.ask("AT+EGMR=0,7") == ['+EGMR: "861234567890123"', "OK"]
        assert await t.ask("AT+CGSN") == ["861234567890123", "OK"]
        assert await t.ask('AT+EGMR=1,7,"12"') == ["ERROR"]


# --- the faults, with the driver in front: what real modules do to it ---------------------------------


@pytest.fixture
async def bench(tmp_path):
    b = Bench(tmp_path)
    await b.start()
    yield b
    await b.stop()


async def test_stray_lines_inside_answers_lose_nothing(bench):
    bench.modem(2).set_fault("stray", "1")
    await bench.at.send_sms(1, 1, bench.number(2), segment("through the noise"), "")
    await bench.events.until(lambda: bench.modem(2).state.storage == {} or len(bench.events.sms) > 0, 10)
    await bench.clock.advance(1)
    assert [s[2] for s in bench.events.sms] == ["through the noise"]
    assert await bench.at.signal(2) == 20


async def test_stray_lines_come_between_a_header_and_its_pdu():
    async with Terminal("huawei") as t:
        await t.ask("ATE0")
        t.line.modem.set_fault("stray", "1")
        t.line.modem.deliver("07919730071111F1040B919730416100F900004080912123000002C834", 18)
        lines = await t.ask("AT+CMGR=0")  # Huawei's storage counts from 0
    header = next(i for i, x in enumerate(lines) if x.startswith("+CMGR:"))
    assert lines[header + 1] in DIALECTS["huawei"].noise and lines[header + 2].startswith("0791")


async def test_stale_bytes_in_a_record_lose_nothing(bench):
    bench.modem(2).set_fault("stale", "1")
    await bench.at.send_sms(1, 1, bench.number(2), segment("old bytes after me"), "")
    await bench.clock.advance(2)
    assert [s[2] for s in bench.events.sms] == ["old bytes after me"]


@pytest.mark.parametrize(
    "mode",
    [
        "multiline",
        "release",
    ],
)
async def test_ussd_answers_come_whole(bench, mode):
    bench.modem(1).set_fault("ussd", mode)
    reply = await bench.at.ussd(1, "*100#", 10.0)
    assert reply.text.startswith("Balance: ")
    if mode == "multiline":
        assert reply.text.endswith("00. Home")


async def test_cpin_without_ok_is_a_ready_card(bench):
    bench.modem(1).set_fault("cpin_bare", "1")
    card = await bench.at.detect_card(1, 1)
    assert card.present and not card.waiting and not bench.events.lost


@pytest.mark.parametrize(
    ("stat", "state"),
    [
        ("6", PortState.REGISTERED),
        ("10", PortState.REGISTERED),
        ("8", PortState.REGISTER_FAILED),  # emergency services only
        ("11", PortState.REGISTER_FAILED),  # restricted local services only
    ],
)
async def test_registrations_of_every_stat(bench, stat, state):
    bench.modem(1).set_fault("creg", stat)
    await bench.clock.advance(0.1)  # told by +CREG and +CEREG
    assert await bench.at.register(1, 1) is state


def test_fault_values_are_checked():
    modem = Standalone("generic", 1, 1, None, VirtualClock()).lines[1].modem
    for name, value in (("creg", "12"), ("ussd", "sideways"), ("stray", "maybe")):
        if name == "stray":
            modem.faults.set(name, value)  # any true-ish word switches a flag on
            continue
        with pytest.raises(ValueError):
            modem.faults.set(name, value)


@pytest.mark.parametrize(
    "profile",
    [
        *sorted(DIALECTS),
    ],
)
async def test_the_driver_brings_up_every_vendors_module(tmp_path, profile):
    b = Bench(tmp_path, profile, count=1)
    try:
        await b.start()
        card = await b.at.detect_card(1, 1)
        assert (card.iccid, card.imsi) == (b.net.cards[1].iccid, b.net.cards[1].imsi)
        assert await b.at.register(1, 1) is PortState.REGISTERED
    finally:
        await b.stop()


async def test_stale_bytes_and_a_bare_cpin_as_the_captures_show_them():
    pdu_hex, length = "07919730071111F1040B919730416100F900004080912123000002C834", 18
    async with Terminal("quectel") as t:
        await t.ask("ATE0")
        modem = t.line.modem
        modem.set_fault("stale", "1")
        modem.deliver(pdu_hex, length)
        header, record, ok = await t.ask("AT+CMGR=1")
        assert header == f"+CMGR: 0,,{length + 30}" and ok == "OK"  # gammu's +CMGR: ,,92 shape
        assert record.startswith(pdu_hex) and len(record) == len(pdu_hex) + 60
        modem.set_fault("cpin_bare", "1")
        assert await t.ask("AT+CPIN?", final=False) == ["+CPIN: READY"]
        assert await t.ask("AT") == ["OK"]  # and the next command is answered as usual
