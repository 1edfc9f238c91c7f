"""``modems = "at"``: the [[modem]] tables, checked at start with the reason in one line; USSD decoding."""

from __future__ import annotations

import re

import pytest

from ejoin.drivers import load_gateway_config
from ejoin.gateway.config import ConfigError
from ejoin.modems.at.balance import parse_amount
from ejoin.protocol.at_fields import ussd_text
from ejoin.protocol.pdu_fields import pack_septets
from ejoin.protocol.text import gsm7_septets


def at_config(*modems, ports=2):
    return load_gateway_config(None, {"modems": "at", "ports": ports, "slots": 1, "modem": list(modems)})


def test_one_modem_per_port():
    config = at_config(
        {"port": 1, "device": "/dev/serial/by-path/a", "profile": "quectel"},
        {"port": 2, "device": "/dev/serial/by-path/b", "baud": 9600},
    )
    assert [(m.port, m.baud, m.profile) for m in config.driver.modem] == [(1, 115200, "quectel"), (2, 9600, "generic")]


@pytest.mark.parametrize(
    ("modems", "message"),
    [
        ([{"port": 1, "device": "/dev/a"}], "ports 2 have no [[modem]] table"),
        ([{"port": 1, "device": "/dev/a"}, {"port": 1, "device": "/dev/b"}], "port 1 already has a module"),
        ([{"port": 3, "device": "/dev/a"}, {"port": 1, "device": "/dev/b"}], "port 3 is not a port of this device"),
        ([{"port": 1, "device": "/dev/a", "profile": "nokia"}, {"port": 2, "device": "/dev/b"}], "unknown profile"),
        ([{"port": 1, "device": ""}, {"port": 2, "device": "/dev/b"}], "device (the serial line"),
        ([{"port": 1, "device": "/dev/a", "speed": 1}], "unknown key(s) in [[modem]] #1: speed"),
    ],
)
def test_bad_modem_tables_say_what_is_wrong(modems, message):
    with pytest.raises(ConfigError) as exc:
        at_config(*modems)
    assert message in str(exc.value)


def test_simulator_keys_are_not_at_keys():
    with pytest.raises(ConfigError, match="unknown key"):
        load_gateway_config(
            None, {"modems": "at", "ports": 1, "sim_fill": 0.5, "modem": [{"port": 1, "device": "/dev/a"}]}
        )


def test_ussd_texts_decode_per_dcs():
    packed = pack_septets(gsm7_septets("Balance: 12.30")).hex().upper()
    assert ussd_text(packed, 15, packed=True) == "Balance: 12.30"
    assert ussd_text(packed, 15, charset="") == "Balance: 12.30"  # character set unknown: hex is packed
    assert ussd_text("Привет".encode("utf-16-be").hex(), 72, "GSM") == "Привет"
    assert ussd_text("Balance: 1", 15, "GSM") == "Balance: 1"  # a module that shows text as text


def test_balance_rules_are_tables_checked_at_start():
    modem = {"port": 1, "device": "/dev/a"}
    config = load_gateway_config(
        None,
        {
            "modems": "at",
            "ports": 1,
            "modem": [modem],
            "balance": [{"operator": "26201", "code": "*100#", "pattern": r"Guthaben: ([0-9,]+)"}],
        },
    )
    [rule] = config.driver.balance
    assert rule.balance_in("Ihr Guthaben: 12,30 EUR") == 12.3 and rule.balance_in("Fehler") is None


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"code": "*100", "pattern": "([0-9.]+)", "operator": "2620A"}, "operator is a PLMN"),
        ({"code": "AT+CFUN=0", "pattern": "([0-9.]+)"}, "code: a USSD string holds only"),
        ({"code": "*100#", "pattern": "(["}, "pattern is not a regular expression"),
        ({"code": "*100#", "pattern": "(a)(b)"}, "one group around the number"),
        ({"code": "*100#"}, "pattern"),
    ],
)
def test_bad_balance_rules_say_what_is_wrong(rule, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_gateway_config(
            None, {"modems": "at", "ports": 1, "modem": [{"port": 1, "device": "/dev/a"}], "balance": [rule]}
        )


@pytest.mark.parametrize(
    ("text", "value"),
    [("12.30", 12.3), ("12,30", 12.3), ("1,234.50", 1234.5), ("1.234,50", 1234.5), ("-3", -3.0), ("R", None)],
)
def test_amounts_as_networks_write_them(text, value):
    assert parse_amount(text) == value
