"""Real +CMGR, +CMGL, +CMT and +CDS answers replayed through the AT driver: what the device is handed
must be what the source (or Gammu) reads in them, and no message leaves the SIM before the device has it."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest

from .loader import Vector, cases
from .replay import Ledger, Replay, frame


def received(ledger: Ledger, expected: dict[str, Any]) -> None:
    """The one thing the driver handed over is what ``expected`` says."""
    kind = expected["kind"]
    sms, reports = ledger.of("sms_part"), ledger.of("delivery_report")
    if kind == "deliver":
        assert len(sms) == 1 and not reports, ledger.events
        _port, sender, text, ts, ref, total, seq = sms[0]
        assert sender == expected["sender"]
        if "text" in expected:
            assert text == expected["text"]
        else:
            assert text.encode("latin-1").hex().upper() == expected["data"]
        assert (ref, total, seq) == tuple(expected.get("concat") or (0, 1, 1))
        if "scts" in expected:
            assert ts == datetime.fromisoformat(expected["scts"]).timestamp()
    elif kind == "status_report":
        assert len(reports) == 1 and not sms, ledger.events
        _port, ref, recipient, status, _smsc = reports[0]
        assert (ref, recipient, status) == (expected["ref"], expected["recipient"], expected["status"])
    elif kind == "submit":
        assert not sms and not reports, "an SMS stored to be sent is not a received one"
    elif kind == "readable":
        assert ledger.received, "the source reads this message: it must reach the device"
    else:
        assert kind == "any"


def deleted(rp: Replay) -> list[int]:
    return [int(line.split("=")[1].split(",")[0]) for line in rp.peer.heard if line.upper().startswith("AT+CMGD=")]


@pytest.mark.parametrize("v", cases("sms_stored"))
async def test_stored_message(v: Vector) -> None:
    index = int(v.command.partition("=")[2])
    rp = Replay({v.command: v.answer()})
    try:
        await rp.up()
        rp.ledger.hold = asyncio.Event()
        await rp.say(f'\r\n+CMTI: "SM",{index}\r\n'.encode())
        assert v.command in rp.peer.heard
        rp.check_deletes()  # nothing may go while the device has not stored it
        rp.ledger.hold.set()
        await rp.clock.advance(1)
        rp.check_deletes()
        received(rp.ledger, v.expected)
        if v.expected["kind"] in ("deliver", "status_report"):
            assert deleted(rp) == [index], "once the device has it, the message leaves the SIM"
    finally:
        await rp.close()


@pytest.mark.parametrize("v", cases("sms_listed"))
async def test_listed_messages(v: Vector) -> None:
    rp = Replay({"AT+CMGL=4": v.answer()})
    try:
        await rp.up()  # the bring-up sweeps the storage
        rp.check_deletes()
        expected = v.expected["messages"]
        sms = rp.ledger.of("sms_part")
        delivers = [e for e in expected if e["kind"] == "deliver"]
        assert len(sms) == len(delivers), rp.ledger.events
        for got, want in zip(sms, delivers, strict=True):
            one = Ledger()
            one.events = [("sms_part", got)]
            received(one, want)
        kept = {i for i, e in zip(v["indexes"], expected, strict=True) if e["kind"] == "deliver"}
        assert kept <= set(deleted(rp)), "each message the device has leaves the SIM"
    finally:
        await rp.close()


@pytest.mark.parametrize("v", cases("sms_direct"))
async def test_direct_message(v: Vector) -> None:
    rp = Replay()
    try:
        await rp.up()
        heard = len(rp.peer.heard)
        await rp.say(v.answer() if "raw" in v.data else frame(*v.lines, final=None))
        received(rp.ledger, v.expected)
        if v.expected["kind"] in ("deliver", "status_report"):
            acks = [(line, acked) for line, acked in rp.timeline[heard:] if line.upper() == "AT+CNMA"]
            assert acks and acks[0][1] >= 1, "acknowledged to the network once the device has it"
    finally:
        await rp.close()
