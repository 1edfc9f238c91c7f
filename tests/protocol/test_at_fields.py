"""Values in AT answers (protocol/at_fields.py): PIN states, character sets, IMEIs, USSD strings by dcs."""

from __future__ import annotations

import pytest

from ejoin.protocol.at_fields import (
    Coding,
    best_stat,
    cbs_coding,
    charset_text,
    charsets,
    imei_in,
    pin_state,
    registration_stat,
    ussd_code,
    ussd_text,
)
from ejoin.protocol.pdu_fields import pack_septets
from ejoin.protocol.text import gsm7_septets


@pytest.mark.parametrize(
    ("args", "state"),
    [("READY", "READY"), ('"SIM PIN"', "SIM PIN"), (" sim  puk ", "SIM PUK"), ('"READY"', "READY")],
)
def test_pin_states_quoted_or_not(args, state):
    assert pin_state(args) == state


def test_character_sets_offered():
    assert charsets('("IRA","GSM","UCS2")') == ["IRA", "GSM", "UCS2"]
    assert charsets('"gsm"') == ["GSM"]


@pytest.mark.parametrize(
    ("lines", "imei"),
    [
        (["867962041294151"], "867962041294151"),
        (['+CGSN: "867962041294151"'], "867962041294151"),
        (["IMEI: 35186301234567"], "35186301234567"),
        (["SMS DONE", "867962041294151"], "867962041294151"),
        (["ERROR"], ""),
    ],
)
def test_imei_wherever_the_module_puts_it(lines, imei):
    assert imei_in(lines) == imei


def test_text_in_the_modules_character_set():
    assert charset_text("w{hlen", "GSM") == "wählen"
    assert charset_text("\x00 \x02", "GSM") == "@ $"  # GSM's @ and $ are 0x00 and 0x02
    assert charset_text("0077006C", "UCS2") == "wl"
    assert charset_text("w{hlen", "IRA") == "w{hlen"


@pytest.mark.parametrize(
    ("dcs", "coding", "language"),
    [
        (0x0F, Coding.GSM7, False),
        (0x00, Coding.GSM7, False),
        (0x10, Coding.GSM7, True),
        (0x11, Coding.UCS2, True),
        (0x48, Coding.UCS2, False),
        (0x44, Coding.DATA8, False),
        (0xF4, Coding.DATA8, False),
        (0x25, Coding.GSM7, False),  # a language of group 2
        (0xA0, Coding.GSM7, False),  # reserved: the default alphabet
    ],
)
def test_cbs_data_coding(dcs, coding, language):
    assert cbs_coding(dcs) == (coding, language)


def test_language_prefixed_strings_lose_their_prefix():
    packed = pack_septets(gsm7_septets("en\rBalance 5.0")).hex().upper()
    assert ussd_text(packed, 0x10, packed=True) == "Balance 5.0"
    padded = pack_septets(gsm7_septets("en\rBalance 5.00\r")).hex().upper()  # 7 spare bits: a CR (23.038)
    assert ussd_text(padded, 0x0F, packed=True) == "en\rBalance 5.00"
    assert ussd_text("en\nBalance 5.00", 0x10, "GSM") == "Balance 5.00"  # its CR was a line end
    assert ussd_text("6539" + "Ok".encode("utf-16-be").hex(), 0x11, "GSM") == "Ok"


def test_ussd_codes_as_the_module_wants_them():
    assert ussd_code("*100#", "GSM", packed=False) == "*100#"
    assert ussd_code("*100#", "UCS2", packed=False) == "002A0031003000300023"
    assert ussd_code("*100#", "GSM", packed=True) == "AA180C3602"


def test_the_best_of_several_registrations():
    assert best_stat([0, 6]) == 6 and best_stat([3, 2]) == 2 and best_stat([3, 0]) == 3 and best_stat([]) is None
    assert registration_stat("") is None and registration_stat("x,y") is None
