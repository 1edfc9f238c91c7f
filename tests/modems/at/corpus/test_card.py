"""Real answers to the bring-up's questions replayed through the AT driver: the card's state (+CPIN),
its ICCID, IMSI, the module's IMEI, the own number and the operator, and the signal."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .loader import Vector, cases
from .replay import ERROR, IMSI, Replay, frame


def field(name: str) -> Callable[[Vector], bool]:
    return lambda v: v["field"] == name


def in_turn(*answers: bytes) -> Callable[[str], bytes]:
    """One answer after the other, the last one from then on."""
    left = list(answers)
    return lambda line: left.pop(0) if len(left) > 1 else left[0]


@pytest.mark.parametrize("v", cases("card", "", field("cpin")))
async def test_the_card_state(v: Vector) -> None:
    answer = in_turn(v["raw_first"].encode(), v.answer()) if "raw_first" in v.data else v.answer()
    rp = Replay({"AT+CPIN?": answer})
    try:
        card = await rp.up()
        assert card.present and not card.error
        if v.expected["lock"] == "READY":
            assert not card.waiting and card.imsi == IMSI
        else:
            assert card.waiting, "a card waiting for a PIN or PUK shows 11 until it is given"
        assert rp.ledger.of("module_lost") == []
    finally:
        await rp.close()


@pytest.mark.parametrize("v", cases("card", "", field("iccid")))
async def test_the_iccid(v: Vector) -> None:
    rp = Replay({"AT+QCCID": ERROR, v.command: v.answer()}, profile=v["profile"])
    try:
        card = await rp.up()
        assert card.iccid == v.expected["iccid"]
    finally:
        await rp.close()


@pytest.mark.parametrize("v", cases("card", "", field("imsi")))
async def test_the_imsi(v: Vector) -> None:
    rp = Replay({v.command: v.answer()})
    try:
        assert (await rp.up()).imsi == v.expected["imsi"]
    finally:
        await rp.close()


@pytest.mark.parametrize("v", cases("card", "", field("imei")))
async def test_the_imei(v: Vector) -> None:
    rp = Replay({v.command: v.answer()})
    try:
        await rp.up()
        assert rp.module.imei == v.expected["imei"]
    finally:
        await rp.close()


@pytest.mark.parametrize("v", cases("card", "", field("number")))
async def test_the_own_number(v: Vector) -> None:
    rp = Replay({v.command: v.answer()})
    try:
        assert (await rp.up()).number == v.expected["number"]
    finally:
        await rp.close()


@pytest.mark.parametrize("v", cases("card", "", field("operator")))
async def test_the_operator(v: Vector) -> None:
    rp = Replay()

    def cops(line: str) -> bytes:
        # the captured answer in its own format (AT+COPS=3,<format> before); the other format has no operator
        chosen = [h for h in rp.peer.heard if h.startswith("AT+COPS=3,")]
        asked = int(chosen[-1].rpartition(",")[2]) if chosen else 0
        return v.answer() if asked == v["format"] else frame("+COPS: 0")

    rp.peer.script["AT+COPS?"] = cops
    try:
        assert (await rp.up()).operator == v.expected["operator"]
    finally:
        await rp.close()


@pytest.mark.parametrize("v", cases("signal"))
async def test_the_signal(v: Vector) -> None:
    rp = Replay({v.command: v.answer()})
    try:
        await rp.up()
        assert await rp.run(rp.driver.signal(rp.PORT)) == v.expected["signal"]
    finally:
        await rp.close()
