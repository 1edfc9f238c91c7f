"""Receiving: loopback and injected SMS, recv-sms pushes, delivery reports, the inbox, MMS."""

import base64
import email
import email.policy
import re

import pytest


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def rows(receiver):
    return [row for push in receiver.of_type("recv-sms") for row in push["sms"]]


async def inject(dev, port, sender, text, **extra):
    res = await dev.get("/sim/inbound", port=port, sender=sender, text=text, **extra)
    assert res["code"] == 0, res
    return res


@pytest.mark.also_emulated
async def test_loopback_send_arrives_and_is_pushed(device, receiver):
    await device.cmd(op="set", sms_url=receiver.url)
    sender = device.slot("1.01").record.number
    target = device.slot("3.01").record.number
    await device.send_ok({"tid": 1, "from": "1", "to": target, "sms": "ping 中文"})
    await device.clock.advance(3)
    await receiver.wait_count(1, "recv-sms")
    push = receiver.of_type("recv-sms")[0]
    ts = int(device.clock.time()) - 1  # sent 2 s after the request, 1 s ago
    assert push == {"type": "recv-sms", "sms_num": 1, "sms": [[0, "3.01", ts, sender, target, b64("ping 中文")]]}


@pytest.mark.also_emulated
async def test_long_loopback_sms_arrives_as_parts_and_is_joined(device, receiver):
    await device.cmd(op="set", sms_url=receiver.url)
    text = "0123456789" * 30  # 300 GSM-7 characters: two parts
    await device.send_ok({"tid": 2, "from": "2", "to": device.slot("4.01").record.number, "sms": text})
    await device.clock.advance(3)
    await receiver.wait_count(1, "recv-sms")
    [row] = rows(receiver)
    assert row[1] == "4.01" and base64.b64decode(row[5]).decode() == text and len(row) == 6


async def test_every_sms_at_once_when_sms_cnt_is_1(device, receiver):
    await device.cmd(op="set", sms_url=receiver.url)
    for i in range(3):
        await inject(device, "2.01", "10086", f"msg {i}")
    await receiver.wait_count(3, "recv-sms")
    assert [p["sms_num"] for p in receiver.of_type("recv-sms")] == [1, 1, 1]
    assert [base64.b64decode(r[5]).decode() for r in rows(receiver)] == ["msg 0", "msg 1", "msg 2"]


async def test_batched_by_count_then_by_time(device, receiver):
    await device.cmd(op="set", sms_url=receiver.url, sms_cnt="3", sms_prd="30")
    for i in range(5):
        await inject(device, "1.01", "10010", f"n{i}")
    await receiver.wait_count(1, "recv-sms")
    assert receiver.of_type("recv-sms")[0]["sms_num"] == 3
    await device.clock.advance(29)
    assert len(receiver.of_type("recv-sms")) == 1
    await device.clock.advance(1)
    await receiver.wait_count(2, "recv-sms")
    assert receiver.of_type("recv-sms")[1]["sms_num"] == 2
    assert [base64.b64decode(r[5]).decode() for r in rows(receiver)] == [f"n{i}" for i in range(5)]


async def test_a_send_request_revises_where_received_sms_go(device, receiver):
    await device.send_ok({"tid": 3, "to": "1", "sms": "x"}, sms_url=receiver.url, sms_cnt=2, sms_prd=10)
    got = await device.cmd(op="get", sms_url="", sms_cnt="", sms_prd="")
    assert got["data"] == {"sms_url": receiver.url, "sms_cnt": 2, "sms_prd": 10}


@pytest.mark.also_emulated
async def test_delivery_reports(device_factory, receiver):
    dev = await device_factory(
        timing={
            "card_detect": 1.0,
            "register_min": 2.0,
            "register_max": 4.0,
            "send_min": 2.0,
            "send_max": 2.0,
            "delivery": 5.0,
        }
    )
    await dev.settle()
    await dev.cmd(op="set", sms_url=receiver.url)
    start = dev.clock.time()
    await dev.send_ok(
        {"tid": 4, "from": "1", "to": "13900000001,9970002", "sms": "x", "dr": 1, "smsc": "+8613800100500"}
    )
    await dev.clock.advance(10)
    await receiver.wait_count(2, "recv-sms")
    reports = rows(receiver)
    assert [(r[0], r[1], r[3], r[4]) for r in reports] == [
        (1, "1.01", "+8613800100500", "13900000001"),
        (1, "1.01", "+8613800100500", "9970002"),
    ]
    # "code scts": delivered 5 s after each send (sent at 2 s and 4 s)
    assert reports[0][5] == "0 26/01/01,00:00:" + f"{int(start) % 60 + 7:02d}+00"
    assert reports[1][5].startswith("64 ") and re.fullmatch(r"64 \d\d/\d\d/\d\d,\d\d:\d\d:\d\d\+00", reports[1][5])
    assert reports[0][2] == int(start) + 7


@pytest.mark.also_emulated
async def test_a_long_sms_gets_one_delivery_report_under_the_slot_that_sent_it(device, receiver):
    await device.cmd(op="set", sms_url=receiver.url)
    text = "0123456789" * 30  # two parts, each reported by the network
    await device.send_ok({"tid": 6, "from": "1", "to": "+8613900000001", "sms": text, "dr": 1})
    await device.clock.advance(2)  # sent: now the port switches before the reports come
    assert (await device.cmd(op="switch", ports="1.02"))["code"] == 0
    await device.clock.advance(10)
    await receiver.wait_count(1, "recv-sms")
    await device.clock.advance(10)
    [report] = rows(receiver)
    assert (report[0], report[1], report[4]) == (1, "1.01", "+8613900000001")
    assert report[5].startswith("0 ")


async def test_a_report_nothing_was_sent_for_goes_to_the_active_slot(device, receiver):
    await device.cmd(op="set", sms_url=receiver.url)
    device.gw.driver.events.delivery_report(2, 77, "13900000009", 64, device.clock.time(), "+10000000000")
    await receiver.wait_count(1, "recv-sms")
    [report] = rows(receiver)
    assert (report[0], report[1], report[3], report[4]) == (1, "2.01", "+10000000000", "13900000009")
    assert report[5].startswith("64 ")


@pytest.mark.also_emulated
async def test_no_delivery_report_without_dr(device, receiver):
    await device.cmd(op="set", sms_url=receiver.url)
    await device.send_ok({"tid": 5, "from": "1", "to": "13900000001", "sms": "x"})
    await device.clock.advance(30)
    assert rows(receiver) == []


@pytest.mark.also_emulated
async def test_injected_parts_are_joined_in_order(device, receiver):
    await device.cmd(op="set", sms_url=receiver.url)
    res = await inject(device, "2.01", "+15550100", "world", ref=7, total=2, seq=2)
    assert res["part"] == "2/2"
    assert rows(receiver) == []
    res = await inject(device, "2.01", "+15550100", "hello ", ref=7, total=2, seq=1)
    assert "part" not in res and res["id"] == 1  # the last part is answered as the SMS it completed
    await receiver.wait_count(1, "recv-sms")
    assert base64.b64decode(rows(receiver)[0][5]).decode() == "hello world"
    inbox = await device.get("/goip_get_sms.html")
    assert [row[5] for row in inbox["data"]] == [b64("hello world")]


async def test_a_part_that_never_completes_is_delivered_incomplete(device_factory, receiver):
    dev = await device_factory(concat_timeout=60)
    await dev.settle()
    await dev.cmd(op="set", sms_url=receiver.url)
    await inject(dev, "1.01", "10010", "first of three ", ref=9, total=3, seq=1)
    await inject(dev, "1.01", "10010", "third", ref=9, total=3, seq=3)
    await dev.clock.advance(59)
    assert rows(receiver) == []
    await dev.clock.advance(1)
    await receiver.wait_count(1, "recv-sms")
    [row] = rows(receiver)
    # Six elements by default: strict parsers of the spec's rows keep working.
    assert base64.b64decode(row[5]).decode() == "first of three third" and len(row) == 6
    # The marker only when the device is asked for it.
    await dev.cmd(op="set", sms_incomplete_mark="1")
    await inject(dev, "1.01", "10010", "only part ", ref=10, total=2, seq=1)
    await dev.clock.advance(60)
    await receiver.wait_count(2, "recv-sms")
    assert rows(receiver)[-1][6] == "1/2"
    inbox = await dev.get("/goip_get_sms.html")
    assert [len(r) for r in inbox["data"]] == [7, 7] and inbox["data"][0][6] == "2/3"


async def test_waiting_parts_survive_a_restart(device_factory, receiver):
    dev = await device_factory()
    await dev.cmd(op="set", sms_url=receiver.url)
    await inject(dev, "3.01", "10010", "before restart, ", ref=1, total=2, seq=1)
    await dev.client.close()
    dev2 = await device_factory()
    await inject(dev2, "3.01", "10010", "after", ref=1, total=2, seq=2)
    await receiver.wait_count(1, "recv-sms")
    assert base64.b64decode(rows(receiver)[0][5]).decode() == "before restart, after"


@pytest.mark.also_emulated
async def test_raw_content(device, receiver):
    await device.cmd(op="set", sms_url=receiver.url)
    await inject(device, "1.01", "10086", "", raw=b64("é raw"))
    await receiver.wait_count(1, "recv-sms")
    assert rows(receiver)[0][5] == b64("é raw")


async def test_bad_inbound_requests(device):
    for params, fragment in [
        ({"port": "1.01", "text": "x"}, "sender"),
        ({"port": "1.01", "sender": "1"}, "text="),
        ({"port": "1.01", "sender": "1", "raw": "%%"}, "base64"),
        ({"port": "1.01", "sender": "1", "text": "x", "seq": 3, "total": 2}, "seq <= total"),
    ]:
        res = await device.get("/sim/inbound", **params)
        assert res["code"] == 400 and fragment in res["reason"]


# --- the inbox (spec 8) --------------------------------------------------------


async def test_inbox_paging_and_deleting(device):
    for i in range(5):
        await inject(device, "1.01", "10010", f"sms {i}")
    page = await device.get("/goip_get_sms.html")
    assert page["code"] == 0 and page["reason"] == "OK" and re.fullmatch(r"[0-9a-f]{16}", page["ssrc"])
    assert page["sms_num"] == 5 and page["next_sms"] == 6
    assert [r[0:2] + [r[3]] for r in page["data"]] == [[0, "1.01", "10010"]] * 5
    assert base64.b64decode(page["data"][0][5]).decode() == "sms 0"
    assert page["data"][0][4] == device.slot("1.01").record.number
    page = await device.get("/goip_get_sms.html", sms_id=2, sms_num=2)
    assert page["sms_num"] == 2 and page["next_sms"] == 4
    assert [base64.b64decode(r[5]).decode() for r in page["data"]] == ["sms 1", "sms 2"]
    page = await device.get("/goip_get_sms.html", sms_id=1, sms_num=3, sms_del=1)
    assert page["sms_num"] == 3
    page = await device.get("/goip_get_sms.html")
    assert [base64.b64decode(r[5]).decode() for r in page["data"]] == ["sms 3", "sms 4"]
    await inject(device, "1.01", "10010", "sms 5")
    page = await device.get("/goip_get_sms.html", sms_id=6)
    assert page["sms_num"] == 1 and page["next_sms"] == 7  # ids keep counting after deletes
    empty = await device.get("/goip_get_sms.html", sms_id=7)
    assert empty["sms_num"] == 0 and empty["next_sms"] == 7 and empty["data"] == []


async def test_inbox_survives_a_restart_and_ssrc_changes(device_factory):
    dev = await device_factory()
    await inject(dev, "2.01", "10086", "kept")
    first = await dev.get("/goip_get_sms.html")
    await dev.client.close()
    dev2 = await device_factory()
    again = await dev2.get("/goip_get_sms.html")
    assert again["data"] == first["data"] and again["ssrc"] != first["ssrc"]


@pytest.mark.parametrize(
    "params",
    [
        {"sms_id": "0"},
        {"sms_num": "-1"},
        {"sms_del": "x"},
        {"sms_id": "a"},
        {"sms_id": str(2**63)},
        {"sms_num": str(10**30)},
    ],
)
async def test_bad_inbox_parameters(device, params):
    resp = await device.client.get("/goip_get_sms.html", params={"username": "root", "password": "root", **params})
    assert resp.status == 400 and (await resp.json())["code"] == 400


@pytest.mark.also_emulated
async def test_received_sms_are_counted_per_slot(device):
    for _ in range(3):
        await inject(device, "2.01", "1", "x")
    await inject(device, "4.01", "1", "y")
    counts = await device.gw.store.sms_counts(0)
    assert {k: v["received"] for k, v in counts.items() if v["received"]} == {(2, 1): 3, (4, 1): 1}


# --- durability ---------------------------------------------------------------


@pytest.mark.also_emulated
async def test_nothing_is_lost_while_the_receiver_is_down(device, receiver):
    await device.cmd(op="set", sms_url=receiver.url)
    receiver.status = 503
    for i in range(3):
        await inject(device, "1.01", "10010", f"while down {i}")
    await receiver.wait_for(lambda r: r.attempts >= 1)
    await device.clock.advance(10)  # more tries, all refused
    assert rows(receiver) == []
    receiver.status = 200
    for _ in range(6):
        await device.clock.advance(60)  # the outbox's back-off
    await receiver.wait_count(3, "recv-sms")
    assert [base64.b64decode(r[5]).decode() for r in rows(receiver)] == [f"while down {i}" for i in range(3)]


async def test_sms_waiting_in_the_push_cache_survive_a_restart(device_factory, receiver):
    dev = await device_factory()
    await dev.cmd(op="set", sms_url=receiver.url, sms_cnt="10", sms_prd="300")
    for i in range(2):
        await inject(dev, "1.01", "10010", f"cached {i}")
    await dev.client.close()  # stopped with two SMS waiting in the cache
    assert rows(receiver) == []
    dev2 = await device_factory()
    await dev2.clock.advance(300)
    await receiver.wait_count(1, "recv-sms")
    assert [base64.b64decode(r[5]).decode() for r in rows(receiver)] == ["cached 0", "cached 1"]


# --- traffic ------------------------------------------------------------------


async def test_background_traffic(device_factory, receiver):
    dev = await device_factory(traffic={"rate": 30, "senders": ["10086"], "texts": ["hi", "x" * 200]})
    await dev.settle()
    await dev.cmd(op="set", sms_url=receiver.url)
    before = dev.gw.modems.traffic.sent  # arrived with no sms_url: kept in the inbox only
    await dev.clock.advance(600)
    sent = dev.gw.modems.traffic.sent - before
    assert 200 < sent < 400  # 30 a minute for 10 minutes
    await receiver.wait_count(sent, "recv-sms", timeout=10)
    inbox = await dev.get("/goip_get_sms.html")
    assert inbox["sms_num"] == before + sent
    texts = {base64.b64decode(r[5]).decode() for r in rows(receiver)}
    assert texts == {"hi", "x" * 200}


# --- MMS (spec 11) ----------------------------------------------------------------


async def test_mms_is_pushed_as_multipart_related(device, receiver):
    await device.cmd(op="set", mms_url=receiver.url)
    jpeg = b"\xff\xd8\xff\xe0fake jpeg"
    res = await device.post(
        "/sim/mms",
        {
            "subject": "subject00",
            "sender": "+8613751064129",
            "recipient": "8613580256847",
            "parts": [
                {"type": "image/jpeg", "name": "IMG_3337.jpg", "data": base64.b64encode(jpeg).decode()},
                {"type": "text/plain", "name": "text_1.txt", "text": "content00"},
            ],
        },
    )
    assert res["code"] == 0
    await receiver.wait_count(1)
    push = receiver.pushes[0]
    h = push.headers
    assert h["Emms-Subject"] == "c3ViamVjdDAw; charset=UTF-8"
    assert h["Emms-From"] == "Kzg2MTM3NTEwNjQxMjk=; type=PLMN; charset=UTF-8"  # spec 11.3's own example
    assert h["Emms-To"] == "ODYxMzU4MDI1Njg0Nw==; type=PLMN; charset=UTF-8"
    assert "Date" in h
    msg = email.message_from_bytes(
        b"Content-Type: " + h["Content-Type"].encode() + b"\r\n\r\n" + push.body, policy=email.policy.default
    )
    assert msg.get_content_type() == "multipart/related"
    assert msg.get_param("type") == "application/smil" and msg.get_param("start") == "<0.smil>"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["application/smil", "image/jpeg", "text/plain"]
    assert parts[0]["Content-ID"] == "<0.smil>" and b"IMG_3337.jpg" in parts[0].get_payload(decode=True)
    assert parts[1]["Content-Location"] == "IMG_3337.jpg" and parts[1].get_payload(decode=True) == jpeg
    assert parts[2].get_content().strip() == "content00"


async def test_mms_needs_a_url_and_parts(device):
    resp = await device.client.post(
        "/sim/mms", params={"username": "root", "password": "root"}, data='{"sender":"1","parts":[{"text":"x"}]}'
    )
    assert resp.status == 409 and "mms_url" in (await resp.json())["reason"]
    resp = await device.client.post("/sim/mms", params={"username": "root", "password": "root"}, data='{"sender":"1"}')
    assert resp.status == 400


async def test_the_inbox_keeps_inbox_max_sms_but_never_drops_unpushed_ones(device_factory, receiver):
    dev = await device_factory(inbox_max=1)
    await dev.cmd(op="set", sms_url=receiver.url)
    for i in range(5):
        await inject(dev, "1.01", "1", f"pushed {i}")
    await receiver.wait_count(5, "recv-sms")
    await dev.cmd(op="set", sms_url="")  # from here on nothing is pushed
    await dev.cmd(op="set", sms_url=receiver.url, sms_cnt="100", sms_prd="9999")  # ...or only much later
    for i in range(2):
        await inject(dev, "1.01", "1", f"waiting {i}")
    await dev.clock.advance(3600)  # the hourly housekeeping
    texts = [base64.b64decode(r[5]).decode() for r in (await dev.get("/goip_get_sms.html"))["data"]]
    # one SMS is the cap: every pushed one goes, but the two not pushed yet stay, beyond the cap
    assert texts == ["waiting 0", "waiting 1"]
