"""A SIM's files as eSIM and IoT SIM managers read them through ``goip_send_at.html``: AT+CRSM, AT+CSIM,
logical channels (AT+CCHO/AT+CGLA/AT+CCHC, as lpac's AT driver asks them), and the IMEI through AT+EGMR,
on the simulated network and on emulated modules alike."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from ejoin.modems.at.profiles import iccid_from_crsm
from ejoin.sim.uicc import CardFiles, Uicc, imsi_file, msisdn_record, spn_file

AT = "/goip_send_at.html"
USIM = "A0000000871002FF49FF0589"
ISD_R = "A0000005591010FFFFFFFF8900000100"  # an eUICC's ISD-R: these cards are plain USIMs


def test_the_files_hold_the_card_as_ts_31_102_codes_it():
    assert imsi_file("262011234567890").hex().upper() == "082926102143658709"
    assert imsi_file("31026012345678").hex().upper() == "0831016210325476F8"  # even length: parity 1, pad F
    assert spn_file("Telekom")[:8] == b"\x00Telekom" and spn_file("Telekom")[8:] == b"\xff" * 9
    record = msisdn_record("+4917612345678")  # 7 bytes of digits and the TON byte: length 8
    assert len(record) == 28 and record[14:17] == bytes([8, 0x91, 0x94]) and record[-2:] == b"\xff\xff"
    card = Uicc(CardFiles.of("8949020000123456789", "310260123456789", "", "310260 T-Mobile"))
    assert card.crsm(176, 0x6FAD, 0, 0, 4) == (0x90, 0x00, "00000003")  # a three-digit MNC
    sw1, sw2, data = card.crsm(176, 0x2FE2, 0, 0, 10)
    assert iccid_from_crsm(f'{sw1},{sw2},"{data}"') == "8949020000123456789"  # as every driver profile reads it


def test_apdus_and_their_status_words():
    card = Uicc(CardFiles.of("8949020000123456789", "262011234567890", "+4917612345678", "26201 Telekom"))
    assert card.apdu("00B0000009") == "6986"  # no file selected
    assert card.apdu("00A4000C026F07") == "9000"
    assert card.apdu("00B0000009") == "0829261021436587099000"
    assert card.apdu("00B2010400") == "6981"  # EF_IMSI is no record file
    assert card.apdu("00A4000C026F40") == "9000" and card.apdu("00B2010400").endswith("9000")
    assert card.apdu("00B2020400") == "6A83"  # one record only
    assert card.apdu("00A4000C021234") == "6A82"
    assert card.apdu("00CA000000") == "6D00" and card.apdu("8A") == "6700" and card.apdu("F0B0000009") == "6E00"
    channels = [card.open_channel(USIM) for _ in range(4)]
    assert channels == [1, 2, 3, None] and card.open_channel(ISD_R) is None
    assert card.close_channel(2) and not card.close_channel(2) and not card.close_channel(0)


NETWORKS = {"simulated": {}, "emulated": {"modems": "emulated"}}


@pytest.fixture(params=list(NETWORKS))
async def dev(request, device_factory):
    device = await device_factory(**NETWORKS[request.param])
    await device.settle()
    return device


async def at(dev: Any, line: str) -> str:
    pending = asyncio.ensure_future(dev.get(AT, port="1", at=line))
    await dev.clock.settle()
    if not pending.done():
        await dev.clock.advance(2.0)
    res = await pending
    assert res["code"] == 0, res
    return res["resp"]


async def test_the_card_read_by_restricted_access(dev):
    entry = (await dev.status())["status"][0]
    answer = await at(dev, "AT+CRSM=176,12258,0,0,10")
    assert iccid_from_crsm(answer.split("\r\n")[0].partition(":")[2]) == entry["iccid"]
    imsi = await at(dev, "AT+CRSM=176,28423,0,0,9")
    assert imsi == f'+CRSM: 144,0,"{imsi_file(entry["imsi"]).hex().upper()}"\r\nOK'
    mnc = len(entry["opr"].split()[0]) - 3  # EF_AD: the MNC's length
    assert await at(dev, "AT+CRSM=176,28589,0,0,4") == f'+CRSM: 144,0,"0000000{mnc}"\r\nOK'
    assert await at(dev, "AT+CRSM=176,4660,0,0,1") == "+CRSM: 106,130\r\nOK"  # no such file
    assert (await at(dev, "AT+CRSM=192,28423")).startswith('+CRSM: 144,0,"62')  # its FCP


async def test_apdus_on_the_basic_channel(dev):
    entry = (await dev.status())["status"][0]
    answer = await at(dev, 'AT+CSIM=14,"00A4000C022FE2";+CSIM=10,"00B000000A"')
    first, second, final = answer.split("\r\n")
    assert first == '+CSIM: 4,"9000"' and final == "OK"
    data = re.fullmatch(r'\+CSIM: 24,"([0-9A-F]{20})9000"', second)
    assert data and iccid_from_crsm(f'144,0,"{data.group(1)}"') == entry["iccid"]


async def test_a_logical_channel_as_an_esim_manager_opens_it(dev):
    entry = (await dev.status())["status"][0]
    for probe in ("AT+CCHO=?", "AT+CCHC=?", "AT+CGLA=?"):  # lpac's AT driver checks these first
        assert await at(dev, probe) == "OK"
    assert await at(dev, f'AT+CCHO="{ISD_R}"') == "+CME ERROR: 4"  # no eUICC here
    opened = await at(dev, f'AT+CCHO="{USIM}"')
    channel = re.fullmatch(r"\+CCHO: (\d+)\r\nOK", opened)
    assert channel, opened
    n = channel.group(1)
    assert (await at(dev, f'AT+CGLA={n},14,"00A4000C026F07"')) == '+CGLA: 4,"9000"\r\nOK'
    imsi = imsi_file(entry["imsi"]).hex().upper()
    assert await at(dev, f'AT+CGLA={n},10,"00B0000009"') == f'+CGLA: 22,"{imsi}9000"\r\nOK'
    assert await at(dev, f"AT+CCHC={n}") == "OK"
    assert await at(dev, f'AT+CGLA={n},10,"00B0000009"') == "+CME ERROR: 3"  # closed


async def test_the_imei_write_that_follows_op_set_sim_imei(dev):
    imei = "865847053403202"
    res = await dev.get("/goip_send_cmd.html", op="set", **{"sim_imei(0)": imei})  # port 1, slot A
    assert res["code"] == 0
    assert await at(dev, f'AT+EGMR=1,7,"{imei}"') == "OK"
    assert await at(dev, "AT+EGMR=0,7") == f'+EGMR: "{imei}"\r\nOK'
    assert await at(dev, 'AT+EGMR=1,7,"86584705340"') == "+CME ERROR: 3"  # not an IMEI


async def test_every_registration_and_the_character_set_are_answered(dev):
    for name in ("+CREG", "+CGREG", "+CEREG"):
        answer = await at(dev, f"AT{name}?")
        assert re.fullmatch(rf"\{name}: \d,(1|5)(,.*)?\r\nOK", answer), answer
    assert await at(dev, "AT+CGATT?") == "+CGATT: 1\r\nOK"
    assert await at(dev, "AT+CSCS?") == '+CSCS: "GSM"\r\nOK'
