"""What integrations written against either spec edition send, endpoint by endpoint, over HTTP.

v2.4.0 forms are the ones emitted; the v2.1.0 spellings are read as well.
"""

import base64
import json

import pytest

from .test_receiving import inject
from .test_receiving import rows as recv_rows


def texts(page):
    return [base64.b64decode(r[5]).decode() for r in page["data"]]


@pytest.mark.parametrize("form", [False, True])
async def test_get_sms_by_post_reads_its_parameters_from_the_body(device, form):
    for i in range(4):
        await inject(device, "1.01", "10010", f"sms {i}")
    fields = {"sms_id": 2, "sms_num": 2, "sms_del": 1}
    if form:
        raw = "&".join(f"{k}={v}" for k, v in fields.items())
        page = await device.post("/goip_get_sms.html", raw=raw)
    else:
        page = await device.post("/goip_get_sms.html", fields)
    assert page["sms_num"] == 2 and texts(page) == ["sms 1", "sms 2"] and page["next_sms"] == 4
    rest = await device.get("/goip_get_sms.html")
    assert texts(rest) == ["sms 0", "sms 3"]  # the two were deleted


async def test_v21_capitalised_credentials_are_accepted(device):
    resp = await device.client.get("/goip_get_status.html", params={"Username": "root", "Password": "root"})
    assert (await resp.json())["type"] == "dev-status"
    resp = await device.client.post(
        "/goip_get_sms.html", data=json.dumps({"Username": "root", "Password": "root", "sms_num": 1})
    )
    assert (await resp.json())["code"] == 0
    resp = await device.client.get("/goip_get_status.html", params={"Username": "root", "Password": "wrong"})
    assert (await resp.json())["code"] != 200


async def test_v21_capitalised_url_and_period_on_get_status(device, receiver):
    await device.client.get(
        "/goip_get_status.html", params={"username": "root", "password": "root", "Url": receiver.url, "Period": "120"}
    )
    got = await device.cmd(op="get", status_url="", status_period="")
    assert got["data"]["status_url"] == receiver.url and int(got["data"]["status_period"]) == 120


async def test_v21_smc_is_the_smsc(device, receiver):
    await device.cmd(op="set", sms_url=receiver.url)
    await device.send_ok({"tid": 4, "from": "1", "to": "13900000001", "sms": "x", "dr": 1, "smc": "+8613800100500"})
    await device.clock.advance(10)
    await receiver.wait_count(1, "recv-sms")
    assert recv_rows(receiver)[0][3] == "+8613800100500"


@pytest.mark.parametrize(
    "pairs",
    [
        [["21", "for 21"], ["22", "for 22"]],  # v2.4.0
        [{"21": "for 21"}, {"22": "for 22"}],  # v2.1.0 object pairs
        [[{"21": "for 21"}, {"22": "for 22"}]],  # v2.1.0 example, wrapped once more
    ],
)
async def test_to_title_array_in_both_editions(device, pairs):
    await device.cmd(op="lock", ports="all")  # stays queued, to be looked at
    await device.send_ok({"tid": 13, "smstype": 2, "to_title_array": pairs, "sms": "body"})
    task = device.gw.sending.task(13)
    assert task.spec.recipients == [] and task.spec.titles == ["for 21", "for 22"]
    page = await device.get("/goip_get_tasks.html", port=1, pos=0)
    assert page["tasks"][0]["to"] == "21,22"


async def test_switching_to_an_empty_slot_pushes_both_slots(device, receiver):
    await device.status(url=receiver.url, period=0)
    await device.cmd(op="switch", ports="2.04")  # empty by default
    await device.settle()
    await receiver.wait_for(lambda r: {"2.01", "2.04"} <= {p["port"] for p in r.of_type("port-status")})
    last = {p["port"]: p for p in receiver.of_type("port-status")}
    assert last["2.04"]["active"] == 1 and last["2.04"]["st"] == 0
    assert last["2.01"]["active"] == 0
    await device.cmd(op="switch", ports="2.01")
    await device.settle()
    await receiver.wait_for(lambda r: [p for p in r.of_type("port-status") if p["port"] == "2.04"][-1]["active"] == 0)


async def test_the_esim_page_examples_work_on_the_default_device(device):
    res = await device.post(
        "/goip_write_esims.html", [{"port": 2, "slot": 4, "ac": "LPA:1$smdp.example.com$MATCH-0001", "cc": ""}]
    )
    assert res["ports"] == [{"port": 2, "slot": 4, "status": 1}]
    await device.clock.advance(30)
    [port] = (await device.get("/goip_get_esims.html", ports=2))["ports"]
    assert port["profiles"][3]["exist"] == 1 and port["profiles"][3]["reason"] == ""
    res = await device.post("/goip_delete_esims.html", [{"port": 2, "slot": 4}])
    assert res["ports"] == [{"port": 2, "slot": 4, "status": 1}]
    await device.clock.advance(30)
    [port] = (await device.get("/goip_get_esims.html", ports=2))["ports"]
    assert port["profiles"][3]["exist"] == 0
