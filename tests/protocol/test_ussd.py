"""Which USSD codes and AT lines may reach a module."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ejoin.protocol.ussd import PassthroughError, check_at_line, check_ussd, split_at_line


@pytest.mark.parametrize("code", ["*100#", "#123#", "1", "*125*10*+15551234#", " *100# ", "*" + "1" * 181])
def test_dialable_codes_pass(code):
    assert check_ussd(code) == code.strip()


@pytest.mark.parametrize("code", ["*100#a", "*100#\n", "１", "*1" * 92, "*100# #"])
def test_other_codes_are_refused(code):
    with pytest.raises(PassthroughError):
        check_ussd(code)


@pytest.mark.parametrize(
    "line, commands",
    [
        ("AT", []),
        ("ATI", [("I", "")]),
        ("ATE0V1", [("E", "0"), ("V", "1")]),
        ("AT+CSQ;+CMGF=1", [("+CSQ", ""), ("+CMGF", "=1")]),
        ('AT+CPMS="SM;X","SM"', [("+CPMS", '="SM;X","SM"')]),
        ("at&f", [("&F", "")]),
        ("ATS0=1", [("S0", "=1")]),
        ("ATD*100#;", [("D", "*100#;")]),
        ("AT^SYSINFO", [("^SYSINFO", "")]),
    ],
)
def test_lines_split_into_commands(line, commands):
    assert [(c.name, c.rest) for c in split_at_line(line)] == commands


@pytest.mark.parametrize(
    "line",
    [
        "AT+CSQ",
        "AT+CMGF?",
        "AT+CFUN=?",
        "AT+CNMI?",
        "ATI",
        "AT+COPS=?",
        "ATD*100#;",
        # how many messages wait on the module, and what the message commands take: changes nothing
        "AT+CPMS?",
        "AT+CMGD=?",
        "AT+CMGL=?",
        "AT+CSMP?",
        'AT+CSCA="+4477001234",145',
    ],
)
def test_harmless_lines_pass(line):
    assert check_at_line(line) == line


@pytest.mark.parametrize(
    "line, named",
    [
        ("ATE0", "ATE0"),
        ("AT+CMGF=0", "AT+CMGF=0"),
        ("AT+CSQ;+CFUN=1,1", "AT+CFUN=1,1"),
        ("ATV0", "ATV0"),
        ("AT+CMEE=0", "AT+CMEE=0"),
        # what the driver has not read yet must stay on the module: no delete, mark or early acknowledgement
        ("AT+CMGD=1", "AT+CMGD=1 would delete stored messages"),
        ("AT+CMGD=1,4", "AT+CMGD=1,4 would delete"),
        ("AT+CSQ;+CMGR=3", "AT+CMGR=3 would mark an unread stored message read"),
        ("AT+CMGL=4", "AT+CMGL=4 would mark"),
        ('AT+CMGL="REC UNREAD"', "AT+CMGL"),
        ("AT+CMGL", "AT+CMGL"),
        ("AT+CNMA", "AT+CNMA would acknowledge"),
        ("AT+CMSS=2", "goip_post_sms"),
        ("AT+CSMP=17,167,0,0", "delivery report requests"),
        ("AT+CSMS=1", "AT+CSMS=1"),
        ("AT+CRES", "AT+CRES"),
    ],
)
def test_driver_breaking_commands_are_named(line, named):
    with pytest.raises(PassthroughError, match=named.replace("+", r"\+")):
        check_at_line(line)


@given(st.text(max_size=60))
def test_no_line_with_a_control_character_ever_passes(text):
    try:
        line = check_at_line("AT" + text)
    except PassthroughError:
        return
    assert all(" " <= ch <= "~" for ch in line)
