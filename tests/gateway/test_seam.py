"""The driver seam: a driver other than the simulator, picked by name, sees only the interface."""

from __future__ import annotations

import pytest

from ejoin.config import ConfigError
from ejoin.drivers import load_gateway_config
from ejoin.modems.base import NO_CARD, CardInfo, ModemDriver, SendResult
from ejoin.protocol.codes import PortState

from ..conftest import use_driver


class OneSimModems(ModemDriver):
    """USB modems: one SIM each, answering at once; what they report is up to the test."""

    can_switch_slots = False
    signal_period = 10.0

    def __init__(self) -> None:
        self.cards = {1: CardInfo(present=True, iccid="8944100000000000017", number="447700900001", balance=None)}
        self.levels = {1: 17, 2: 9}
        self.detections = 0
        self.sent: list[tuple[int, int, str]] = []

    async def restart_module(self, port: int) -> None:
        pass

    async def detect_card(self, port: int, slot: int) -> CardInfo:
        self.detections += 1
        return self.cards.get(port, NO_CARD)

    async def register(self, port: int, slot: int) -> PortState:
        return PortState.REGISTERED

    async def signal(self, port: int) -> int:
        return self.levels.get(port, 0)

    async def send_sms(self, port, slot, number, text, smsc, report=False) -> SendResult:
        self.sent.append((port, slot, number))
        return SendResult(True, refs=tuple(range(40, 40 + text.count)))


@pytest.fixture
def one_sim(monkeypatch):
    modems = OneSimModems()
    use_driver(monkeypatch, "one-sim", modems)
    return modems


@pytest.fixture
async def usb(one_sim, device_factory):
    dev = await device_factory(modems="one-sim", ports=2, slots=1)
    await dev.settle()
    return dev


def test_the_simulators_keys_belong_to_the_simulator(one_sim, tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('modems = "one-sim"\n[timing]\ncard_detect = 1.0\n')
    with pytest.raises(ConfigError) as exc:
        load_gateway_config(path)
    assert str(exc.value) == f"{path}: timing: unknown key"
    path.write_text('modems = "one-sim"\nports = 2\n')
    config = load_gateway_config(path)
    assert config.modems == "one-sim" and config.driver is None


def test_an_unknown_driver_is_one_line_naming_the_known_ones(one_sim):
    with pytest.raises(ConfigError) as exc:
        load_gateway_config(None, {"modems": "modem"})
    assert str(exc.value) == "modems: no driver named 'modem'; known: at, emulated, one-sim, simulated"


async def test_the_detected_card_is_written_by_the_device(usb, one_sim):
    first, second = (await usb.status())["status"]
    assert (first["st"], first["iccid"], first["sn"], first["sig"]) == (3, "8944100000000000017", "447700900001", 17)
    assert (second["st"], second["iccid"]) == (0, "")


async def test_no_simulator_routes_without_the_simulator(usb):
    resp = await usb.client.get("/sim/state", params={"username": "root", "password": "root"})
    assert resp.status == 404
    spec = await (await usb.client.get("/openapi.json")).json()
    assert "/goip_get_status.html" in spec["paths"] and not any(p.startswith("/sim/") for p in spec["paths"])


async def test_switching_is_refused_when_modules_hold_one_sim(usb):
    res = await usb.cmd(op="switch", ports="1")
    assert res["code"] == 15 and "one SIM" in res["reason"]
    res = await usb.cmd({"op": "multiple", "ops": [{"op": "lock", "ports": "2"}, {"op": "switch", "ports": "1"}]})
    assert res["code"] == 15
    assert int(usb.slot("2.01").state) == 0  # nothing of the command ran


async def test_a_module_that_stops_answering_shows_16_and_comes_back(usb, one_sim, receiver):
    await usb.status(url=receiver.url, period=0)
    events = usb.gw.driver.events
    events.module_lost(1)
    assert int(usb.slot("1.01").state) == 16
    assert (await usb.status())["status"][0]["sig"] == 0
    await usb.cmd(op="reset", ports="1")  # a reset does not wake a module that does not answer
    await usb.settle()
    assert int(usb.slot("1.01").state) == 16
    detections = one_sim.detections
    one_sim.cards[1] = CardInfo(present=True, iccid="8944100000000000025", number="447700900002")
    events.module_back(1)
    await usb.settle()
    assert one_sim.detections == detections + 1
    entry = (await usb.status())["status"][0]
    assert (entry["st"], entry["iccid"], entry["sn"]) == (3, "8944100000000000025", "447700900002")
    await receiver.wait_for(lambda r: any(p["st"] == 16 for p in r.of_type("port-status")))


async def test_signal_is_read_every_period(usb, one_sim):
    one_sim.levels[1] = 25
    assert (await usb.status())["status"][0]["sig"] == 17  # the cached read
    await usb.clock.advance(10)
    assert (await usb.status())["status"][0]["sig"] == 25


async def test_delivery_reports_pair_by_port_reference_and_recipient(usb, one_sim, receiver):
    await usb.cmd(op="set", sms_url=receiver.url)
    await usb.send_ok({"tid": 1, "from": "1", "to": "+447700900123", "sms": "x" * 200, "dr": 1})
    await usb.settle()
    assert one_sim.sent == [(1, 1, "+447700900123")]
    events = usb.gw.driver.events
    now = usb.clock.time()
    events.delivery_report(1, 40, "447700900123", 0, now, "+447700000000")
    events.delivery_report(1, 99, "447700900123", 0, now, "+447700000000")  # not a part of it
    events.delivery_report(1, 41, "447700900123", 64, now, "+447700000000")
    await receiver.wait_count(2, "recv-sms")
    await usb.settle()
    reports = [row for push in receiver.of_type("recv-sms") for row in push["sms"]]
    assert [(r[1], r[4], r[5].split()[0]) for r in reports] == [
        ("1.01", "447700900123", "0"),  # ref 99: unpaired, reported as it came
        ("1.01", "+447700900123", "64"),  # refs 40 and 41: one report, the failure, the number as sent
    ]


def test_the_gateway_command_names_a_driver_that_does_not_exist(tmp_path):
    from click.testing import CliRunner

    from ejoin.cli import main

    result = CliRunner().invoke(main, ["gateway", "--modems", "modem", "--data", str(tmp_path / "d")])
    assert result.exit_code == 2
    assert result.output == "Error: --modems: no driver named 'modem'; known: at, emulated, simulated\n"
    assert not (tmp_path / "d").exists()


async def test_what_a_module_says_on_its_own_is_the_ports_state(usb, one_sim):
    events, device = usb.gw.driver.events, usb.gw.device
    for state in (PortState.REGISTERING, PortState.REGISTER_FAILED, PortState.REGISTERED):
        events.module_state(1, state)
        assert usb.slot("1.01").state == state
    device.set_state(device.slot(usb.slot("1.01").address), PortState.NO_BALANCE)
    events.module_state(1, PortState.REGISTERED)  # registered, and still without balance
    assert usb.slot("1.01").state == PortState.NO_BALANCE
    # restarted by itself: 15, then the card is read and registers anew
    detections = one_sim.detections
    events.module_state(1, PortState.ACCESS_NETWORK)
    assert usb.slot("1.01").state == PortState.ACCESS_NETWORK
    events.module_state(1, PortState.REGISTERING)  # while the device's own bring-up runs: not applied
    await usb.settle()
    assert usb.slot("1.01").state == PortState.REGISTERED and one_sim.detections == detections + 1
    assert usb.slot("2.01").state == PortState.NO_SIM


async def test_a_card_waiting_for_its_pin_shows_11_until_the_module_says_it_is_ready(usb, one_sim):
    one_sim.cards[1] = CardInfo(present=True, waiting=True)
    await usb.cmd(op="reset", ports="1")
    await usb.settle()
    assert usb.slot("1.01").state == PortState.CARD_DETECTED
    one_sim.cards[1] = CardInfo(present=True, iccid="8944100000000000033", number="447700900003")
    usb.gw.driver.events.module_state(1, PortState.CARD_DETECTED)
    await usb.settle()
    entry = (await usb.status())["status"][0]
    assert (entry["st"], entry["iccid"]) == (3, "8944100000000000033")


async def test_a_locked_lost_or_empty_port_ignores_what_its_module_says(usb, one_sim):
    events = usb.gw.driver.events
    await usb.cmd(op="lock", ports="1")
    events.module_state(1, PortState.REGISTERING)
    assert usb.slot("1.01").state == PortState.USER_LOCKED
    await usb.cmd(op="unlock", ports="1")
    await usb.settle()
    events.module_lost(1)
    events.module_state(1, PortState.REGISTERED)
    assert usb.slot("1.01").state == PortState.MODULE_TIMEOUT
    events.module_state(2, PortState.REGISTERED)  # port 2 has no card
    assert usb.slot("2.01").state == PortState.NO_SIM


async def test_the_modules_imei_and_the_balance_it_read_are_in_the_status(usb, one_sim, receiver):
    one_sim.cards[1] = CardInfo(present=True, iccid="8944100000000000017", imei="867962041294151")
    await usb.cmd(op="reset", ports="1")
    await usb.settle()
    entry = (await usb.status())["status"][0]
    assert entry["imei"] == "867962041294151"  # what the module says, also in op=get sim_imei
    got = await usb.get("/goip_send_cmd.html", **{"op": "get", "sim_imei(0)": ""})
    assert got["data"]["sim_imei(0)"] == "867962041294151"
    await usb.cmd(op="set", status_url=receiver.url)
    usb.gw.driver.events.balance(1, 96.454)
    assert (await usb.status())["status"][0]["bal"] == "96.45"
    await receiver.wait_for(lambda r: any(p.get("bal") == "96.45" for p in r.of_type("port-status")))
    # another card in the slot: the balance read of the one before is not its own
    one_sim.cards[1] = CardInfo(present=True, iccid="8944100000000000099")
    await usb.cmd(op="reset", ports="1")
    await usb.settle()
    entry = (await usb.status())["status"][0]
    assert (entry["iccid"], entry["bal"], entry["imei"]) == ("8944100000000000099", "", "867962041294151")


def test_real_modules_start_with_an_unknown_balance():
    from ejoin.atdriver import ATModems
    from ejoin.clock import VirtualClock
    from ejoin.modems.at.driver import ATDriver
    from ejoin.protocol.ports import PortAddress

    modems = ATModems(ATDriver([], VirtualClock()))
    [record] = modems.new_slots([PortAddress(1, 1)])
    assert record.balance is None and record.imei == ""
