"""The device on emulated modules (``modems = "emulated"``): what the ports show and what the platform
receives when a module misbehaves, through the real AT driver, on the virtual clock."""

from __future__ import annotations

import base64

import pytest


def states(dev, *names):
    return [int(dev.slot(n).state) for n in names]


@pytest.fixture
async def emu(device_factory):
    dev = await device_factory(modems="emulated", ports=2, slots=2)
    await dev.settle()
    yield dev


def net(dev):
    return dev.gw.modems


async def test_ports_come_up_from_the_modules(emu):
    d = await emu.status()
    assert [e["st"] for e in d["status"]] == [3, 3]
    card = net(emu).world.card(emu.slot("1.01").address)
    assert d["status"][0]["iccid"] == card.iccid and d["status"][0]["sn"] == card.number
    assert d["status"][0]["imei"] == net(emu).modem(1).imei


async def test_send_loopback_and_report_over_at(emu, receiver):
    await emu.cmd(op="set", sms_url=receiver.url)
    to = emu.slot("2.01").record.number
    await emu.send_ok({"tid": 1, "from": "1", "to": to, "sms": "over the air", "dr": 1}, sr_url=receiver.url)
    for _ in range(20):
        await emu.clock.advance(1)
    await receiver.wait_for(lambda r: len([row for p in r.of_type("recv-sms") for row in p["sms"]]) >= 2)
    sms = [row for p in receiver.of_type("recv-sms") for row in p["sms"]]
    reports = [row for row in sms if row[0] == 1]
    texts = [base64.b64decode(row[5]).decode() for row in sms if row[0] == 0]
    assert texts == ["over the air"] and len(reports) == 1  # the delivery report, paired by TP-MR
    assert [m.recipient for m in net(emu).modem(1).sent] == [to]  # sent once


async def test_a_cms_error_is_the_fdr_carrier_reason(emu, receiver):
    await emu.get("/sim/fault", port="1", fault="cms", value="38")
    await emu.send_ok({"tid": 2, "from": "1", "to": "13900000001", "sms": "x"}, sr_url=receiver.url, sr_prd=1)
    for _ in range(10):
        await emu.clock.advance(1)
    await receiver.wait_for(lambda r: any(x.get("fdr") for p in r.of_type("status-report") for x in p["rpts"]))
    [row] = [row for p in receiver.of_type("status-report") for x in p["rpts"] for row in x.get("fdr", [])]
    assert row[5] == "38 Network out of order" and net(emu).modem(1).sent == []
    # the AT command lines show in the metrics: port 1's AT+CMGS answered +CMS ERROR: 38
    text = await (await emu.client.get("/metrics", params={"username": "root", "password": "root"})).text()
    counts = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in text.splitlines()
        if line.startswith("ejoin_at_command") and 'port="1"' in line
    }
    assert counts['ejoin_at_commands_total{port="1"}'] > 5  # bring-up, signal reads, the send
    assert counts['ejoin_at_command_errors_total{port="1"}'] >= 1
    assert counts['ejoin_at_command_seconds_count{port="1"}'] > 0


async def test_an_unplugged_module_shows_16_and_comes_back(emu):
    net(emu).at.retry_first = 0.05
    await emu.get("/sim/fault", port="2", fault="unplug")
    await emu.get("/goip_get_status.html")
    await emu.clock.settle()
    assert net(emu).at.modules[2].channel.closed.is_set()
    await emu.settle(1)
    assert states(emu, "2.01") == [16] and states(emu, "1.01") == [3]  # the other port goes on
    await emu.get("/sim/fault", port="2", fault="plug")
    # the driver tries it again after a back-off on the device clock, then the port registers again
    await emu.until(lambda: emu.state_of("2.01") == 3, what="2.01 registered again")


async def test_a_switch_reads_the_other_sim(emu):
    await emu.cmd({"type": "command", "op": "switch", "ports": "1.02"})
    await emu.settle()
    await emu.settle()
    assert states(emu, "1.01", "1.02") == [1, 3]
    assert net(emu).modem(1).slot == 2
    d = await emu.status()
    assert d["status"][0]["iccid"] == net(emu).world.card(emu.slot("1.02").address).iccid


async def test_a_full_storage_is_found_by_the_sweep(emu, receiver):
    await emu.cmd(op="set", sms_url=receiver.url)
    net(emu).modem(2).faults.set("storage_full", "1")
    to = emu.slot("2.01").record.number
    await emu.send_ok({"tid": 3, "from": "1", "to": to, "sms": "silent"})
    for _ in range(5):
        await emu.clock.advance(1)
    assert len(net(emu).modem(2).state.storage) == 1 and receiver.of_type("recv-sms") == []
    await net(emu).at.modules[2].sweep()
    await receiver.wait_count(1, "recv-sms")
    await emu.settle(1)
    assert net(emu).modem(2).state.storage == {}


async def test_faults_from_the_config(device_factory):
    dev = await device_factory(modems="emulated", ports=2, slots=1, fault=[{"port": 2, "fault": "cms", "value": "330"}])
    assert net(dev).modem(2).faults.cms == 330 and net(dev).modem(1).faults.cms is None


def test_an_unknown_fault_in_the_config_is_named(tmp_path):
    from ejoin.config import ConfigError
    from tests.conftest import make_config

    with pytest.raises(ConfigError, match="unknown fault 'melt'"):
        make_config(tmp_path, modems="emulated", ports=1, fault=[{"port": 1, "fault": "melt"}])


async def test_the_fault_route_refuses_what_it_does_not_know(emu):
    res = await emu.get("/sim/fault", port="1", fault="melt")
    assert res["code"] == 400 and "unknown fault" in res["reason"]
    res = await emu.get("/sim/fault", port="1", fault="slow", value="abc")
    assert res["code"] == 400


# --- the port's state during the module's life: what the port shows, what the platform receives ------


def pushed(receiver, port):
    return [p["st"] for p in receiver.of_type("port-status") if p["port"] == port]


async def test_the_port_follows_the_network_after_bring_up(emu, receiver):
    await emu.cmd(op="set", status_url=receiver.url)
    for value, st in (("2", 2), ("5", 3), ("3", 6), ("off", 3)):  # lost, roaming, denied, back
        res = await emu.get("/sim/fault", port="1", fault="creg", value=value)
        assert res["code"] == 0 and res["faults"] == ({} if value == "off" else {"creg": int(value)})
        await emu.settle(1)
        assert states(emu, "1.01", "2.01") == [st, 3]
    await receiver.wait_for(lambda r: pushed(r, "1.01")[-4:] == [2, 3, 6, 3])


async def test_an_sms_for_a_port_that_lost_the_network_waits_and_goes_once(emu, receiver):
    await emu.get("/sim/fault", port="1", fault="creg", value="2")
    await emu.settle(1)
    await emu.send_ok({"tid": 7, "from": "1", "to": "13900000001", "sms": "when back"}, sr_url=receiver.url, sr_prd=1)
    await emu.settle(5)
    assert net(emu).modem(1).sent == []
    await emu.get("/sim/fault", port="1", fault="creg", value="off")
    for _ in range(10):
        await emu.clock.advance(1)
    await receiver.wait_for(lambda r: any(x["sent"] for p in r.of_type("status-report") for x in p["rpts"]))
    assert [m.text for m in net(emu).modem(1).sent] == ["when back"]


@pytest.mark.parametrize("fault, value", [("pin", "pin"), ("pin", "puk"), ("sim_busy", "1")])
async def test_a_card_that_waits_shows_11_until_it_is_ready(emu, receiver, fault, value):
    await emu.cmd(op="set", status_url=receiver.url)
    await emu.get("/sim/fault", port="2", fault=fault, value=value)
    await emu.cmd(op="reset", ports="2")
    for _ in range(40):  # a SIM busy is waited out for 20 s first
        await emu.clock.advance(1)
    assert states(emu, "2.01", "1.01") == [11, 3]
    assert (await emu.status())["status"][1]["st"] == 11
    await emu.get("/sim/fault", port="2", fault=fault, value="off")
    await emu.settle()
    assert states(emu, "2.01") == [3]
    d = (await emu.status())["status"][1]
    assert d["iccid"] == net(emu).world.card(emu.slot("2.01").address).iccid
    await receiver.wait_for(lambda r: pushed(r, "2.01")[-3:] == [11, 2, 3])


async def test_a_module_that_restarts_by_itself_shows_15_and_loses_nothing(emu, receiver):
    await emu.cmd(op="set", status_url=receiver.url, sms_url=receiver.url)
    assert (await emu.get("/sim/fault", port="2", fault="reset"))["code"] == 0
    to = emu.slot("2.01").record.number
    await emu.send_ok({"tid": 8, "from": "1", "to": to, "sms": "while it restarts"})
    for _ in range(20):
        await emu.clock.advance(1)
    assert states(emu, "2.01", "1.01") == [3, 3]
    await receiver.wait_for(lambda r: 15 in pushed(r, "2.01") and r.of_type("recv-sms"))
    assert pushed(receiver, "2.01")[-4:] == [15, 11, 2, 3]
    texts = [base64.b64decode(row[5]).decode() for p in receiver.of_type("recv-sms") for row in p["sms"]]
    assert texts == ["while it restarts"] and net(emu).modem(2).state.storage == {}


async def test_a_module_that_hangs_while_idle_shows_16_at_the_next_signal_read(emu, receiver):
    await emu.cmd(op="set", status_url=receiver.url)
    await emu.get("/sim/fault", port="2", fault="no_answer")
    for _ in range(40):  # signals are read every 30 s; then the command times out and AT goes unanswered
        await emu.clock.advance(1)
    assert states(emu, "2.01", "1.01") == [16, 3]
    await emu.get("/sim/fault", port="2", fault="no_answer", value="0")
    for _ in range(10):
        await emu.clock.advance(1)
    assert states(emu, "2.01") == [3]
    await receiver.wait_for(lambda r: pushed(r, "2.01")[-5:] == [16, 15, 11, 2, 3])


# --- /sim/inbound over the air --------------------------------------------------------------------


async def test_sim_inbound_goes_over_the_air(emu, receiver, monkeypatch):
    await emu.cmd(op="set", sms_url=receiver.url)
    seen = []  # what the driver read from the module
    module = net(emu).at.modules[2]
    real = module.channel.command

    async def spy(command, **kw):
        seen.append(command)
        return await real(command, **kw)

    monkeypatch.setattr(module.channel, "command", spy)
    res = await emu.get("/sim/inbound", port="2.01", sender="+15550100", text="over the air ✓")
    assert res["code"] == 0 and res["port"] == "2.01" and res["id"] >= 1
    await emu.clock.settle()  # (the driver deletes it from the SIM once the device has it)
    assert any(c.startswith("AT+CMGR=") for c in seen) and any(c.startswith("AT+CMGD=") for c in seen)
    assert net(emu).modem(2).state.storage == {}  # stored by the device, then deleted from the SIM
    got = await emu.get("/goip_get_sms.html", sms_id=str(res["id"]))
    assert [(m[3], base64.b64decode(m[5]).decode()) for m in got["data"]] == [("+15550100", "over the air ✓")]
    await emu.settle(2)
    await receiver.wait_count(1, "recv-sms")


async def test_sim_inbound_parts_and_long_texts_go_over_the_air(emu):
    first = await emu.get("/sim/inbound", port="1", sender="10086", text="Hello, ", ref="7", total="2", seq="1")
    assert first["code"] == 0 and first["part"] == "1/2"
    whole = await emu.get("/sim/inbound", port="1", sender="10086", text="world", ref="7", total="2", seq="2")
    assert whole["code"] == 0 and whole["id"] >= 1
    long = await emu.get("/sim/inbound", port="1", sender="10086", text="x" * 400)  # 3 parts on the air
    assert long["code"] == 0 and long["id"] == whole["id"] + 1
    await emu.clock.settle()
    assert net(emu).modem(1).state.storage == {}


async def test_sim_inbound_to_an_inactive_slot_or_unsendable_is_refused(emu):
    res = await emu.get("/sim/inbound", port="1.02", sender="10086", text="nobody listens")
    assert res["code"] == 400 and "active" in res["reason"]
    res = await emu.get("/sim/inbound", port="1", sender="10086", text="x", ref="300", total="2", seq="1")
    assert res["code"] == 400 and "over the air" in res["reason"]


async def test_on_ptys_the_ports_come_up_and_send(device_factory, receiver):
    dev = await device_factory(modems="emulated", modem_line="pty", ports=2, slots=1)
    await dev.until(lambda: states(dev, "1.01", "2.01") == [3, 3], what="both ports registered over ptys")
    to = dev.slot("2.01").record.number
    await dev.send_ok({"tid": 9, "from": "1", "to": to, "sms": "through the kernel"}, sr_url=receiver.url, sr_prd=1)
    await dev.until(lambda: [m.recipient for m in net(dev).modem(1).sent] == [to], what="sent over the pty")
    assert net(dev).emulators[1].path.startswith("/")  # a tty's link, not an in-memory line


async def test_an_undecodable_message_is_kept_raw_listed_counted_and_only_then_deleted(emu):
    from ejoin.sim.emulator.engine import Stored

    from .dialects import HEADER_TOO_LONG

    modem = net(emu).modem(2)
    modem.state.storage[7] = Stored(0, HEADER_TOO_LONG[1], 29)
    modem.urc('+CMTI: "SM",7')
    await emu.settle(1)
    assert 7 not in modem.state.storage  # deleted from the SIM: it is on disk
    listed = await emu.get("/ejoin/inbox/raw")
    [row] = listed["raw"]
    assert (row["port"], row["pdu"], row["id"]) == ("2.01", HEADER_TOO_LONG[1], 1)
    assert "header is longer" in row["reason"] and listed["next"] == 2
    metrics = await (await emu.client.get("/metrics", params={"username": "root", "password": "root"})).text()
    assert 'ejoin_sms_received_raw_total{port="2"} 1.0' in metrics
    assert (await emu.get("/goip_get_sms.html"))["sms_num"] == 0  # not an SMS
    dropped = await emu.post("/ejoin/inbox/raw/drop", {"ids": [row["id"]]})
    assert dropped["count"] == 1 and (await emu.get("/ejoin/inbox/raw"))["raw"] == []
