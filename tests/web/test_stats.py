"""Statistics (spec 9, 10), simulated calls, and eSIM (spec 12)."""

import re

import pytest

SMS_KEYS = ["port", "slot", "received", "sent", "sent_ok", "sent_failed", "con_failed", "unsent", "sending"]
CALL_KEYS = ["port", "slot", "calls", "alerted", "connected", "con_failed", "nc", "pdd", "acd", "asr", "tcd", "act_tcd"]


async def sms_stat(dev, **params):
    res = await dev.get("/goip_get_sms_stat.html", **params)
    assert res["code"] == 200 and res["reason"] == "OK" and res["count"] == len(res["stats"]), res
    return res["stats"]


async def call_stat(dev, **params):
    res = await dev.get("/goip_get_call_stat.html", **params)
    assert res["code"] == 200 and res["count"] == len(res["stats"]), res
    return res["stats"]


async def inbound(dev, port, n=1):
    for _ in range(n):
        assert (await dev.get("/sim/inbound", port=port, sender="10086", text="x"))["code"] == 0


# --- SMS statistics ------------------------------------------------------------


async def test_sms_counters_for_the_current_card(device):
    await device.send_ok({"tid": 1, "from": "1", "to": "1,2,9991,9992,3", "sms": "x"})
    await inbound(device, "1.01", 2)
    await device.clock.advance(12)
    [s] = await sms_stat(device, ports="1")
    assert list(s) == SMS_KEYS
    assert s == {
        "port": 1,
        "slot": 1,
        "received": 2,
        "sent": 5,
        "sent_ok": 3,
        "sent_failed": 2,
        "con_failed": 0,
        "unsent": 0,
        "sending": 0,
    }
    others = await sms_stat(device)  # ports default all, slots default the current card
    assert [(x["port"], x["slot"]) for x in others] == [(1, 1), (2, 1), (3, 1), (4, 1)]
    assert all(x["sent"] == 0 for x in others[1:])


async def test_con_failed_counts_failures_in_a_row(device):
    await device.send_ok({"tid": 1, "from": "2", "to": "1,9991,9992,9993", "sms": "x"})
    await device.clock.advance(10)
    [s] = await sms_stat(device, ports="2")
    assert s["con_failed"] == 3
    await device.send_ok({"tid": 2, "from": "2", "to": "5", "sms": "x"})
    await device.clock.advance(3)
    [s] = await sms_stat(device, ports="2")
    assert s["con_failed"] == 0 and s["sent_failed"] == 3


async def test_unsent_and_sending(device):
    await device.cmd(op="lock", ports="3")
    await device.send_ok(
        {"tid": 1, "from": "3", "to": "1,2,3", "sms": "x"}, {"tid": 2, "from": "4", "to": "1,2", "sms": "y"}
    )
    await device.clock.advance(1)  # port 4's first SMS is in its module (2 s each)
    stats = {x["port"]: x for x in await sms_stat(device, ports="3-4")}
    assert stats[3]["unsent"] == 3 and stats[3]["sending"] == 0
    assert stats[4]["unsent"] == 1 and stats[4]["sending"] == 1


async def test_windows_last_hour_two_hours_cumulative(device):
    await inbound(device, "2.01", 3)
    await device.clock.advance(59 * 60)
    assert [x["received"] for x in await sms_stat(device, ports="2", type=0)] == [3]
    await device.clock.advance(2 * 60)  # 61 minutes later
    assert [x["received"] for x in await sms_stat(device, ports="2", type=0)] == [0]
    assert [x["received"] for x in await sms_stat(device, ports="2", type=1)] == [3]
    await device.clock.advance(60 * 60)  # 121 minutes
    assert [x["received"] for x in await sms_stat(device, ports="2", type=1)] == [0]
    assert [x["received"] for x in await sms_stat(device, ports="2", type=3)] == [3]


@pytest.mark.parametrize("tz, offset_h", [("UTC", 0), ("Asia/Shanghai", 8)])
async def test_today_starts_at_local_midnight(device_factory, tz, offset_h):
    dev = await device_factory(timezone=tz)
    await dev.settle()
    # the virtual clock starts at 2026-01-01 00:00 UTC; go to 23:58 local time
    await dev.clock.advance(((23 - offset_h) % 24) * 3600 + 58 * 60 - dev.clock.monotonic())
    await inbound(dev, "1.01", 2)
    assert [x["received"] for x in await sms_stat(dev, ports="1", type=2)] == [2]
    await dev.clock.advance(3 * 60)  # 00:01 local: a new day
    assert [x["received"] for x in await sms_stat(dev, ports="1", type=2)] == [0]
    await inbound(dev, "1.01")
    assert [x["received"] for x in await sms_stat(dev, ports="1", type=2)] == [1]
    assert [x["received"] for x in await sms_stat(dev, ports="1", type=0)] == [3]  # the hour spans midnight


async def test_slot_selectors(device):
    await device.cmd(op="switch", ports="1.02")
    await device.settle()
    await inbound(device, "1.02", 4)
    await inbound(device, "1.01", 1)  # an SMS to the idle card is still counted on its slot
    stats = await sms_stat(device, ports="1", slots="all")
    assert [(x["slot"], x["received"]) for x in stats] == [(1, 1), (2, 4), (3, 0), (4, 0)]
    stats = await sms_stat(device, ports="1-2,4", slots="2")
    assert [(x["port"], x["slot"]) for x in stats] == [(1, 2), (2, 2), (4, 2)]
    stats = await sms_stat(device, ports="1")
    assert [(x["slot"], x["received"]) for x in stats] == [(2, 4)]  # the current card


async def test_counters_survive_a_restart(device_factory):
    dev = await device_factory()
    await dev.settle()
    await dev.send_ok({"tid": 1, "from": "1", "to": "1,9991,9992", "sms": "x"})
    await inbound(dev, "1.01")
    await dev.clock.advance(10)
    before = await sms_stat(dev, ports="1", type=3)
    await dev.client.close()
    dev2 = await device_factory()
    after = await sms_stat(dev2, ports="1", type=3)
    assert after == before and after[0]["con_failed"] == 2 and after[0]["sent"] == 3


@pytest.mark.parametrize(
    "params, code",
    [({"ports": "9"}, 2), ({"ports": "1-"}, 2), ({"slots": "5"}, 400), ({"type": "4"}, 400), ({"type": "x"}, 400)],
)
async def test_bad_selectors(device, params, code):
    resp = await device.client.get("/goip_get_sms_stat.html", params={"username": "root", "password": "root", **params})
    assert (await resp.json())["code"] == code


# --- calls ---------------------------------------------------------------------


async def test_calls_show_in_status_and_in_call_statistics(device, receiver):
    await device.status(url=receiver.url, period=0)
    res = await device.get("/sim/call", port="2.01", pdd=3, duration=90)
    assert res["code"] == 0
    await device.clock.advance(4)
    assert (await device.status())["status"][1]["st"] == 4
    assert (await device.get("/sim/call", port="2.01"))["code"] == 400  # one call at a time
    await device.clock.advance(90)
    assert (await device.status())["status"][1]["st"] == 3
    await receiver.wait_for(lambda r: [p["st"] for p in r.of_type("port-status") if p["port"] == "2.01"] == [4, 3])
    await device.get("/sim/call", port="2.01", pdd=5, answer=0)
    await device.clock.advance(6)
    [c] = await call_stat(device, ports="2")
    assert list(c) == CALL_KEYS
    assert c == {
        "port": 2,
        "slot": 1,
        "calls": 2,
        "alerted": 2,
        "connected": 1,
        "con_failed": 1,
        "nc": "1/2",
        "pdd": 4,
        "acd": 90,
        "asr": 50,
        "tcd": 2,
        "act_tcd": 90,
    }


async def test_call_on_an_unregistered_slot_fails(device):
    await device.cmd(op="lock", ports="3")
    await device.get("/sim/call", port="3.01", duration=10)
    await device.clock.advance(20)
    [c] = await call_stat(device, ports="3")
    assert (c["calls"], c["connected"], c["con_failed"], c["nc"], c["asr"]) == (1, 0, 1, "0/1", 0)


async def test_background_calls(device_factory):
    dev = await device_factory(
        calls={"rate": 6, "answer_ratio": 0.5, "duration_min": 10, "duration_max": 30, "pdd_min": 1, "pdd_max": 2}
    )
    await dev.settle()
    await dev.clock.advance(3600)
    stats = await call_stat(dev, type=3)
    calls = sum(c["calls"] for c in stats)
    connected = sum(c["connected"] for c in stats)
    assert 250 < calls < 480  # 6 a minute, minus arrivals on busy slots
    assert 0.3 < connected / calls < 0.7
    assert all(c["acd"] == 0 or 10 <= c["acd"] <= 30 for c in stats)


# --- eSIM ----------------------------------------------------------------------

AC = "LPA:1$smdp.example.com$MATCH-0001"


async def esims(dev, **params):
    res = await dev.get("/goip_get_esims.html", **params)
    assert res["code"] == 200 and res["ports"] == res["stats"] and res["count"] == len(res["ports"])
    return res["ports"]


async def test_query_every_port_has_an_eid(device):
    ports = await esims(device)
    assert [p["port"] for p in ports] == [1, 2, 3, 4]
    p = ports[0]
    assert re.fullmatch(r"\d{32}", p["eid"]) and p["esim_state"] == 1
    assert list(p["profiles"][0]) == [
        "slot",
        "enabled",
        "iccid",
        "ac",
        "cc",
        "provider",
        "exist",
        "exust",
        "op",
        "status",
        "reason",
    ]
    assert all(pr["exist"] == 0 and pr["op"] == 0 and pr["status"] == 0 for pr in p["profiles"])
    assert [p["port"] for p in await esims(device, ports="2-3")] == [2, 3]


async def test_write_goes_1_2_done_and_the_profile_registers(device_factory):
    dev = await device_factory(
        sim=[{"port": "1.02", "empty": True}],
        timing={"card_detect": 1, "register_min": 2, "register_max": 4, "esim_start": 1, "esim_operation": 8},
    )
    await dev.settle()
    res = await dev.post("/goip_write_esims.html", [{"port": 1, "slot": 2, "ac": AC, "cc": ""}])
    assert res == {
        "code": 200,
        "reason": "OK",
        "count": 1,
        "ports": [{"port": 1, "slot": 2, "status": 1}],
        "stats": [{"port": 1, "slot": 2, "status": 1}],
    }

    async def profile():
        return (await esims(dev, ports="1"))[0]["profiles"][1]

    assert ((await profile())["op"], (await profile())["status"]) == (1, 1)
    await dev.clock.advance(1)
    assert ((await profile())["op"], (await profile())["status"]) == (1, 2)
    await dev.clock.advance(8)
    pr = await profile()
    assert (pr["op"], pr["status"], pr["exist"], pr["exust"], pr["provider"], pr["ac"]) == (
        0,
        0,
        1,
        1,
        "smdp.example.com",
        AC,
    )
    assert pr["iccid"].startswith("8988") and pr["enabled"] == 0
    await dev.cmd(op="switch", ports="1.02")
    await dev.settle()
    assert (await profile())["enabled"] == 1
    assert (await dev.status())["status"][0]["st"] == 3  # the profile registered like any SIM


@pytest.mark.parametrize(
    "item, reason",
    [
        ({"port": 1, "slot": 2, "ac": "not-an-activation-code"}, "bad activation code"),
        ({"port": 1, "slot": 1, "ac": AC}, "slot busy"),
        ({"port": 1, "slot": 2, "ac": "LPA:1$smdp.example.com$CC-42"}, "confirmation code required"),
    ],
)
async def test_write_errors_end_in_3_with_a_reason(device_factory, item, reason):
    dev = await device_factory(sim=[{"port": "1.02", "empty": True}])
    await dev.settle()
    assert (await dev.post("/goip_write_esims.html", [item]))["ports"][0]["status"] == 1
    await dev.clock.advance(20)
    pr = (await esims(dev, ports="1"))[0]["profiles"][item["slot"] - 1]
    assert pr["status"] == 3 and pr["op"] == 1 and reason in pr["reason"]


async def test_confirmation_code_given(device_factory):
    dev = await device_factory(sim=[{"port": "1.02", "empty": True}])
    await dev.post(
        "/goip_write_esims.html", [{"port": 1, "slot": 2, "ac": "LPA:1$smdp.example.com$CC-42", "cc": "1234"}]
    )
    await dev.clock.advance(20)
    pr = (await esims(dev, ports="1"))[0]["profiles"][1]
    assert (pr["exist"], pr["cc"]) == (1, "1234")


async def test_a_busy_port_refuses_with_2_and_bad_items_get_3(device_factory):
    dev = await device_factory(sim=[{"port": "1.02", "empty": True}, {"port": "1.03", "empty": True}])
    res = await dev.post(
        "/goip_write_esims.html",
        [
            {"port": 1, "slot": 2, "ac": AC},
            {"port": 1, "slot": 3, "ac": AC},
            {"port": 9, "slot": 1, "ac": AC},
            {"port": "2", "slot": "9", "ac": AC},
        ],
    )
    assert [r["status"] for r in res["ports"]] == [1, 2, 3, 3]


async def test_delete_empties_the_slot(device_factory):
    dev = await device_factory(sim=[{"port": "2.03", "empty": True}])
    await dev.settle()
    await dev.post("/goip_write_esims.html", [{"port": 2, "slot": 3, "ac": AC}])
    await dev.clock.advance(20)
    assert dev.slot("2.03").present
    res = await dev.post("/goip_delete_esims.html", [{"port": 2, "slot": 3}])
    assert res["ports"] == [{"port": 2, "slot": 3, "status": 1}]
    await dev.clock.advance(1)
    pr = (await esims(dev, ports="2"))[0]["profiles"][2]
    assert (pr["op"], pr["status"]) == (2, 2)
    await dev.clock.advance(20)
    pr = (await esims(dev, ports="2"))[0]["profiles"][2]
    assert (pr["op"], pr["status"], pr["exist"]) == (0, 0, 0)
    assert not dev.slot("2.03").present and int(dev.slot("2.03").state) == 0


async def test_delete_without_a_profile_fails(device):
    await device.post("/goip_delete_esims.html", [{"port": 1, "slot": 1}])
    await device.clock.advance(20)
    pr = (await esims(device, ports="1"))[0]["profiles"][0]
    assert (pr["op"], pr["status"], pr["reason"]) == (2, 3, "no profile in this slot")
    assert device.slot("1.01").present  # the physical SIM stays


async def test_profile_survives_a_restart(device_factory):
    dev = await device_factory(sim=[{"port": "1.02", "empty": True}])
    await dev.post("/goip_write_esims.html", [{"port": 1, "slot": 2, "ac": AC}])
    await dev.clock.advance(20)
    await dev.client.close()
    dev2 = await device_factory()
    pr = (await esims(dev2, ports="1"))[0]["profiles"][1]
    assert (pr["exist"], pr["ac"], pr["provider"]) == (1, AC, "smdp.example.com")


@pytest.mark.parametrize("body", [b"{}", b"[]", b"nope", b'[{"port": "x"}]'])
async def test_bad_esim_bodies(device, body):
    resp = await device.client.post(
        "/goip_write_esims.html", params={"username": "root", "password": "root"}, data=body
    )
    assert resp.status == 400 and (await resp.json())["code"] == 400


async def test_sms_interrupted_by_a_restart_count_as_failed(device_factory):
    dev = await device_factory()
    await dev.settle()
    # a number starting 998 never gets an answer: the SMS is still in the module at the stop
    await dev.send_ok({"tid": 1, "from": "1", "to": "9981234", "sms": "x", "tmo": 600})
    await dev.clock.advance(5)
    assert (await sms_stat(dev, ports="1", type=3))[0]["sent_failed"] == 0
    await dev.client.close()  # stops with no grace, like a crash in the middle of the SMS
    dev2 = await device_factory()
    stats = await sms_stat(dev2, ports="1", type=3)
    assert stats[0]["sent_failed"] == 1 and stats[0]["sent"] == 1


async def test_unsent_counts_each_waiting_sms_once_on_the_slot_that_will_send_it(device):
    await device.cmd(op="lock", ports="all")  # everything waits
    await device.send_ok(
        {"tid": 1, "from": "2", "to": "1,2,3", "sms": "whole port"},
        {"tid": 2, "from": "3.02", "to": "1", "sms": "one slot"},
        {"tid": 3, "to": "1,2,3,4,5,6,7,8,9", "sms": "no from"},
        {"tid": 4, "from": "1,4", "to_all": 0, "to": "1,2,3", "sms": "shared"},
    )
    stats = {(x["port"], x["slot"]): x["unsent"] for x in await sms_stat(device, slots="all")}
    assert sum(stats.values()) == 3 + 1 + 9 + 3  # every waiting SMS once
    # tid 1 on port 2's active slot only; tid 2 on 3.02; tid 3 split over the 4 ports (3+2+2+2)
    # on their active slots; tid 4 split over ports 1 and 4 (2+1).
    assert stats[(2, 1)] == 3 + 2 and all(stats[(2, s)] == 0 for s in (2, 3, 4))
    assert stats[(3, 2)] == 1 and stats[(3, 1)] == 2
    assert stats[(1, 1)] == 3 + 2 and stats[(4, 1)] == 2 + 1


async def test_a_slot_locked_while_the_call_rings_is_not_connected(device):
    await device.get("/sim/call", port="3.01", pdd=5, duration=10)
    await device.clock.advance(2)
    await device.cmd(op="lock", ports="3")
    await device.clock.advance(20)
    assert (await device.status())["status"][2]["st"] == 12  # never 4 on a locked slot
    [c] = await call_stat(device, ports="3")
    assert (c["calls"], c["alerted"], c["connected"], c["tcd"]) == (1, 1, 0, 0)
