"""The simulator control API (/sim/...)."""

import pytest


async def sim(dev, action, **params):
    return await dev.get(f"/sim/{action}", **params)


async def test_remove_and_insert_a_sim_on_the_active_slot(device, receiver):
    await device.status(url=receiver.url, period=0)
    res = await sim(device, "remove", port="1.01")
    assert res == {"code": 0, "reason": "OK", "port": "1.01"}
    assert int(device.slot("1.01").state) == 0
    await receiver.wait_for(lambda r: any(p["st"] == 0 for p in r.of_type("port-status")))
    push = [p for p in receiver.of_type("port-status") if p["st"] == 0][0]
    assert push["status"] == "0 No SIM card" and push["inserted"] == 0 and push["iccid"] == ""

    res = await device.post(
        "/sim/insert", {"port": "1.01", "number": "+15550001", "balance": 12.5, "iccid": "8901260000000000001"}
    )
    assert res["code"] == 0
    await device.settle()
    d = await device.status()
    e = d["status"][0]
    assert (e["st"], e["sn"], e["bal"], e["iccid"]) == (3, "+15550001", "12.50", "8901260000000000001")


async def test_insert_into_an_idle_slot_and_remove_again(device_factory):
    dev = await device_factory(sim=[{"port": "2.03", "empty": True}])
    await dev.settle()
    assert int(dev.slot("2.03").state) == 0
    await sim(dev, "insert", port="2C")
    assert int(dev.slot("2.03").state) == 1 and dev.slot("2.03").record.iccid.startswith("89")
    res = await sim(dev, "insert", port="2.03")
    assert res["code"] == 400 and "already holds" in res["reason"]
    await sim(dev, "remove", port="2.03")
    assert int(dev.slot("2.03").state) == 0
    res = await sim(dev, "remove", port="2.03")
    assert "holds no SIM" in res["reason"]


async def test_forced_registration_outcomes(device):
    for outcome, st in [("fail", 6), ("operator_lock", 8), ("sim_error", 9), ("timeout", 16), ("ok", 3)]:
        assert (await sim(device, "registration", port="3.01", outcome=outcome))["code"] == 0
        await device.cmd(op="reset", ports="3")
        await device.settle()
        assert int(device.slot("3.01").state) == st, outcome
    res = await sim(device, "registration", port="3.01", outcome="weird")
    assert "outcome is one of" in res["reason"]


async def test_signal_can_be_fixed_and_released(device):
    res = await sim(device, "signal", port="2", value=5)
    assert res["sig"] == 5
    assert (await device.status())["status"][1]["sig"] == 5
    res = await sim(device, "signal", port="2", value="auto")
    assert 0 <= res["sig"] <= 31
    assert (await sim(device, "signal", port="2", value=40))["code"] == 400


async def test_signal_varies_by_itself_over_time(device):
    seen = set()
    for _ in range(20):
        seen.add((await device.status())["status"][0]["sig"])
        await device.clock.advance(30)
    assert len(seen) > 1


async def test_balance(device):
    res = await sim(device, "balance", port="1.01", value="3.456")
    assert res["bal"] == "3.46"
    res = await sim(device, "balance", port="1.01", price="0.05")
    assert res["price"] == 0.05
    assert (await sim(device, "state"))["ports"][0]["slots"][0]["price"] == 0.05
    assert (await sim(device, "balance", port="1.01", price="-1"))["code"] == 400
    assert (await device.status())["status"][0]["bal"] == "3.46"


async def test_state_shows_everything(device):
    await sim(device, "registration", port="2.03", outcome="fail")
    st = await sim(device, "state")
    assert st["code"] == 0 and len(st["ports"]) == 4 and len(st["ssrc"]) == 16
    slot = st["ports"][1]["slots"][2]
    assert slot["port"] == "2.03" and slot["outcome"] == "fail" and slot["status"] == "1 Exist idle SIM card"
    assert st["outbox"]["pending"] == 0


@pytest.mark.parametrize(
    "action, params, code",
    [
        ("insert", {}, 2),
        ("insert", {"port": "9.01"}, 2),
        ("remove", {"port": "x"}, 2),
        ("balance", {"port": "1.01"}, 400),
        ("balance", {"port": "1.01", "value": "lots"}, 400),
        ("balance", {"port": "1.01", "value": "nan"}, 400),
        ("signal", {"port": "1", "value": "inf"}, 400),
        ("call", {"port": "1.01", "duration": "1e309"}, 400),
    ],
)
async def test_bad_simulator_requests(device, action, params, code):
    res = await sim(device, action, **params)
    assert res["code"] == code and res["reason"]


async def test_simulator_needs_credentials(device):
    resp = await device.client.get("/sim/state", params={"username": "root", "password": "x"})
    assert await resp.json() == {"code": 1, "reason": "Invalid User"}
