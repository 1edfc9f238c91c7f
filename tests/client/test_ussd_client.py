"""USSD and AT from the SDK (sync and async) and the CLI, against a running gateway."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from click.testing import CliRunner

from ejoin.cli import main
from ejoin.client import (
    AsyncClient,
    AtAnswer,
    BadRequest,
    Client,
    InvalidCommand,
    InvalidPort,
    ModuleTimeout,
    PendingUssd,
    SimUnregistered,
    UssdAnswer,
)

from ..threaded import ServerThread


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = ServerThread(
        str(tmp_path_factory.mktemp("ussd")),
        sim=[{"port": "3.01", "fail": True}],
    ).start()
    yield s
    s.stop()


@pytest.fixture
def dev(server):
    with Client(server.url) as c:
        yield c


def test_ussd_and_a_menu(dev):
    answer = dev.ussd(1, "*100#")
    assert isinstance(answer, UssdAnswer) and answer.port == "1.01" and not answer.session_open
    assert "balance" in answer.text
    step = dev.ussd("1", "*125*10*5551234#")
    assert step.session_open and "5551234" in step.text
    assert dev.ussd(1, "1").session_open
    done = dev.ussd(1, "1", timeout=5)
    assert done == UssdAnswer(port="1.01", text="Transfer of 10 to 5551234 done.", session_open=False)
    assert dev.ussd(2, "*125*1*2#").session_open
    assert dev.ussd_cancel(2) == UssdAnswer(port="2.01", text="", session_open=False)
    assert dev.ussd(2, "1").text == "UNKNOWN APPLICATION"


def test_ussd_refusals_are_typed(dev):
    with pytest.raises(SimUnregistered, match="5 SIM Unregistered"):
        dev.ussd(3, "*100#")
    with pytest.raises(InvalidPort):
        dev.ussd("1,2", "*100#")
    with pytest.raises(BadRequest, match="USSD Expected"):
        dev.ussd(1, "")
    with pytest.raises(BadRequest, match="1 to 120"):
        dev.ussd(1, "*100#", timeout=500)


def test_at(dev):
    status = dev.status().status[0]
    answer = dev.at(1, "AT+CGSN")
    assert isinstance(answer, AtAnswer) and answer.ok and answer.lines == [status.imei, "OK"]
    assert not dev.at("1", "AT+NOPE").ok
    with pytest.raises(InvalidCommand, match="AT\\+CMGF=0"):
        dev.at(1, "AT+CMGF=0")
    with pytest.raises(InvalidCommand, match="CR"):
        dev.at(1, "AT\rAT")


async def test_async_client(device):
    url = str(device.client.make_url("/"))
    async with AsyncClient(url) as dev:
        pending = asyncio.ensure_future(dev.ussd(1, "*101#"))
        await device.clock.settle()
        await device.clock.advance(2)
        answer = await pending
        assert answer.text == f"Your number is {device.slot('1.01').record.number}."
        assert (await dev.at(1, "AT+CSQ")).text.startswith("+CSQ: ")
        # a network that does not answer: the port is busy meanwhile, then the request times out
        await device.post("/sim/ussd", {"code": "*9#", "text": "late", "delay": 100})
        slow = asyncio.ensure_future(dev.ussd(4, "*9#", timeout=5))
        await device.clock.settle()
        with pytest.raises(PendingUssd):
            await dev.ussd(4, "*100#")
        await device.clock.advance(5)
        with pytest.raises(ModuleTimeout, match="within 5 seconds"):
            await slow
        again = asyncio.ensure_future(dev.ussd(4, "*100#"))
        await device.clock.settle()
        await device.clock.advance(2)
        assert not (await again).session_open


# --- CLI -------------------------------------------------------------------------------------


@pytest.fixture
def run(server, monkeypatch, tmp_path):
    monkeypatch.setenv("EJOIN_URL", server.url)
    monkeypatch.setenv("EJOIN_PROFILES", str(tmp_path / "profiles.toml"))

    def invoke(*args: str, stdin: str | None = None):
        return CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=False)

    return invoke


def test_cli_ussd(run):
    r = run("ussd", "1", "*100#")
    assert r.exit_code == 0 and "balance" in r.output
    r = run("ussd", "1", "*125*3*444#", "--json")
    assert r.exit_code == 0 and json.loads(r.output)["session_open"] is True
    r = run("ussd", "1", "2")
    assert r.exit_code == 0 and "Transfer cancelled." in r.output
    r = run("ussd", "3", "*100#")
    assert r.exit_code == 1 and "5 SIM Unregistered" in r.output


def test_cli_ussd_menu_mode(run, server):
    r = run("ussd", "2", "*125*7*888#", "--menu", stdin="1\n\n1\n")
    lines = r.output.splitlines()
    assert r.exit_code == 0 and lines[0] == "Transfer 7 to 888?" and lines[-1] == "Transfer of 7 to 888 done."
    # Ctrl-D (end of input) while the network waits: the session is cancelled
    r = run("ussd", "2", "*125*7*888#", "--menu", stdin="")
    assert r.exit_code == 0 and "session ended" in r.output
    answer = httpx.get(
        f"{server.url}/goip_send_ussd.html", params={"username": "root", "password": "root", "port": 2, "ussd": "1"}
    ).json()
    assert answer["resp"] == "UNKNOWN APPLICATION"


def test_cli_at(run):
    r = run("at", "1", "AT+CSQ")
    assert r.exit_code == 0 and r.output.startswith("+CSQ: ") and r.output.endswith("OK\n")
    r = run("at", "1", "AT+WHAT")
    assert r.exit_code == 1 and r.output == "ERROR\n"
    r = run("at", "1", "ATE1")
    assert r.exit_code == 1 and "15 Invalid CMD" in r.output
    r = run("at", "1", "AT+CIMI", "--json")
    assert json.loads(r.output)["text"].endswith("\r\nOK")
