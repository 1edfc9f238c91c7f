"""goip_get_status.html and the status pushes, over real HTTP."""

import pytest

from ejoin.protocol.codes import PortState

# The keys of spec 6.4.1's example entry plus those DECISIONS.md adds.
ENTRY_KEYS = [
    "port",
    "sim",
    "seq",
    "st",
    "status",
    "imei",
    "iccid",
    "imsi",
    "sn",
    "opr",
    "bal",
    "sig",
    "active",
    "inserted",
    "slot_active",
    "led",
    "tot_dur",
    "mon_dur",
    "day_dur",
]
TOP_KEYS = ["type", "seq", "expires", "mac", "ip", "ver", "max-ports", "max-slot", "max-slots", "status"]


def check_entry(entry: dict) -> None:
    assert list(entry) == ENTRY_KEYS
    for key in ("seq", "st", "sig", "active", "inserted", "slot_active", "led"):
        assert type(entry[key]) is int, key
    for key in ("port", "sim", "status", "imei", "iccid", "imsi", "sn", "opr", "bal", "tot_dur", "mon_dur", "day_dur"):
        assert type(entry[key]) is str, key
    assert entry["st"] in [int(s) for s in PortState]
    assert entry["status"] == PortState(entry["st"]).label  # "3 Registered": what status pollers read
    whole, _, cents = entry["bal"].partition(".")
    assert whole.isdigit() and len(cents) == 2


@pytest.mark.also_emulated
async def test_status_answers_at_once_with_every_field(device):
    d = await device.status()
    assert list(d) == TOP_KEYS
    assert d["type"] == "dev-status"
    assert d["max-ports"] == 4 and d["max-slot"] == d["max-slots"] == 4
    assert d["mac"].startswith("00-30-f1-") and len(d["mac"].split("-")) == 6
    assert [e["port"] for e in d["status"]] == ["1.01", "2.01", "3.01", "4.01"]
    for e in d["status"]:
        check_entry(e)
        assert e["st"] == 3 and e["active"] == 1 and e["inserted"] == 1
        assert e["opr"].split(" ", 1)[0].isdigit()  # "46001 CHINA UNICOM GSM"
        assert 0 <= e["sig"] <= 31 and e["sig"] > 0
        assert len(e["imei"]) == 15 and e["iccid"].startswith("89")
    again = await device.status()
    assert again["seq"] == d["seq"] + 1


@pytest.mark.also_emulated
async def test_all_slots_and_all_sims(device_factory):
    dev = await device_factory(sim=[{"port": "1.02", "empty": True}, {"port": "3.04", "empty": True}])
    await dev.settle()
    slots = (await dev.status(all_slots=1))["status"]
    assert len(slots) == 16
    assert [e["port"] for e in slots[:5]] == ["1.01", "1.02", "1.03", "1.04", "2.01"]
    empty = {e["port"]: e for e in slots if e["inserted"] == 0}
    assert set(empty) == {"1.02", "3.04", "2.04", "4.04"}  # the last two: empty by default
    assert empty["1.02"]["st"] == 0 and empty["1.02"]["iccid"] == ""
    idle = [e for e in slots if e["active"] == 0 and e["inserted"] == 1]
    assert idle and all(e["st"] == 1 and e["sig"] == 0 and e["opr"] == "" for e in idle)
    sims = (await dev.status(all_sims=1))["status"]
    assert len(sims) == 12 and all(e["inserted"] == 1 for e in sims)


async def test_bad_credentials_get_the_spec_error(device):
    for params in ({"username": "root", "password": "nope"}, {"username": "x", "password": "root"}):
        resp = await device.client.get("/goip_get_status.html", params=params)
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
        assert await resp.json() == {"code": 1, "reason": "Invalid User"}
    resp = await device.client.get("/goip_get_status.html")
    assert await resp.json() == {"code": 1, "reason": "Invalid User"}


@pytest.mark.also_emulated
async def test_url_pushes_dev_status_at_once_then_every_period(device, receiver):
    d = await device.status(url=receiver.url, period=60)
    assert d["expires"] == 60
    await receiver.wait_count(1, "dev-status")
    first = receiver.of_type("dev-status")[0]
    assert list(first) == TOP_KEYS and first["status"][0]["port"] == "1.01"
    assert receiver.pushes[0].headers["Content-Type"] == "application/json; charset=utf-8"
    await device.clock.advance(59)
    assert len(receiver.of_type("dev-status")) == 1
    await device.clock.advance(1)
    await receiver.wait_count(2, "dev-status")
    await device.clock.advance(120)
    await receiver.wait_count(4, "dev-status")
    seqs = [p["seq"] for p in receiver.of_type("dev-status")]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4


async def test_period_has_a_minimum_and_zero_cancels(device, receiver):
    d = await device.status(url=receiver.url, period=10)
    assert d["expires"] == 60  # the spec's minimum
    await receiver.wait_count(1, "dev-status")
    d = await device.status(period=0)
    assert d["expires"] == 0
    await device.clock.advance(600)
    assert len(receiver.of_type("dev-status")) == 1
    # the URL was kept: a later period needs no URL again
    await device.status(period=120)
    await device.clock.advance(120)
    await receiver.wait_count(2, "dev-status")


async def test_status_url_and_period_survive_a_restart(device_factory, receiver, tmp_path):
    dev = await device_factory()
    await dev.status(url=receiver.url, period=300)
    await dev.client.close()  # stops the gateway
    dev2 = await device_factory()
    d = await dev2.status()
    assert d["expires"] == 300
    got = await dev2.cmd(op="get", status_url="")
    assert got["data"]["status_url"] == receiver.url


@pytest.mark.also_emulated
async def test_every_change_of_a_slot_pushes_port_status(device, receiver):
    await device.status(url=receiver.url, period=0)
    await device.cmd({"type": "command", "op": "lock", "ports": "2.01"})
    await receiver.wait_count(1, "port-status")
    push = receiver.of_type("port-status")[0]
    # the spec 4.1.4 sample's fields, st as an integer and status as text
    assert list(push)[:5] == ["type", "port", "seq", "st", "status"]
    assert set(ENTRY_KEYS) <= set(push)
    assert push["type"] == "port-status" and push["port"] == "2.01"
    assert push["st"] == 12 and push["status"] == "12 User locked"
    assert push["slot_active"] == 0 and push["opr"] == ""
    before = push["seq"]
    await device.cmd({"type": "command", "op": "unlock", "ports": "2.01"})
    await device.settle()
    await receiver.wait_count(4, "port-status")
    states = [(p["st"], p["status"]) for p in receiver.of_type("port-status")[1:4]]
    assert states == [(11, "11 Card Detected"), (2, "2 Registering"), (3, "3 Registered")]
    seqs = [p["seq"] for p in receiver.of_type("port-status")]
    assert seqs == list(range(before, before + 4))


async def test_letter_port_names_for_old_clients(device_factory):
    dev = await device_factory(port_names="letter")
    await dev.settle()
    d = await dev.status(all_slots=1)
    assert [e["port"] for e in d["status"][:3]] == ["1A", "1B", "1C"]


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"period": "soon"}, "period must be a whole number"),
        ({"period": "-5"}, "at least 0"),
        ({"url": "ftp://x"}, "not an http"),
        ({"all_slots": "maybe"}, "all_slots is 0 or 1"),
        ({"period": "99999999999999999999"}, "period must be at most 86400"),
        ({"url": "http://platform.test/st\r\nX-Evil: 1"}, "control character"),
    ],
)
async def test_bad_status_parameters_say_why(device, params, fragment):
    resp = await device.client.get("/goip_get_status.html", params={"username": "root", "password": "root", **params})
    assert resp.status == 400
    body = await resp.json()
    assert body["code"] == 400 and fragment in body["reason"]
    assert (device.gw.settings["status_url"], device.gw.settings["status_period"]) == ("", 60)  # nothing set


async def test_default_empty_slots_yield_to_sim_tables_and_can_be_turned_off(device_factory, tmp_path):
    dev = await device_factory(ports=4, slots=2, sim=[{"port": "2B", "number": "15550100"}])
    await dev.settle()
    empty = {e["port"] for e in (await dev.status(all_slots=1))["status"] if e["inserted"] == 0}
    assert empty == {"4.02"}  # 2.02 is named by a [[sim]] table: it holds that card
    dev2 = await device_factory(path=tmp_path / "none", ports=4, slots=2, empty_slots="none")
    await dev2.settle()
    assert all(e["inserted"] == 1 for e in (await dev2.status(all_slots=1))["status"])
    dev3 = await device_factory(path=tmp_path / "one", ports=4, slots=1)
    await dev3.settle()
    assert all(e["inserted"] == 1 for e in (await dev3.status(all_slots=1))["status"])  # a port's only slot
