"""The push receiver, fed the shapes real devices send (and our gateway's own pushes)."""

from __future__ import annotations

import base64
import json
import sqlite3
import time

import pytest

from ejoin.client.receiver import RECEIVER, SCHEMA, create_receiver_app
from ejoin.protocol import crypt
from ejoin.protocol.mms import MmsMessage, MmsPart, build_mms_push


@pytest.fixture
async def rx(aiohttp_client, tmp_path):
    got: dict[str, list] = {k: [] for k in ("dev", "port", "report", "sms", "mms")}
    app = create_receiver_app(
        str(tmp_path / "rx.sqlite3"),
        on_dev_status=got["dev"].append,
        on_port_status=got["port"].append,
        on_report=got["report"].append,
        on_sms=got["sms"].append,
        on_mms=got["mms"].append,
    )
    client = await aiohttp_client(app)
    client.got = got
    client.receiver = app[RECEIVER]
    return client


async def push(rx, body, **headers):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    resp = await rx.post("/any/path", data=data, headers=headers)
    return resp.status, await resp.json()


async def test_dev_status_of_v240_and_of_older_firmware(rx):
    v240 = {
        "type": "dev-status",
        "seq": 3,
        "expires": 60,
        "mac": "00-30-f1-00-6c-55",
        "ip": "192.168.1.67",
        "ver": "532-604-924-041-100-000",
        "max-ports": 32,
        "max-slot": 4,
        "status": [
            {
                "port": "1.01",
                "sim": "",
                "seq": 8,
                "st": 3,
                "imei": "898610599441327",
                "iccid": "8986",
                "imsi": "4600",
                "sn": "",
                "opr": "46001 CHINA UNICOM GSM",
                "bal": "0.00",
                "sig": 15,
                "tot_dur": "0/-1",
                "mon_dur": "0/-1",
                "day_dur": "0/-1",
            }
        ],
    }
    older = {
        "type": "dev-status",
        "seq": 1,
        "expires": 180,
        "mac": "00-30-f1-01-02-03",
        "ip": "192.168.1.67",
        "max-ports": 32,
        "max-slots": "4",
        "status": [
            {"port": "1A", "st": "3 OK"},
            {"port": "2B", "st": "0"},
            {"port": "3C", "status": "6 Register failed"},
        ],
    }
    assert (await push(rx, v240))[0] == 200
    assert (await push(rx, older))[0] == 200
    a, b = rx.got["dev"]
    assert (a.max_slots, a.status[0].state, a.status[0].opr) == (4, 3, "46001 CHINA UNICOM GSM")
    assert (b.max_slots, b.status[0].state, b.status[1].state, b.status[0].port) == (4, 3, 0, "1A")
    assert (b.status[2].state, b.status[2].state_text) == (6, "6 Register failed")  # only the text form


async def test_port_status_sample_of_the_spec(rx):
    sample = {
        "type": "port-status",
        "port": "2B",
        "seq": 1,
        "status": "3 OK",
        "bal": "100.00",
        "opr": "46000 China Mobile",
        "sn": "139xxxxxxxx",
        "imei": "86xxxxxxxxxxxx",
        "imsi": "xxx",
        "iccid": "xxx",
    }
    ours = {**sample, "port": "2.02", "seq": 2, "st": 12, "status": "12 User locked"}
    await push(rx, sample)
    await push(rx, ours)
    assert [(p.port, p.state, p.balance) for p in rx.got["port"]] == [("2B", 3, 100.0), ("2.02", 12, 100.0)]
    assert rx.got["port"][1].state_text == "12 User locked"


async def test_status_report(rx):
    body = {
        "type": "status-report",
        "rpt_num": "1",
        "rpts": [
            {
                "tid": 1223,
                "sending": 0,
                "sent": 2,
                "failed": 1,
                "unsent": 0,
                "sdr": [[0, "13686876620", "1.01", 1767225602]],
                "fdr": [[1, "9991234", "2.01", 1767225602, "1 Send failed", "21 Short message transfer rejected"]],
            },
            {"tid": "77", "sending": "1", "sent": 0, "failed": 0, "unsent": 4},
        ],
    }
    await push(rx, body)
    r1, r2 = rx.got["report"]
    assert (r1.tid, r1.done, r1.fdr[0][5]) == (1223, 3, "21 Short message transfer rejected")
    assert (r2.tid, r2.sending, r2.unsent, r2.sdr) == ("77", 1, 4, [])


async def test_recv_sms_rows_of_six_and_nine_fields_and_delivery_reports(rx):
    text = base64.b64encode("你好".encode()).decode()
    body = {
        "type": "recv-sms",
        "sms_num": "3",
        "sms": [
            [0, "1.01", 1767225603, "10086", "13800000000", text],
            [0, "2B", 1767225604, "10010", "13800000001", text, 0, "", "extra"],
            [1, "1.01", 1767225605, "+10000000000", "13900000001", "0 26/01/01,00:00:07+00"],
            [0, "3.01", 1767225606, "10086", "1380", text, "2/3"],
        ],
    }
    assert (await push(rx, body))[0] == 200
    a, b, dr, part = rx.got["sms"]
    assert (a.text, a.port, a.sender, a.recipient, a.ts) == ("你好", "1.01", "10086", "13800000000", 1767225603)
    assert (b.text, b.port) == ("你好", "2B")
    assert dr.delivery.delivered and dr.delivery.scts == "26/01/01,00:00:07+00" and dr.text is None
    assert part.incomplete == "2/3"
    stored = await rx.receiver.store.messages()
    assert [m.text for m in stored] == ["你好", "你好", None, "你好"]


async def test_duplicate_pushes_are_acknowledged_once(rx):
    body = {"type": "recv-sms", "sms_num": 1, "sms": [[0, "1.01", 1, "1", "2", base64.b64encode(b"once").decode()]]}
    assert await push(rx, body) == (200, {"code": 0, "reason": "OK"})
    assert await push(rx, body) == (200, {"code": 0, "reason": "duplicate, already received"})
    assert len(rx.got["sms"]) == 1 and await rx.receiver.store.count("recv-sms") == 1


async def test_mms(rx):
    headers, body = build_mms_push(
        MmsMessage(
            "subject00",
            "+8613751064129",
            "8613580256847",
            (MmsPart("image/jpeg", "a.jpg", b"\xff\xd8"), MmsPart("text/plain; charset=UTF-8", "t.txt", b"content00")),
            0.0,
        )
    )
    status, _ = await push(rx, body, **headers)
    assert status == 200
    [mms] = rx.got["mms"]
    assert (mms.subject, mms.sender, mms.recipient) == ("subject00", "+8613751064129", "8613580256847")
    assert [(p.content_type, p.name, p.data) for p in mms.parts] == [
        ("image/jpeg", "a.jpg", b"\xff\xd8"),
        ("text/plain", "t.txt", b"content00"),
    ]


@pytest.mark.parametrize("body", [b"not json", b"[1]", json.dumps({"type": "recv-sms", "sms": [[0, "1.01"]]}).encode()])
async def test_unreadable_pushes_are_refused(rx, body):
    status, answer = await push(rx, body)
    assert status == 400 and answer["code"] == 400


async def test_refused_pushes_are_told_to_on_rejected(aiohttp_client, tmp_path):
    rejected = []
    app = create_receiver_app(str(tmp_path / "r.sqlite3"), secret="k3y", on_rejected=lambda *a: rejected.append(a))
    client = await aiohttp_client(app)
    assert (await client.post("/", data=b"{}")).status == 401
    now = int(time.time())
    signed = {"X-Ejoin-Timestamp": str(now), "X-Ejoin-Signature": crypt.sign_push("k3y", now, b"[1]")}
    assert (await client.post("/", data=b"[1]", headers=signed)).status == 400
    assert [reason for _, reason in rejected] == [
        "missing or wrong push signature",
        "not a push this receiver reads: a push is a JSON object",
    ]
    assert rejected[0][0] == "127.0.0.1"


async def test_signatures(aiohttp_client, tmp_path):
    got = []
    client = await aiohttp_client(create_receiver_app(str(tmp_path / "s.sqlite3"), secret="k3y", on_sms=got.append))
    body = json.dumps({"type": "recv-sms", "sms_num": 1, "sms": [[0, "1.01", 1, "1", "2", "eA=="]]}).encode()
    now = int(time.time())
    good = {"X-Ejoin-Timestamp": str(now), "X-Ejoin-Signature": crypt.sign_push("k3y", now, body)}
    assert (await client.post("/", data=body)).status == 401
    assert (await client.post("/", data=body, headers={**good, "X-Ejoin-Signature": "sha256=00"})).status == 401
    old = now - 3600
    stale = {"X-Ejoin-Timestamp": str(old), "X-Ejoin-Signature": crypt.sign_push("k3y", old, body)}
    assert (await client.post("/", data=body, headers=stale)).status == 401
    assert (await client.post("/", data=body, headers=good)).status == 200
    assert len(got) == 1


async def test_our_gateway_into_the_receiver(device, aiohttp_server, tmp_path):
    got = []
    # the device runs on a virtual clock (2026-01-01): accept its timestamps whatever their age
    app = create_receiver_app(
        str(tmp_path / "g.sqlite3"), secret="shared", max_age=10**10, on_sms=got.append, on_port_status=lambda p: None
    )
    server = await aiohttp_server(app)
    url = str(server.make_url("/ejoin"))
    await device.cmd(op="set", sms_url=url, push_secret="shared", status_url=url)
    await device.get("/sim/inbound", port="2.01", sender="+15550100", text="end to end")
    await device.cmd(op="lock", ports="1.01")
    receiver = app[RECEIVER]
    for _ in range(200):
        if got and await receiver.store.count("port-status"):
            break
        await device.clock.advance(1)  # virtual time: a push that failed once is retried
    assert [(m.port, m.sender, m.text) for m in got] == [("2.01", "+15550100", "end to end")]


async def test_a_store_of_a_receiver_from_before_schema_versions_keeps_its_pushes(aiohttp_client, tmp_path):
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)  # as receivers made it: the tables, no version
    old.executescript(SCHEMA.steps[0].sqlite or "")
    old.execute("INSERT INTO push(digest, kind, received, body) VALUES ('d0', 'recv-sms', 1.0, x'7b7d')")
    old.commit()
    old.close()
    app = create_receiver_app(str(path))
    client = await aiohttp_client(app)
    body = {"type": "recv-sms", "sms_num": 1, "sms": [[0, "1.01", 1700000000, "10086", "", "aGk="]]}
    resp = await client.post("/", data=json.dumps(body).encode())
    assert (await resp.json())["code"] == 0
    assert await app[RECEIVER].store.count() == 2  # the old push kept, the new one beside it
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA.version
