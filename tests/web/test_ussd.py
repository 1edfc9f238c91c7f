"""goip_send_ussd.html and goip_send_at.html over HTTP, on every driver that can run them.

The suite is parametrized by driver (``NETWORKS``): each entry is a class with
the controls below (a menu, a balance, a signal, an unregistered port, a silent
module) and the config overrides that pick the driver.  The emulated AT modems
join it as a second entry (`EmulatedNetwork`): their network is expected to
answer the simulated network's default menus (``*100#``, ``*101#``, the transfer
``*125*{amount}*{to}#``) and unknown codes alike.  The tests at the end (the
``device`` fixture) are the simulated network's own.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

import pytest

from ejoin.protocol.codes import PortState

USSD, AT = "/goip_send_ussd.html", "/goip_send_at.html"


@dataclass
class SimulatedNetwork:
    """The simulated network's controls (/sim/*)."""

    dev: Any
    config: dict[str, Any]

    async def add_menu(self, code: str, menu: dict[str, Any]) -> None:
        res = await self.dev.post("/sim/ussd", {"code": code, **menu})
        assert res["code"] == 0, res

    async def set_balance(self, slot: str, value: str, price: str) -> None:
        assert (await self.dev.get("/sim/balance", port=slot, value=value, price=price))["code"] == 0

    async def fix_signal(self, port: str, value: int) -> None:
        assert (await self.dev.get("/sim/signal", port=port, value=str(value)))["code"] == 0

    async def remove_sim(self, slot: str) -> None:
        assert (await self.dev.get("/sim/remove", port=slot))["code"] == 0
        await self.dev.settle()

    async def unregister(self, port: str) -> None:
        """The slot's next registration fails and the port starts over."""
        assert (await self.dev.get("/sim/registration", port=port, outcome="fail"))["code"] == 0
        await self.dev.cmd(op="reset", ports=port.split(".")[0])
        # over AT the reset also depends on the serial lines
        await self.dev.until(lambda: self.dev.slot(port).state == PortState.REGISTER_FAILED, 60, f"{port} shows 6")

    async def silence_module(self, port: str) -> None:
        """The module stops answering (state 16)."""
        assert (await self.dev.get("/sim/registration", port=port, outcome="timeout"))["code"] == 0
        await self.dev.cmd(op="reset", ports=port.split(".")[0])
        await self.dev.settle()


class EmulatedNetwork(SimulatedNetwork):
    """AT modem emulators on ptys in front of the same simulated network, through the real AT driver."""

    async def silence_module(self, port: str) -> None:
        """The module hangs: the reset finds it out on the device clock (state 16)."""
        assert (await self.dev.get("/sim/fault", port=port.split(".")[0], fault="no_answer"))["code"] == 0
        await self.dev.cmd(op="reset", ports=port.split(".")[0])
        await self.dev.until(lambda: self.dev.slot(port).state == PortState.MODULE_TIMEOUT, 30, f"{port} shows 16")


NETWORKS = {"simulated": (SimulatedNetwork, {}), "emulated": (EmulatedNetwork, {"modems": "emulated"})}


@pytest.fixture(params=list(NETWORKS))
async def net(request, device_factory):
    kind, overrides = NETWORKS[request.param]
    dev = await device_factory(**overrides)
    await dev.settle()
    return kind(dev, overrides)


async def ussd(dev, *, wait: float = 2.0, **params: Any) -> dict:
    """A USSD request; the network answers in (simulated) time."""
    pending = asyncio.ensure_future(dev.get(USSD, **params))
    await dev.clock.settle()
    if not pending.done():
        await dev.clock.advance(wait)
    return await pending


def creg_stat(answer: str) -> int:
    """The <stat> of a +CREG answer, whatever <n> the driver set (+CREG: 0,1 / +CREG: 2,1,"1A2B","00C3F01")."""
    found = re.match(r"\+CREG: \d+,(\d+)", answer)
    assert found and answer.endswith("\r\nOK"), answer
    return int(found.group(1))


async def at(dev, line: str, **params: Any) -> dict:
    pending = asyncio.ensure_future(dev.get(AT, at=line, **{"port": "1", **params}))
    await dev.clock.settle()
    if not pending.done():
        await dev.clock.advance(2.0)
    return await pending


# --- answers -----------------------------------------------------------------------


async def test_balance_query_answers_the_sims_balance_and_price(net):
    dev = net.dev
    await net.set_balance("1.01", "12.34", "0.05")
    res = await ussd(dev, port="1", ussd="*100#")
    assert res["code"] == 0 and res["reason"] == "OK" and res["port"] == "1.01" and res["session"] == 0
    assert "12.34" in res["resp"] and "0.05" in res["resp"]
    # an SMS costs the price: the balance query follows
    await dev.send_ok({"tid": 1, "to": "5550100", "sms": "hi", "from": "1.01"})
    await dev.clock.advance(5)
    res = await ussd(dev, port="1", ussd="*100#")
    assert "12.29" in res["resp"]


async def test_own_number_query_answers_the_number_the_status_shows(net):
    status = await net.dev.status()
    res = await ussd(net.dev, port="2", ussd="*101#")
    assert res["code"] == 0 and status["status"][1]["sn"] in res["resp"] and res["session"] == 0


async def test_a_multi_step_menu_on_one_port(net):
    dev = net.dev
    res = await ussd(dev, port="1", ussd="*125*10*5551234#")
    assert res["session"] == 1 and "10" in res["resp"] and "5551234" in res["resp"]
    assert dev.gw.passthrough.has_session(1)
    res = await ussd(dev, port="1", ussd="1")
    assert res["session"] == 1 and "Confirm" in res["resp"]
    res = await ussd(dev, port="1", ussd="1")
    assert res == {"code": 0, "reason": "OK", "port": "1.01", "resp": "Transfer of 10 to 5551234 done.", "session": 0}
    assert not dev.gw.passthrough.has_session(1)  # the network ended it
    res = await ussd(dev, port="1", ussd="1")  # no session: a lone "1" is no code
    assert res["session"] == 0 and res["resp"] == "UNKNOWN APPLICATION"


async def test_a_menu_reply_may_come_as_a_json_number_in_a_post(net):
    dev = net.dev
    pending = asyncio.ensure_future(dev.post(USSD, {"port": 1, "ussd": "*125*5*555#"}))
    await dev.clock.advance(2)
    assert (await pending)["session"] == 1
    pending = asyncio.ensure_future(dev.post(USSD, {"port": "1.01", "ussd": 2}))
    await dev.clock.advance(2)
    assert (await pending)["resp"] == "Transfer cancelled."


async def test_a_form_body_is_read_too(net):
    pending = asyncio.ensure_future(net.dev.post(USSD, raw="port=3&ussd=%2A100%23"))
    await net.dev.clock.advance(2)
    res = await pending
    assert res["code"] == 0 and res["port"] == "3.01"


async def test_a_wrong_choice_shows_the_menu_again(net):
    await ussd(net.dev, port="1", ussd="*125*1*2#")
    res = await ussd(net.dev, port="1", ussd="7")
    assert res["session"] == 1 and res["resp"].startswith("Invalid choice.\nTransfer 1 to 2?")


async def test_unknown_codes_answer_as_networks_do(net):
    res = await ussd(net.dev, port="1", ussd="*999*1#")
    assert res == {"code": 0, "reason": "OK", "port": "1.01", "resp": "UNKNOWN APPLICATION", "session": 0}


async def test_cancel_ends_the_session(net):
    dev = net.dev
    await ussd(dev, port="1", ussd="*125*1*2#")
    res = await ussd(dev, port="1", cancel="1")
    assert res == {"code": 0, "reason": "OK", "port": "1.01", "resp": "", "session": 0}
    assert not dev.gw.passthrough.has_session(1)
    assert (await ussd(dev, port="1", ussd="1"))["resp"] == "UNKNOWN APPLICATION"
    # cancel with a code: the old session ends and the code starts a new one
    await ussd(dev, port="1", ussd="*125*1*2#")
    res = await ussd(dev, port="1", ussd="*100#", cancel="1")
    assert res["session"] == 0 and "balance" in res["resp"]


async def test_an_idle_session_times_out_on_the_device_clock(net):
    dev = net.dev
    await ussd(dev, port="1", ussd="*125*1*2#")  # answered 1 s in, the helper waited 2 s
    await dev.clock.advance(58.5)
    assert dev.gw.passthrough.has_session(1)
    await dev.clock.advance(1)
    assert not dev.gw.passthrough.has_session(1)
    assert (await ussd(dev, port="1", ussd="1"))["resp"] == "UNKNOWN APPLICATION"


async def registered(dev, port: int, within: float = 60.0) -> None:
    """Simulated time passes until ``port`` is registered again (over AT it depends on the serial lines too)."""
    await dev.until(
        lambda: dev.gw.device.port(port).active.state == PortState.REGISTERED, within, f"port {port} registered again"
    )


async def test_a_switch_ends_the_session(net):
    dev = net.dev
    await ussd(dev, port="1", ussd="*125*1*2#")
    await dev.cmd(op="switch", ports="1.02")
    await dev.settle()
    await registered(dev, 1)
    assert not dev.gw.passthrough.has_session(1)
    res = await ussd(dev, port="1", ussd="1")
    assert res["port"] == "1.02" and res["resp"] == "UNKNOWN APPLICATION"


async def test_one_ussd_at_a_time_per_port(net):
    dev = net.dev
    first = asyncio.ensure_future(dev.get(USSD, port="1", ussd="*100#"))
    await dev.clock.settle()
    assert not first.done() and dev.gw.passthrough.busy(1)
    assert await dev.get(USSD, port="1", ussd="*101#") == {
        "code": 4,
        "reason": "4 Pending USSD: another USSD is running on port 1",
    }
    assert (await dev.get(USSD, port="1.01", cancel="1"))["code"] == 4
    other = asyncio.ensure_future(dev.get(USSD, port="2", ussd="*101#"))  # another port is free
    await dev.clock.advance(2)
    assert (await first)["code"] == 0 and (await other)["code"] == 0
    assert not dev.gw.passthrough.busy(1)


async def test_a_network_that_does_not_answer_times_out_and_frees_the_port(net):
    dev = net.dev
    await net.add_menu("*555#", {"text": "late", "delay": 500})
    pending = asyncio.ensure_future(dev.get(USSD, port="1", ussd="*555#", timeout="5"))
    await dev.clock.advance(4.9)
    assert not pending.done()
    await dev.clock.advance(0.2)
    assert await pending == {"code": 6, "reason": "6 Timeout: the network did not answer within 5 seconds"}
    assert not dev.gw.passthrough.busy(1) and not dev.gw.passthrough.has_session(1)
    assert (await ussd(dev, port="1", ussd="*100#"))["code"] == 0


async def test_menus_added_at_run_time_answer_with_their_delay(net):
    dev = net.dev
    await net.add_menu(
        "*200*{n}#",
        {"text": "Pack {n}? 1. Yes", "options": {"1": {"text": "Pack {n} on {number}: done", "delay": 3}}},
    )
    res = await ussd(dev, port="1", ussd="*200*7#")
    assert (res["resp"], res["session"]) == ("Pack 7? 1. Yes", 1)
    pending = asyncio.ensure_future(dev.get(USSD, port="1", ussd="1"))
    await dev.clock.advance(2.5)
    assert not pending.done()
    await dev.clock.advance(1)
    number = dev.slot("1.01").record.number
    assert (await pending)["resp"] == f"Pack 7 on {number}: done"


async def test_a_port_must_be_registered(net):
    dev = net.dev
    await net.unregister("2.01")
    assert dev.slot("2.01").state == PortState.REGISTER_FAILED
    res = await dev.get(USSD, port="2", ussd="*100#")
    assert res == {"code": 5, "reason": "5 SIM Unregistered: 2.01 is in state 6 Register failed"}
    # a slot that is not the active one cannot speak
    res = await dev.get(USSD, port="1.02", ussd="*100#")
    assert res["code"] == 5 and "1.02 is not the active slot of port 1 (1.01 is)" in res["reason"]


# --- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params, code, says",
    [
        ({"port": "1"}, 3, "3 USSD Expected"),
        ({"port": "1", "ussd": ""}, 3, "3 USSD Expected"),
        ({"port": "1", "ussd": "   "}, 3, "3 USSD Expected"),
        ({"port": "1", "ussd": "*1" * 92}, 3, "at most 182 characters"),
        ({"port": "1", "ussd": "*100#abc"}, 3, "only digits, *, # and +"),
        ({"port": "1", "ussd": "*100#\n"}, 3, "only digits"),
        ({"port": "1", "ussd": "*100#\x1a"}, 3, "only digits"),
        ({"ussd": "*100#"}, 2, "give port="),
        ({"port": "1,2", "ussd": "*100#"}, 2, "expected one"),
        ({"port": "1-3", "ussd": "*100#"}, 2, "expected one"),
        ({"port": "all", "ussd": "*100#"}, 2, "expected one"),
        ({"port": "99", "ussd": "*100#"}, 2, "does not exist"),
        ({"port": "1.09", "ussd": "*100#"}, 2, "does not exist"),
        ({"port": "0", "ussd": "*100#"}, 2, "numbered from 1"),
        ({"port": "x", "ussd": "*100#"}, 2, ""),
        ({"port": "1", "ussd": "*100#", "timeout": "0"}, 400, "1 to 120 seconds"),
        ({"port": "1", "ussd": "*100#", "timeout": "121"}, 400, "1 to 120 seconds"),
        ({"port": "1", "ussd": "*100#", "timeout": "nan"}, 400, "1 to 120 seconds"),
        ({"port": "1", "ussd": "*100#", "timeout": "soon"}, 400, "number of seconds"),
        ({"port": "1", "ussd": "*100#", "cancel": "maybe"}, 400, "cancel is 0 or 1"),
    ],
)
async def test_bad_ussd_requests_are_refused_with_a_reason(net, params, code, says):
    res = await net.dev.get(USSD, **params)
    assert res["code"] == code and res["reason"].startswith(f"{code} " if code < 100 else "") and says in res["reason"]
    assert not net.dev.gw.passthrough.busy(1)


@pytest.mark.parametrize(
    "body",
    [{"port": [1, 2], "ussd": "*100#"}, {"port": {"a": 1}, "ussd": "*100#"}, {"port": 1, "ussd": ["*100#"]}],
)
async def test_odd_json_types_are_refused(net, body):
    res = await net.dev.post(USSD, body)
    assert res["code"] in (2, 3)


# --- AT passthrough ------------------------------------------------------------------------


async def test_the_module_answers_consistently_with_the_status(net):
    dev = net.dev
    await net.fix_signal("2", 17)
    entry = (await dev.status())["status"][1]
    assert (await at(dev, "AT+CGSN", port="2"))["resp"] == f"{entry['imei']}\r\nOK"
    assert (await at(dev, "AT+CIMI", port="2"))["resp"] == f"{entry['imsi']}\r\nOK"
    assert (await at(dev, "AT+CCID", port="2"))["resp"] == f"+CCID: {entry['iccid']}\r\nOK"
    assert (await at(dev, "at+qccid", port="2"))["resp"] == f"+QCCID: {entry['iccid']}\r\nOK"
    assert (await at(dev, "AT+CSQ", port="2"))["resp"] == "+CSQ: 17,99\r\nOK"
    assert creg_stat((await at(dev, "AT+CREG?", port="2"))["resp"]) == 1  # registered (a driver may set n=2)
    assert (await at(dev, "AT+CPIN?", port="2"))["resp"] == "+CPIN: READY\r\nOK"
    cops = (await at(dev, "AT+COPS?", port="2"))["resp"]
    name = cops.split('"')[1]
    assert cops.startswith("+COPS: 0,0,") and name and name in entry["opr"]
    assert (await at(dev, "ATI"))["resp"].endswith("\r\nOK")
    assert (await at(dev, "AT"))["resp"] == "OK"
    assert (await at(dev, "AT+XYZ"))["resp"] == "ERROR"
    assert (await at(dev, "AT+CMGF?"))["resp"] == "+CMGF: 0\r\nOK"  # a read passes; PDU mode, as the driver set
    res = await at(dev, "AT+CSQ;+CIMI", port="2.01")  # a line of several commands, one final result
    assert res == {"code": 0, "reason": "OK", "port": "2.01", "resp": f"+CSQ: 17,99\r\n{entry['imsi']}\r\nOK"}
    answer = (await at(dev, "AT+CSQ;+CREG?;+CPIN?", port="2"))["resp"].split("\r\n")
    assert answer[0] == "+CSQ: 17,99" and answer[1].startswith("+CREG: ") and answer[2:] == ["+CPIN: READY", "OK"]
    assert (await at(dev, "AT+CSQ;+XYZ;+CIMI", port="2"))["resp"] == "+CSQ: 17,99\r\nERROR"  # the error ends it


async def test_the_module_of_an_empty_slot_says_so(net):
    dev = net.dev
    await net.remove_sim("3.01")
    assert (await at(dev, "AT+CIMI", port="3"))["resp"] == "+CME ERROR: 10"
    assert creg_stat((await at(dev, "AT+CREG?", port="3"))["resp"]) == 0
    assert (await at(dev, "AT+COPS?", port="3"))["resp"] == "+COPS: 0\r\nOK"


async def test_the_at_parameter_may_be_spelled_AT_and_posted(net):
    dev = net.dev
    res = await dev.post(AT, {"port": 1, "AT": "AT+CSQ"})
    assert res["code"] == 0 and res["resp"].startswith("+CSQ: ")


@pytest.mark.parametrize(
    "line, names",
    [
        ("ATE0", "ATE0"),
        ("ATE1V1", "ATE1"),
        ("AT+CMGF=1", "AT+CMGF=1"),
        ("AT+CNMI=2,1,0,0,0", "AT+CNMI=2,1,0,0,0"),
        ('AT+CPMS="SM","SM","SM"', "AT+CPMS"),
        ("AT+CSQ;+CFUN=0", "AT+CFUN=0"),
        ("at+cpowd=1", "AT+CPOWD=1"),
        ("AT+QPOWD", "AT+QPOWD"),
        ("ATZ", "ATZ"),
        ("AT&F", "AT&F"),
        ('AT+CSCS="UCS2"', "AT+CSCS"),
        ('AT+CUSD=1,"*100#",15', "goip_send_ussd"),
        ('AT+CMGS="123"', "goip_post_sms"),
        ("AT+CMGD=1,4", "AT+CMGD=1,4 would delete stored messages"),
        ("AT+CSQ;+CMGR=1", "goip_get_sms"),
    ],
)
async def test_commands_that_would_break_the_driver_are_refused(net, line, names):
    res = await net.dev.get(AT, port="1", at=line)
    assert res["code"] == 15 and res["reason"].startswith("15 Invalid CMD: ") and names in res["reason"]


@pytest.mark.parametrize(
    "line, says",
    [
        ("AT+CSQ\rAT+CFUN=0", "CR"),
        ("AT+CSQ\n", "LF"),
        ("AT+CMGS=1\x1a", "Ctrl-Z"),
        ("AT\x1b", "ESC"),
        ("", "give at="),
        ("   ", "give at="),
        ("+CSQ", "starts with AT"),
        ("AT+CSQ" + "X" * 600, "at most 512"),
        ("AT+CSQ\x00", "printable ASCII"),
        ("AT+CSQ é", "printable ASCII"),
    ],
)
async def test_bad_at_lines_never_reach_a_module(net, line, says, monkeypatch):
    dev = net.dev
    written = []
    original = dev.gw.driver.at_command

    async def spy(port, text, timeout):
        written.append(text)
        return await original(port, text, timeout)

    monkeypatch.setattr(dev.gw.driver, "at_command", spy)
    res = await dev.get(AT, port="1", at=line)
    assert res["code"] == 15 and says in res["reason"], res
    assert written == []


async def test_a_missing_at_line_and_bad_ports_and_timeouts(net):
    dev = net.dev
    assert (await dev.get(AT, port="1"))["code"] == 15
    assert (await dev.get(AT, port="1,2", at="AT"))["code"] == 2
    assert (await dev.get(AT, port="77", at="AT"))["code"] == 2
    res = await dev.get(AT, port="1.03", at="AT")
    assert res["code"] == 2 and "not the active slot" in res["reason"]
    assert (await dev.get(AT, port="1", at="AT", timeout="500"))["code"] == 400
    assert (await dev.post(AT, {"port": "1", "at": 5}))["code"] == 15


async def test_a_module_that_does_not_answer_times_out(net):
    dev = net.dev
    await net.silence_module("4.01")
    pending = asyncio.ensure_future(dev.get(AT, port="4", at="AT+CSQ", timeout="3"))
    await dev.clock.settle()
    assert not pending.done()
    await dev.clock.advance(3)
    assert await pending == {"code": 6, "reason": "6 Timeout: the module did not answer within 3 seconds"}
    res = await dev.get(USSD, port="4", ussd="*100#")
    assert res["code"] == 5 and "16" in res["reason"]


# --- the simulated network's menus ----------------------------------------------------------


async def test_sim_ussd_lists_changes_and_removes_menus(device):
    menus = (await device.get("/sim/ussd"))["menus"]
    assert {"*100#", "*101#", "*125*{amount}*{to}#"} <= set(menus)
    res = await device.get("/sim/ussd", code="*300#", text="Hello from {operator}")
    assert res["code"] == 0 and res["menus"]["*300#"] == {"text": "Hello from {operator}"}
    answer = await ussd(device, port="1", ussd="*300#")
    assert answer["resp"].startswith("Hello from ") and "{" not in answer["resp"]
    assert (await device.get("/sim/ussd", code="*300#", remove="1"))["code"] == 0
    assert (await ussd(device, port="1", ussd="*300#"))["resp"] == "UNKNOWN APPLICATION"
    for bad in (
        {"code": "*300#"},
        {"code": "300", "text": "x"},
        {"code": "*300#", "text": "x", "options": {"a": {"text": "y"}}},
        {"code": "*300#", "text": "x", "options": {"1": "y"}},
        {"code": "*300#", "text": "x", "delay": -1},
        {"code": "*9{a}{a}#", "text": "x"},
        {"code": "*301#", "remove": 1},
        {"text": "no code"},
    ):
        res = await device.post("/sim/ussd", bad)
        assert res["code"] == 400 and res["reason"], bad


async def test_menus_changed_at_run_time_survive_a_restart(device_factory, tmp_path, clock):
    dev = await device_factory()
    await dev.settle()
    await dev.post("/sim/ussd", {"code": "*400#", "text": "kept"})
    await dev.get("/sim/ussd", code="*101#", remove="1")
    await dev.client.close()
    again = await device_factory(path=tmp_path)
    await again.settle()
    menus = (await again.get("/sim/ussd"))["menus"]
    assert menus["*400#"] == {"text": "kept"} and "*101#" not in menus


async def test_menus_from_the_config(device_factory):
    dev = await device_factory(
        ussd={
            "balance": "*111#",
            "balance_text": "Bal {balance}",
            "menus": {"*5#": {"text": "Pick\n1. A", "options": {"1": {"text": "A it is"}}}},
        }
    )
    await dev.settle()
    assert (await ussd(dev, port="1", ussd="*111#"))["resp"].startswith("Bal ")
    assert (await ussd(dev, port="1", ussd="*5#"))["session"] == 1
    assert (await ussd(dev, port="1", ussd="1"))["resp"] == "A it is"


@pytest.mark.parametrize(
    "ussd_config, says",
    [
        ({"delay": -1}, r"^\[ussd\] delay: expected a number from 0 to 3600, not -1$"),
        ({"menus": {"*5#": {"txt": "x"}}}, "unknown key"),
        ({"menus": {"5": {"text": "x"}}}, "starts with \\* or #"),
        ({"menus": {"*5#": {"text": "x", "options": {"1": {}}}}}, "text is what the network answers"),
    ],
)
def test_bad_ussd_config_is_refused(tmp_path, ussd_config, says):
    from ejoin.config import ConfigError

    from ..conftest import make_config

    with pytest.raises(ConfigError, match=says):
        make_config(tmp_path, ussd=ussd_config)
