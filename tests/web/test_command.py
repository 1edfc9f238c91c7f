"""goip_send_cmd.html: every op, every port notation, get/set, over real HTTP."""

import pytest

from ejoin.protocol.codes import PortState

OK = {"code": 0, "reason": "OK"}


def states(dev, *names):
    return [int(dev.slot(n).state) for n in names]


async def registered(dev, *names, within: float = 30.0) -> float:
    """Advance the clock until every slot of ``names`` is registered (3); the virtual seconds it took.

    Waits on the behaviour, not a fixed time: over AT (``EJOIN_TEST_MODEMS=emulated``) the serial
    lines answer in real time, which a loaded machine stretches."""
    return await dev.until(lambda: states(dev, *names) == [3] * len(names), within, f"{names} registered", step=0.5)


def history(dev, name):
    """The states ``name`` goes through from now on."""
    seen: list[int] = []
    dev.gw.device.add_listener(lambda slot: seen.append(int(slot.state)) if slot.name == name else None)
    return seen


@pytest.mark.also_emulated
async def test_lock_and_unlock_a_slot_from_a_json_body(device):
    assert await device.cmd({"type": "command", "op": "lock", "ports": "1.01"}) == OK
    assert states(device, "1.01") == [12]
    assert device.slot("1.01").record.locked
    assert await device.cmd({"type": "command", "op": "unlock", "ports": "1.01"}) == OK
    assert states(device, "1.01") == [11]
    await device.settle()
    assert states(device, "1.01") == [3]


@pytest.mark.also_emulated
async def test_lock_a_whole_port_locks_every_slot(device):
    assert await device.cmd({"op": "lock", "ports": "2"}) == OK
    assert states(device, "2.01", "2.02", "2.03", "2.04") == [12, 12, 12, 12]
    d = await device.status(all_slots=1)
    assert [e["slot_active"] for e in d["status"] if e["port"].startswith("2.")] == [0, 0, 0, 0]
    await device.cmd({"op": "unlock", "ports": "2"})
    await device.settle()
    assert states(device, "2.01", "2.02", "2.03", "2.04") == [3, 1, 1, 0]  # 2.04 is empty by default


async def test_op_and_ports_in_the_query_string(device):
    assert await device.cmd(op="lock", ports="3B,4.03") == OK
    assert states(device, "3.02", "4.03") == [12, 12]


async def test_a_singular_port_in_the_query_or_the_body(device):
    # clients that name one port send port=, not ports= (DECISIONS.md "Commands")
    assert await device.cmd(op="lock", port="2") == OK
    assert states(device, "2.01", "2.02") == [12, 12]
    assert await device.cmd({"op": "unlock", "port": 2}) == OK
    assert not device.slot("2.01").record.locked
    assert await device.cmd({"op": "switch"}, port="3.02") == OK  # op in the body, port in the query
    assert device.gw.device.port(3).record.active_slot == 2
    await device.settle()
    seen = history(device, "4.01")
    assert await device.cmd(op="reset", port="4") == OK
    assert seen[0] == int(PortState.ACCESS_NETWORK)
    multiple = {"op": "multiple", "ops": [{"op": "lock", "port": "1.01"}, {"op": "ledoff", "port": 1}]}
    assert await device.cmd(multiple) == OK
    assert device.slot("1.01").record.locked and not device.gw.device.port(1).record.led
    # ports wins where both are given; a bad singular port is refused as ports are
    assert await device.cmd({"op": "lock", "ports": "3.03", "port": "4"}) == OK
    assert device.slot("3.03").record.locked and not device.slot("4.01").record.locked
    res = await device.cmd(op="lock", port="9")
    assert res["code"] == 2 and "port 9 does not exist" in res["reason"]


@pytest.mark.also_emulated
async def test_switch_goes_through_detection_and_registration(device):
    seen = history(device, "2.02")
    assert await device.cmd({"type": "command", "op": "switch", "ports": "2.02"}) == OK
    assert device.gw.device.port(2).record.active_slot == 2
    assert states(device, "2.01", "2.02") == [1, 11]
    took = await registered(device, "2.02")
    assert 3.0 <= took <= 5.0  # card read 1 s, registration 2-4 s here
    assert [s for i, s in enumerate(seen) if i == 0 or seen[i - 1] != s][-3:] == [11, 2, 3]
    d = await device.status()
    assert d["status"][1]["port"] == "2.02" and d["status"][1]["active"] == 1


async def test_switch_naming_only_the_port_takes_the_next_card(device_factory):
    dev = await device_factory(sim=[{"port": "1.02", "empty": True}])
    await dev.settle()
    await dev.cmd(op="switch", ports="1")
    assert dev.gw.device.port(1).record.active_slot == 3  # 1.02 is empty
    await dev.cmd(op="switch", ports="1,1")  # duplicates count once
    assert dev.gw.device.port(1).record.active_slot == 4


@pytest.mark.also_emulated
async def test_switch_to_an_empty_or_locked_slot(device_factory):
    dev = await device_factory(sim=[{"port": "1.02", "empty": True}])
    await dev.settle()
    await dev.cmd(op="switch", ports="1.02")
    await dev.settle()
    assert states(dev, "1.02") == [0]
    await dev.cmd(op="lock", ports="1.03")
    await dev.cmd(op="switch", ports="1.03")
    await dev.settle()
    assert states(dev, "1.03") == [12]


@pytest.mark.also_emulated
async def test_registration_failure_ends_in_6(device_factory):
    dev = await device_factory(sim=[{"port": "1.02", "fail": True}])
    await dev.settle()
    await dev.cmd(op="switch", ports="1.02")
    await dev.settle()
    assert states(dev, "1.02") == [6]
    d = await dev.status()
    assert d["status"][0]["st"] == 6 and d["status"][0]["opr"] == ""


@pytest.mark.also_emulated
async def test_reset_re_registers_the_module(device):
    await device.cmd(op="reset", ports="3.02")  # only the port number counts
    assert device.gw.device.port(3).record.active_slot == 1
    assert states(device, "3.01") == [int(PortState.ACCESS_NETWORK)]
    await device.clock.advance(3.0)  # module restart
    assert states(device, "3.01") == [11]
    await device.settle()
    assert states(device, "3.01") == [3]


@pytest.mark.also_emulated
async def test_reboot_re_registers_every_port_and_changes_ssrc(device):
    ssrc = device.gw.ssrc
    assert await device.cmd({"type": "command", "op": "reboot"}) == OK
    assert states(device, "1.01", "2.01", "3.01", "4.01") == [15] * 4
    await registered(device, "1.01", "2.01", "3.01", "4.01")
    assert device.gw.ssrc != ssrc and len(device.gw.ssrc) == 16


async def test_leds(device):
    assert await device.cmd(op="ledoff", ports="1-2") == OK
    d = await device.status()
    assert [e["led"] for e in d["status"]] == [0, 0, 1, 1]
    await device.cmd({"op": "ledon", "ports": "all"})
    d = await device.status()
    assert [e["led"] for e in d["status"]] == [1, 1, 1, 1]


async def test_save_is_accepted(device):
    assert await device.cmd({"type": "command", "op": "save"}) == OK


@pytest.mark.also_emulated
async def test_multiple_runs_each_op_in_order(device):
    body = {
        "type": "command",
        "op": "multiple",
        "ops": [
            {"op": "lock", "ports": "1.01"},
            {"op": "switch", "ports": "2B"},
            {"op": "unlock", "ports": "1.01"},
            {"op": "ledoff", "ports": "*"},
        ],
    }
    assert await device.cmd(body) == OK
    await device.settle()
    assert states(device, "1.01", "2.02") == [3, 3]
    assert not device.slot("1.01").record.locked
    assert all(not p.record.led for p in device.gw.device.ports)


async def test_multiple_with_one_bad_item_changes_nothing(device):
    body = {"op": "multiple", "ops": [{"op": "lock", "ports": "1.01"}, {"op": "lock", "ports": "9"}]}
    res = await device.cmd(body)
    assert res["code"] == 2 and "ops[1]" in res["reason"] and "port 9" in res["reason"]
    assert states(device, "1.01") == [3]


@pytest.mark.parametrize("ports", ["1.01,2.02,3.03,4-4", ["1.01", "2B"], 1, "1A,2b"])
async def test_every_port_notation_reaches_the_device(device, ports):
    assert await device.cmd({"op": "lock", "ports": ports}) == OK
    assert any(s.record.locked for s in device.gw.device.slots())


@pytest.mark.parametrize(
    "body, code, fragment",
    [
        ({"op": "lock", "ports": "0"}, 2, "numbered from 1"),
        ({"op": "lock", "ports": "99.99"}, 2, "port 99 does not exist"),
        ({"op": "lock", "ports": "1-"}, 2, "is not a port"),
        ({"op": "lock", "ports": "A1"}, 2, "is not a port"),
        ({"op": "lock"}, 2, "needs ports"),
        ({"op": "explode", "ports": "1"}, 15, "unknown op"),
        ({"type": "command"}, 15, "no op"),
        ({"op": "multiple"}, 15, "non-empty ops"),
        ({"op": "multiple", "ops": [{"op": "multiple"}]}, 15, "cannot nest"),
    ],
)
async def test_bad_commands_get_the_spec_code_and_a_reason(device, body, code, fragment):
    res = await device.cmd(body)
    assert res["code"] == code and fragment in res["reason"]


# --- get / set --------------------------------------------------------------


async def test_set_imei_from_a_form_body_as_spec_643(device_factory):
    dev = await device_factory(ports=16, slots=4)
    resp = await dev.client.post(
        "/goip_send_cmd.html",
        params={"username": "root", "password": "root", "op": "set"},
        data=b"sim_imei(21)=865847053403202&sim_imei(51)=865847053403213",
    )
    assert await resp.json() == {"code": 0, "reason": "OK", "par_set": 2}
    assert dev.slot("6B").record.imei == "865847053403202"
    assert dev.slot("13D").record.imei == "865847053403213"
    d = await dev.status(all_slots=1)
    assert {e["port"]: e["imei"] for e in d["status"]}["6.02"] == "865847053403202"


async def test_set_sim_numbers_as_spec_644(device_factory, receiver):
    dev = await device_factory(ports=32, slots=8)
    await dev.status(url=receiver.url, period=0)
    res = await dev.post(
        "/goip_send_cmd.html", params={"op": "set"}, raw="sim_number(192)=1358021178&sim_number(196)=123456762221"
    )
    assert res == {"code": 0, "reason": "OK", "par_set": 2}
    assert dev.slot("25.01").record.number == "1358021178"
    assert dev.slot("25.05").record.number == "123456762221"
    # a changed number is a change of the slot: pushed
    await receiver.wait_for(lambda r: any(p["port"] == "25.05" for p in r.of_type("port-status")))
    push = [p for p in receiver.of_type("port-status") if p["port"] == "25.05"][-1]
    assert push["sn"] == "123456762221"


async def test_set_and_get_through_the_query_string(device, receiver):
    res = await device.cmd(op="set", sms_url=receiver.url, sr_url="http://10.0.0.1/sr")
    assert res == {"code": 0, "reason": "OK", "par_set": 2}
    res = await device.get("/goip_send_cmd.html", **{"op": "get", "sms_url": "", "sr_url": "", "sim_imei(3)": ""})
    assert res["code"] == 0 and res["reason"] == "OK"
    assert res["data"]["sms_url"] == receiver.url
    assert res["data"]["sr_url"] == "http://10.0.0.1/sr"
    assert res["data"]["sim_imei(3)"] == device.slot("1.04").record.imei


async def test_set_and_get_from_a_json_body(device, receiver):
    # op and the name=value pairs in a JSON body instead of the query string
    body = {"op": "set", "sms_url": receiver.url, "status_period": 120, "sim_number(5)": "+4477001"}
    assert await device.cmd(body) == {"code": 0, "reason": "OK", "par_set": 3}
    assert device.gw.settings["sms_url"] == receiver.url and device.gw.settings["status_period"] == 120
    assert device.slot("2.02").record.number == "+4477001"
    res = await device.cmd({"type": "command", "op": "get", "sms_url": "", "sim_number(5)": ""})
    assert res["data"] == {"sms_url": receiver.url, "sim_number(5)": "+4477001"}
    assert set((await device.cmd({"op": "GET"}))["data"]) == set(device.gw.parameters.names())
    res = await device.cmd({"op": "set", "sr_url": "http://ok.test/", "status_period": "often"})
    assert res["code"] == 400 and "whole number" in res["reason"]
    assert device.gw.settings["sr_url"] == ""  # all or nothing, as from the query


async def test_get_bare_names_from_the_raw_query(device):
    resp = await device.client.get("/goip_send_cmd.html?username=root&password=root&op=get&sms_url&sw_ver&sim_imei")
    res = await resp.json()
    assert res["data"]["sms_url"] == "" and res["data"]["sw_ver"] == "ejoin-0.1.0"
    imeis = res["data"]["sim_imei"]
    assert isinstance(imeis, list) and len(imeis) == 16 and imeis[5] == device.slot("2.02").record.imei


async def test_get_port_status_and_everything(device):
    await device.cmd(op="lock", ports="2")
    res = await device.cmd(op="get")
    data = res["data"]
    assert data["port_status"] == [3, 12, 3, 3]
    assert {"sms_url", "sr_url", "mms_url", "status_url", "status_period", "sim_number", "sim_imei"} <= set(data)
    assert data["status_period"] == 60


async def test_set_status_url_and_period_like_get_status(device, receiver):
    await device.cmd(op="set", status_url=receiver.url, status_period="90")
    await receiver.wait_count(1, "dev-status")
    assert (await device.status())["expires"] == 90


async def test_settings_survive_a_restart_without_save(device_factory):
    dev = await device_factory()
    await dev.cmd(op="set", **{"sms_url": "http://example.test/sms", "sim_number(5)": "+4477001"})
    await dev.client.close()
    dev2 = await device_factory()
    res = await dev2.cmd(op="get", **{"sms_url": "", "sim_number(5)": ""})
    assert res["data"] == {"sms_url": "http://example.test/sms", "sim_number(5)": "+4477001"}


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"nope": ""}, "unknown parameter 'nope'"),
        ({"sim_imei(16)": "865847053403202"}, "outside 0..15"),
        ({"sim_imei(2)": "12"}, "not an IMEI"),
        ({"sms_url": "gopher://x"}, "not an http"),
        ({"sw_ver": "9"}, "read-only"),
        ({"sim_imei": "865847053403202"}, "needs an index"),
        ({"sms_url(2)": "http://x/"}, "not an array"),
        ({"status_period": "often"}, "whole number"),
        # nobody's intent, and received SMS behind them would never be pushed
        ({"status_period": "99999999999999999999"}, "at most 86400 seconds"),
        ({"sms_prd": "99999999999999999999"}, "sms_prd"),
        ({"sms_cnt": "99999999999999999999"}, "at most 10000"),
        ({"sms_cnt": "-1"}, "cannot be negative"),
        ({"sms_url": "http://platform.test/sms\r\nX-Evil: 1"}, "control character"),
        ({"mms_url": "http://platform.test/\nmms"}, "control character"),
        ({"status_url": "http://platform.test:99999/"}, "is not a URL"),
    ],
)
async def test_bad_set_is_reported_and_sets_nothing(device, params, fragment):
    resp = await device.client.get(
        "/goip_send_cmd.html",
        params={"username": "root", "password": "root", "op": "set", "sr_url": "http://ok.test/", **params},
    )
    assert resp.status == 400
    res = await resp.json()
    assert res["code"] == 400 and fragment in res["reason"]
    assert device.gw.settings["sr_url"] == ""  # all or nothing


async def test_set_with_nothing_to_set(device):
    resp = await device.client.get("/goip_send_cmd.html", params={"username": "root", "password": "root", "op": "set"})
    assert (await resp.json())["reason"] == "no parameter to set"


async def test_wrong_credentials_change_nothing(device):
    resp = await device.client.post(
        "/goip_send_cmd.html", params={"username": "root", "password": "bad"}, data='{"op":"lock","ports":"1"}'
    )
    assert await resp.json() == {"code": 1, "reason": "Invalid User"}
    assert not device.slot("1.01").record.locked


async def test_credentials_in_the_json_body(device):
    resp = await device.client.post(
        "/goip_send_cmd.html", data='{"username":"root","password":"root","op":"lock","ports":"1.01"}'
    )
    assert await resp.json() == OK
    assert device.slot("1.01").record.locked
