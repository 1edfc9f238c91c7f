"""goip_post_sms and the send engine, over real HTTP on a virtual clock.

Simulated send time is exactly 2 s per SMS here (conftest TEST_TIMING).
"""

import asyncio
import base64
import logging
import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from aiohttp import web

OKS = "0 OK"


def reports(receiver):
    """Every task report pushed so far, in order."""
    return [r for push in receiver.of_type("status-report") for r in push["rpts"]]


def final(receiver, tid):
    return [r for r in reports(receiver) if r["tid"] == tid][-1]


def rows(receiver, tid, kind):
    return [row for r in reports(receiver) if r["tid"] == tid for row in r.get(kind, [])]


async def run_until_reported(dev, receiver, tid, total, step=5.0, rounds=60):
    """Advance simulated time until the task's report says every SMS is done."""
    for _ in range(rounds):
        await dev.clock.advance(step)
        done = [r for r in reports(receiver) if r["tid"] == tid and r["sent"] + r["failed"] == total]
        if done and dev.gw.outbox.busy_destinations == 0:
            return
    raise AssertionError(f"task {tid} did not finish: {reports(receiver)}")


# --- acceptance -----------------------------------------------------------


@pytest.mark.also_emulated
async def test_spec_645_example(device):
    res = await device.send({"tid": 1223, "to": "13686876620", "sms": "hello123"})
    assert res == {"code": 200, "reason": "OK", "type": "task-status", "status": [{"tid": 1223, "status": OKS}]}


@pytest.mark.parametrize(
    "task, status",
    [
        ({"tid": 1, "to": "1", "sms": "x"}, "0 OK"),
        ({"tid": 1, "from": "9", "to": "1", "sms": "x"}, "2 Invalid Port"),
        ({"tid": 1, "from": "1-", "to": "1", "sms": "x"}, "2 Invalid Port"),
        ({"tid": 1, "to": "1"}, "8 SMS expected"),
        ({"tid": 1, "to": "1", "sms": ""}, "8 SMS expected"),
        ({"tid": 1, "to": "1", "sms": "@@", "chs": "base64"}, "8 SMS expected"),
        ({"tid": 1, "sms": "x"}, "9 TO expected"),
        ({"tid": 1, "to": " , ", "sms": "x"}, "9 TO expected"),
        ({"to": "1", "sms": "x"}, "11 TID Expected"),
        ({"tid": "abc", "to": "1", "sms": "x"}, "11 TID Expected"),
        ({"tid": 1, "to": "1", "sms": "x", "coding": 7}, "15 Invalid CMD"),
        ({"tid": 1, "to": "1", "sms": "x", "intvl": "soon"}, "15 Invalid CMD"),
        ({"tid": 1, "to": "1", "sms": "x", "smstype": 2}, "17 MMS Title expected"),
        (
            {"tid": 1, "to": "1", "sms": "x", "smstype": 1, "attachments": ";".join(["txt eA=="] * 6)},
            "18 Too Many MMS Attachments",
        ),
        ({"tid": 1, "to": "1", "smstype": 1}, "19 MMS Attachments expected"),
        ({"tid": 1, "to": "1", "sms": "x", "smstype": 1, "attachments": "exe eA=="}, "19 MMS Attachments expected"),
        ({"tid": 1, "to": "1", "sms": "x", "smstype": 1, "attachments": "jpg %%%"}, "19 MMS Attachments expected"),
        (
            {
                "tid": 1,
                "to": "1",
                "sms": "x",
                "smstype": 1,
                "attachments": "jpg " + base64.b64encode(b"\xff" * 102_401).decode(),
            },
            "20 MMS Attachments Cache size Overlimit",
        ),
    ],
)
async def test_each_task_gets_its_code(device, task, status):
    res = await device.send(task)
    assert res["status"][0]["status"] == status


async def test_a_bad_task_is_rejected_alone(device):
    res = await device.send(
        {"tid": 1, "to": "1", "sms": "a"},
        {"tid": 2, "from": "77", "to": "1", "sms": "b"},
        {"tid": "3", "to": "1", "sms": "c"},
        {"tid": 1, "to": "1", "sms": "dup in the same request"},
        "not an object",
    )
    assert [(s["tid"], s["status"]) for s in res["status"]] == [
        (1, OKS),
        (2, "2 Invalid Port"),
        ("3", OKS),
        (1, "13 Duplicated TaskId"),
        (None, "15 Invalid CMD"),
    ]
    assert device.gw.sending.task_count() == 2


async def test_numbers_as_strings_and_tid_echoed_in_its_type(device):
    res = await device.send(
        {"tid": "12", "to": 5551234, "sms": "x", "intvl": "500", "tmo": "10", "coding": "0"}, task_num="1"
    )
    assert res["status"] == [{"tid": "12", "status": OKS}]


async def test_duplicate_tid_while_open_then_free_again(device, receiver):
    await device.send_ok({"tid": 5, "to": "1,2,3", "sms": "x"}, sr_url=receiver.url, sr_prd=1)
    res = await device.send({"tid": 5, "to": "4", "sms": "y"})
    assert res["status"][0]["status"] == "13 Duplicated TaskId"
    await run_until_reported(device, receiver, 5, 3)
    await device.send_ok({"tid": 5, "to": "4", "sms": "y"})


async def test_wrong_credentials_answer_every_task(device):
    resp = await device.client.post(
        "/goip_post_sms.html",
        params={"username": "root", "password": "x"},
        data='{"type":"send-sms","tasks":[{"tid":1,"to":"1","sms":"a"},{"tid":"b"}]}',
    )
    assert await resp.json() == {
        "code": 200,
        "reason": "OK",
        "type": "task-status",
        "status": [{"tid": 1, "status": "1 Invalid User"}, {"tid": "b", "status": "1 Invalid User"}],
    }
    assert device.gw.sending.task_count() == 0


async def test_credentials_in_the_body(device):
    resp = await device.client.post(
        "/goip_post_sms.html",
        data='{"username":"root","password":"root","type":"send-sms","tasks":[{"tid":1,"to":"1","sms":"a"}]}',
    )
    assert (await resp.json())["status"] == [{"tid": 1, "status": OKS}]


async def test_queue_limit_gives_16(device_factory):
    dev = await device_factory(max_queued_tasks=2)
    res = await dev.send(*[{"tid": i, "to": "1", "sms": "x"} for i in range(3)])
    assert [s["status"] for s in res["status"]] == [OKS, OKS, "16 Too Many Task"]


async def test_other_message_type_is_invalid_cmd(device):
    res = await device.send({"tid": 1, "to": "1", "sms": "x"}, type="send-ussd")
    assert res["status"] == [{"tid": 1, "status": "15 Invalid CMD"}]


async def test_store_failure_is_server_error(device, monkeypatch):
    def broken(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(device.gw.store, "tasks_add", broken)
    res = await device.send({"tid": 1, "to": "1", "sms": "x"})
    assert res["status"] == [{"tid": 1, "status": "7 Server Error"}]


@pytest.mark.parametrize(
    "raw, fragment",
    [(b"nope", "not valid JSON"), (b'{"type":"send-sms"}', "tasks is missing"), (b'{"tasks": 5}', "does not fit")],
)
async def test_unreadable_requests(device, raw, fragment):
    resp = await device.client.post("/goip_post_sms.html", params={"username": "root", "password": "root"}, data=raw)
    assert resp.status == 400 and fragment in (await resp.json())["reason"]


# --- who sends what ---------------------------------------------------------


@pytest.mark.also_emulated
async def test_no_from_each_recipient_once_from_ports_the_device_picks(device, receiver):
    to = [f"1380000{i:04d}" for i in range(8)]
    await device.send_ok({"tid": 1, "to": ",".join(to), "sms": "x", "sdr": 1}, sr_url=receiver.url, sr_prd=1)
    await run_until_reported(device, receiver, 1, 8)
    sdr = rows(receiver, 1, "sdr")
    assert sorted(r[1] for r in sdr) == to and sorted(r[0] for r in sdr) == list(range(8))
    # four registered ports, one SMS at a time each: the work is spread over all of them
    assert {r[2] for r in sdr} == {"1.01", "2.01", "3.01", "4.01"}
    fin = final(receiver, 1)
    assert (fin["sending"], fin["sent"], fin["failed"], fin["unsent"], fin["fdr"]) == (0, 8, 0, 0, [])


@pytest.mark.also_emulated
async def test_from_with_to_all_every_port_sends_to_every_recipient(device, receiver):
    await device.send_ok(
        {"tid": 2, "from": "1,2", "to": "111,222,333", "sms": "x", "sdr": 1}, sr_url=receiver.url, sr_prd=1
    )
    await run_until_reported(device, receiver, 2, 6)
    sdr = rows(receiver, 2, "sdr")
    pairs = sorted((r[2], r[1]) for r in sdr)
    assert pairs == [(p, n) for p in ("1.01", "2.01") for n in ("111", "222", "333")]
    assert final(receiver, 2)["sent"] == 6


@pytest.mark.also_emulated
async def test_from_with_to_all_0_spreads_recipients_over_listed_ports(device, receiver):
    to = [str(100 + i) for i in range(6)]
    await device.send_ok(
        {"tid": 3, "from": "2-3", "to_all": 0, "to": ",".join(to), "sms": "x", "sdr": 1}, sr_url=receiver.url, sr_prd=1
    )
    await run_until_reported(device, receiver, 3, 6)
    sdr = rows(receiver, 3, "sdr")
    assert sorted(r[1] for r in sdr) == to
    assert {r[2] for r in sdr} == {"2.01", "3.01"}


@pytest.mark.also_emulated
async def test_from_a_slot_sends_only_while_that_slot_is_active(device, receiver):
    await device.send_ok({"tid": 4, "from": "1.02", "to": "5", "sms": "x", "sdr": 1}, sr_url=receiver.url, sr_prd=1)
    await device.clock.advance(30)
    assert rows(receiver, 4, "sdr") == [] and device.gw.sending.task_count() == 1
    await device.cmd(op="switch", ports="1.02")
    await run_until_reported(device, receiver, 4, 1)
    assert rows(receiver, 4, "sdr")[0][2] == "1.02"


@pytest.mark.also_emulated
async def test_one_sms_at_a_time_per_port_with_intvl(device, receiver):
    await device.send_ok(
        {"tid": 5, "from": "1", "to": "1,2,3", "sms": "x", "intvl": 5000, "sdr": 1}, sr_url=receiver.url, sr_prd=1
    )
    start = int(device.clock.time())
    await run_until_reported(device, receiver, 5, 3, step=1.0)
    times = [r[3] - start for r in rows(receiver, 5, "sdr")]
    # 2 s per SMS, then 5 s pause: done at 2, 9, 16
    assert times == [2, 9, 16]


@pytest.mark.also_emulated
async def test_locked_or_unregistered_ports_never_send(device, receiver):
    await device.cmd(op="lock", ports="1")
    await device.get("/sim/registration", port="2.01", outcome="fail")
    await device.cmd(op="reset", ports="2")
    await device.settle()
    await device.send_ok({"tid": 6, "from": "1,2", "to_all": 0, "to": "1,2", "sms": "x"}, sr_url=receiver.url, sr_prd=1)
    await device.clock.advance(60)
    assert all(r["sent"] == 0 for r in reports(receiver) if r["tid"] == 6)
    await device.cmd(op="unlock", ports="1")
    await run_until_reported(device, receiver, 6, 2)
    assert final(receiver, 6)["sent"] == 2


# --- outcomes ---------------------------------------------------------------


@pytest.mark.also_emulated
async def test_carrier_failure_timeout_and_success(device, receiver):
    await device.send_ok(
        {"tid": 7, "from": "1", "to": "13900000001,9990001,9980002", "sms": "x", "tmo": 20, "sdr": 1},
        sr_url=receiver.url,
        sr_prd=1,
    )
    start = int(device.clock.time())
    await run_until_reported(device, receiver, 7, 3, step=2.0)
    assert [r[1] for r in rows(receiver, 7, "sdr")] == ["13900000001"]
    fdr = rows(receiver, 7, "fdr")
    assert [(r[0], r[1], r[2], r[4], r[5]) for r in fdr] == [
        (1, "9990001", "1.01", "1 Send failed", "21 Short message transfer rejected"),
        (2, "9980002", "1.01", "6 Timeout", ""),
    ]
    assert fdr[1][3] - start == 2 + 2 + 20  # the never-answered one waited tmo
    assert final(receiver, 7) | {"sdr": None, "fdr": None} == {
        "tid": 7,
        "sending": 0,
        "sent": 1,
        "failed": 2,
        "unsent": 0,
        "sdr": None,
        "fdr": None,
    }


async def test_random_failures(device_factory, receiver):
    dev = await device_factory(send_failure_rate=0.5)
    await dev.settle()
    await dev.send_ok({"tid": 8, "to": ",".join(str(i) for i in range(40)), "sms": "x"}, sr_url=receiver.url, sr_prd=1)
    await run_until_reported(dev, receiver, 8, 40)
    fin = final(receiver, 8)
    assert 5 < fin["failed"] < 35 and fin["sent"] + fin["failed"] == 40
    assert all(r[5] == "38 Network out of order" for r in rows(receiver, 8, "fdr"))


@pytest.mark.skipif(
    os.environ.get("EJOIN_TEST_MODEMS") == "emulated", reason="prices and balances are the simulator's: AT has none"
)
async def test_price_takes_balance_per_part_until_it_runs_out(device_factory, receiver):
    dev = await device_factory(sim=[{"port": "1.01", "balance": 0.5, "price": 0.1}])
    await dev.settle()
    long_text = "a" * 200  # two parts
    await dev.send_ok({"tid": 9, "from": "1", "to": "1,2,3", "sms": long_text}, sr_url=receiver.url, sr_prd=1)
    await run_until_reported(dev, receiver, 9, 3)
    assert dev.slot("1.01").record.balance == pytest.approx(0.1)
    fin = final(receiver, 9)
    assert (fin["sent"], fin["failed"]) == (2, 1)
    assert rows(receiver, 9, "fdr")[0][4:] == ["5 No balance", "42 Insufficient balance"]
    assert int(dev.slot("1.01").state) == 5  # no balance: the port stops


@pytest.mark.also_emulated
async def test_base64_content_and_coding(device, receiver):
    text = "你好, world"
    await device.send_ok(
        {
            "tid": 11,
            "from": "1",
            "to": "1",
            "chs": "base64",
            "coding": 1,
            "sms": base64.b64encode(text.encode()).decode(),
        }
    )
    task = device.gw.sending.task(11)
    assert task.text.text == text and task.text.alphabet.value == "ucs2"


async def test_mms_tasks_are_accepted_and_sent(device, receiver):
    att = "txt " + base64.b64encode(b"hello").decode() + ";jpg " + base64.b64encode(b"\xff\xd8\xff").decode()
    await device.send_ok(
        {"tid": 12, "smstype": 1, "to": "1,2", "smstitle": "hi", "sms": "", "attachments": att, "sdr": 1},
        {"tid": 13, "smstype": 2, "to_title_array": [["21", "for 21"], ["22", "for 22"]], "sms": "body", "sdr": 1},
        sr_url=receiver.url,
        sr_prd=1,
    )
    assert device.gw.sending.task(13).spec.titles == ["for 21", "for 22"]
    await run_until_reported(device, receiver, 13, 2)
    assert sorted(r[1] for r in rows(receiver, 13, "sdr")) == ["21", "22"]


# --- reports ----------------------------------------------------------------


@pytest.mark.also_emulated
async def test_task_reports_every_sr_cnt_and_at_the_end(device, receiver):
    await device.send_ok(
        {"tid": 20, "from": "1", "to": "1,2,3,4,5", "sms": "x", "sr_cnt": 2, "sr_prd": 0, "sdr": 1},
        sr_url=receiver.url,
        sr_cnt=1,
        sr_prd=300,
    )
    await run_until_reported(device, receiver, 20, 5)
    got = [
        (r["sending"], r["sent"], r["failed"], r["unsent"], [row[0] for row in r["sdr"]])
        for r in reports(receiver)
        if r["tid"] == 20
    ]
    # cumulative counts; sdr rows only since the previous report
    assert got == [(0, 2, 0, 3, [0, 1]), (0, 4, 0, 1, [2, 3]), (0, 5, 0, 0, [4])]
    assert all(p["rpt_num"] == 1 for p in receiver.of_type("status-report"))


async def test_periodic_task_report(device, receiver):
    await device.cmd(op="lock", ports="all")
    await device.send_ok({"tid": 21, "to": "1,2", "sms": "x", "sr_prd": 60}, sr_url=receiver.url, sr_prd=1)
    await device.clock.advance(61)
    await receiver.wait_count(1, "status-report")
    assert reports(receiver)[0] == {"tid": 21, "sending": 0, "sent": 0, "failed": 0, "unsent": 2, "fdr": []}
    await device.clock.advance(60)
    await receiver.wait_count(2, "status-report")


async def test_report_cache_flushes_by_count_or_by_time(device, receiver):
    tasks = [{"tid": 30 + i, "from": str(i % 4 + 1), "to": "1", "sms": "x"} for i in range(4)]
    await device.send_ok(*tasks, sr_url=receiver.url, sr_cnt=3, sr_prd=30)
    await device.clock.advance(3)  # all four finish at t=2
    await receiver.wait_count(1, "status-report")
    first = receiver.of_type("status-report")[0]
    assert first["rpt_num"] == 3 and len(first["rpts"]) == 3
    await device.clock.advance(20)
    assert len(receiver.of_type("status-report")) == 1  # the fourth waits for sr_prd
    await device.clock.advance(10)
    await receiver.wait_count(2, "status-report")
    assert receiver.of_type("status-report")[1]["rpt_num"] == 1


@pytest.fixture
async def gated(aiohttp_server):
    """A report receiver that holds its first answer until ``release`` is set (a push on its way)."""

    class Gated:
        def __init__(self) -> None:
            self.url = ""
            self.bodies: list[dict] = []
            self.first = asyncio.Event()
            self.release = asyncio.Event()
            self.changed = asyncio.Event()

    gate = Gated()

    async def handle(request: web.Request) -> web.Response:
        body = await request.json()
        if not gate.first.is_set():
            gate.first.set()
            await gate.release.wait()
        gate.bodies.append(body)
        gate.changed.set()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/sr", handle)
    server = await aiohttp_server(app)
    gate.url = str(server.make_url("/sr"))
    return gate


async def _pushed(gate, reports: int) -> list[dict]:
    async def loop() -> None:
        while sum(b["rpt_num"] for b in gate.bodies) < reports:
            gate.changed.clear()
            await gate.changed.wait()

    await asyncio.wait_for(loop(), 5)
    return gate.bodies


@pytest.mark.parametrize(("sr_cnt", "pushes"), [(100, [1, 3]), (2, [1, 2, 1])])
async def test_sr_prd_0_reports_due_while_a_push_is_on_its_way_leave_together(device, gated, sr_cnt, pushes):
    # One task per port, all done at t=2: the first report leaves at once; those due while it is on its
    # way leave in the next push, at most the request's sr_cnt in one.
    tasks = [{"tid": 90 + i, "from": str(i + 1), "to": str(i), "sms": "x"} for i in range(4)]
    await device.send_ok(*tasks, sr_url=gated.url, sr_prd=0, sr_cnt=sr_cnt)
    await device.clock.advance(3)
    await asyncio.wait_for(gated.first.wait(), 5)
    gated.release.set()
    bodies = await _pushed(gated, 4)
    assert [b["rpt_num"] for b in bodies] == pushes
    assert all(b["rpt_num"] == len(b["rpts"]) for b in bodies)
    assert sorted(r["tid"] for b in bodies for r in b["rpts"]) == [90, 91, 92, 93]
    assert all(r["sent"] == 1 and r["unsent"] == 0 for b in bodies for r in b["rpts"])


async def test_sr_prd_0_a_report_leaves_at_once_when_nothing_is_on_its_way(device, receiver):
    await device.send_ok({"tid": 95, "from": "1", "to": "1,2", "sms": "x", "sr_cnt": 1}, sr_url=receiver.url, sr_prd=0)
    await device.clock.advance(2)  # the first SMS done: its report, alone
    await receiver.wait_count(1, "status-report")
    await device.clock.advance(2)  # the second, once the first push was delivered: alone too
    await receiver.wait_count(2, "status-report")
    assert [p["rpt_num"] for p in receiver.of_type("status-report")] == [1, 1]
    assert [(r["sent"], r["unsent"]) for r in reports(receiver)] == [(1, 1), (2, 0)]


async def test_sdr_off_and_fdr_off(device, receiver):
    await device.send_ok({"tid": 40, "from": "1", "to": "1,9991", "sms": "x", "fdr": 0}, sr_url=receiver.url, sr_prd=1)
    await run_until_reported(device, receiver, 40, 2)
    fin = final(receiver, 40)
    assert "sdr" not in fin and "fdr" not in fin and fin["failed"] == 1


async def test_device_sr_url_is_used_when_the_request_has_none(device, receiver):
    await device.cmd(op="set", sr_url=receiver.url)
    await device.send_ok({"tid": 41, "to": "1", "sms": "x"}, sr_prd=1)
    await run_until_reported(device, receiver, 41, 1)


# --- pause / resume / remove / query -------------------------------------------


async def test_pause_resume_remove_with_tids(device, receiver):
    await device.cmd(op="lock", ports="all")  # keep everything queued
    await device.send_ok(
        *[{"tid": t, "from": "1", "to": "1,2", "sms": f"m{t}"} for t in (2, 3, 4)], sr_url=receiver.url, sr_prd=1
    )
    res = await device.post("/goip_pause_sms.html", {"tids": [2, 3]})
    assert res == {"code": 200, "reason": "OK", "results": [{"tid": 2, "status": OKS}, {"tid": 3, "status": OKS}]}
    tasks = await device.get("/goip_get_tasks.html", port=1, pos=0, has_content=1)
    assert [(t["tid"], t["state"]) for t in tasks["tasks"]] == [(2, 1), (3, 1), (4, 0)]
    res = await device.post("/goip_resume_sms.html", {"tids": [2, 99]})
    assert res["results"] == [{"tid": 2, "status": OKS}, {"tid": 99, "status": "11 TID Expected"}]
    res = await device.post("/goip_remove_sms.html", {"tids": [3]})
    assert res["results"] == [{"tid": 3, "status": OKS}]
    await device.clock.advance(2)
    await receiver.wait_for(lambda r: any(x["tid"] == 3 for x in reports(r)))
    # Never sent, never will be: failed, listed with the reason (fdr is on by default).
    ts = int(device.clock.time()) - 2
    assert final(receiver, 3) == {
        "tid": 3,
        "sending": 0,
        "sent": 0,
        "failed": 2,
        "unsent": 0,
        "fdr": [[0, "1", "", ts, "8 Removed", ""], [1, "2", "", ts, "8 Removed", ""]],
    }
    await device.cmd(op="unlock", ports="all")
    await run_until_reported(device, receiver, 4, 2)
    assert final(receiver, 2)["sent"] == 2
    assert not any(r["tid"] == 3 and r["sent"] for r in reports(receiver))


async def test_too_many_tids_in_one_request_are_refused_whole(device_factory):
    dev = await device_factory(max_tasks_per_request=50)
    await dev.cmd(op="lock", ports="all")
    await dev.send_ok({"tid": 1, "to": "1", "sms": "a"})
    for op in ("pause", "resume", "remove"):
        res = await dev.post(f"/goip_{op}_sms.html", {"tids": list(range(51))})
        assert res["code"] == 400
        assert "51 tids" in res["reason"] and "at most 50" in res["reason"]
    assert dev.gw.sending.task_count() == 1  # nothing was removed
    res = await dev.post("/goip_remove_sms.html", {"tids": list(range(50))})
    assert len(res["results"]) == 50 and dev.gw.sending.task_count() == 0


async def test_pause_resume_remove_all_without_tids(device, receiver):
    await device.cmd(op="lock", ports="all")
    await device.send_ok({"tid": 1, "to": "1", "sms": "a"}, {"tid": 2, "to": "1", "sms": "b"})
    assert await device.post("/goip_pause_sms.html", raw=b"") == {"code": 200, "reason": "OK"}
    assert all(t.state == 1 for t in device.gw.sending.open_tasks())
    assert await device.post("/goip_resume_sms.html", raw=b"") == {"code": 200, "reason": "OK"}
    assert all(t.state == 0 for t in device.gw.sending.open_tasks())
    assert await device.post("/goip_remove_sms.html", raw=b"") == {"code": 200, "reason": "OK"}
    assert device.gw.sending.task_count() == 0


@pytest.mark.also_emulated
async def test_paused_task_sends_nothing_until_resumed(device, receiver):
    await device.cmd(op="lock", ports="all")
    await device.send_ok({"tid": 50, "to": "1,2", "sms": "x"}, sr_url=receiver.url, sr_prd=1)
    await device.post("/goip_pause_sms.html", {"tids": [50]})
    await device.cmd(op="unlock", ports="all")
    await device.clock.advance(120)
    assert all(r["sent"] == 0 for r in reports(receiver) if r["tid"] == 50)
    await device.post("/goip_resume_sms.html", {"tids": [50]})
    await run_until_reported(device, receiver, 50, 2)


async def test_get_tasks_paging_and_content(device):
    await device.cmd(op="lock", ports="all")
    await device.send_ok(
        *[{"tid": t, "from": "1" if t != 4 else "2", "to": f"13686876{t:03d}", "sms": "hello123"} for t in range(2, 8)]
    )
    res = await device.get("/goip_get_tasks.html", port=1, pos=0, has_content=1, version="1.1")
    assert res["code"] == 200 and res["total_num"] == 5 and res["task_num"] == 5
    assert res["tasks"][0] == {
        "tid": 2,
        "state": 0,
        "from": "1",
        "to": "13686876002",
        "chs": "utf8",
        "coding": 0,
        "sms": "hello123",
    }
    page = await device.get("/goip_get_tasks.html", port=1, pos=1, num=2)
    assert [t["tid"] for t in page["tasks"]] == [3, 5] and "sms" not in page["tasks"][0]
    assert page["total_num"] == 5 and page["task_num"] == 2
    assert [t["tid"] for t in (await device.get("/goip_get_tasks.html", port=2, pos=0))["tasks"]] == [4]


@pytest.mark.parametrize("params, code", [({"pos": 0}, 400), ({"port": 9, "pos": 0}, 2), ({"port": "x"}, 400)])
async def test_get_tasks_bad_parameters(device, params, code):
    resp = await device.client.get("/goip_get_tasks.html", params={"username": "root", "password": "root", **params})
    assert (await resp.json())["code"] == code


async def test_finished_tasks_are_pruned_after_the_retention(device_factory, receiver):
    dev = await device_factory(task_retention=1800)
    await dev.settle()
    await dev.send_ok({"tid": 60, "to": "1,2", "sms": "x"}, sr_url=receiver.url, sr_prd=1)
    await dev.cmd(op="lock", ports="all")
    await dev.send_ok({"tid": 61, "to": "3", "sms": "still queued"})
    await dev.clock.advance(10)
    await receiver.wait_for(lambda r: any(x["tid"] == 60 and x["sent"] == 2 for x in reports(r)))

    async def count(table):  # what is on disk, read as any SQLite reader would
        await dev.gw.store.quiesce()
        path = Path(dev.gw.config.data) / "ejoin.sqlite3"
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    assert (await count("task"), await count("job")) == (2, 2)
    await dev.clock.advance(1800)  # past the retention: the next prune removes task 60 only
    await dev.clock.advance(600)
    assert (await count("task"), await count("job"), await count("task_chunk")) == (1, 0, 1)


@pytest.mark.skipif(
    os.environ.get("EJOIN_TEST_MODEMS") == "emulated", reason="recipients a70.. are no phone numbers for a module"
)
async def test_a_resumed_task_keeps_its_place_in_line(device, receiver):
    await device.cmd(op="lock", ports="1")
    await device.send_ok(
        {"tid": 70, "from": "1", "to": "970", "sms": "x", "sdr": 1},
        {"tid": 71, "from": "1", "to": "971", "sms": "x", "sdr": 1},
        sr_url=receiver.url,
        sr_prd=1,
    )
    await device.post("/goip_pause_sms.html", {"tids": [70]})
    await device.send_ok({"tid": 72, "from": "1", "to": "972", "sms": "x", "sdr": 1}, sr_url=receiver.url, sr_prd=1)
    await device.post("/goip_resume_sms.html", {"tids": [70]})
    await device.cmd(op="unlock", ports="1")
    await run_until_reported(device, receiver, 72, 1)
    sent_at = {r["tid"]: rows(receiver, r["tid"], "sdr")[0][3] for r in reports(receiver) if r.get("sdr")}
    assert sent_at[70] < sent_at[71] < sent_at[72]  # submission order, the pause notwithstanding


@pytest.mark.also_emulated
async def test_a_failing_module_fails_the_sms_not_the_task(device, receiver, monkeypatch):
    real = device.gw.driver.send_sms
    calls = []

    async def flaky(port, slot, number, text, smsc, report=False):
        calls.append(number)
        if number == "666":
            raise OSError("serial port gone")
        return await real(port, slot, number, text, smsc, report)

    monkeypatch.setattr(device.gw.driver, "send_sms", flaky)
    await device.send_ok({"tid": 80, "from": "1", "to": "1,666,2", "sms": "x"}, sr_url=receiver.url, sr_prd=1)
    await run_until_reported(device, receiver, 80, 3)
    fin = final(receiver, 80)
    assert (fin["sent"], fin["failed"], fin["sending"]) == (2, 1, 0)
    assert rows(receiver, 80, "fdr")[0][4:] == ["1 Send failed", "module error: OSError"]


async def test_a_store_failure_before_sending_keeps_the_sms_queued(device, receiver, monkeypatch):
    real = device.gw.store.jobs_start
    failures = []

    def failing_once(jobs, finished=None):
        if not failures:
            failures.append(jobs[0].number)
            raise OSError("disk full")
        return real(jobs, finished)

    monkeypatch.setattr(device.gw.store, "jobs_start", failing_once)
    await device.send_ok({"tid": 81, "from": "1", "to": "11,12", "sms": "x", "sdr": 1}, sr_url=receiver.url, sr_prd=1)
    await run_until_reported(device, receiver, 81, 2)
    assert failures == ["11"]
    assert sorted(r[1] for r in rows(receiver, 81, "sdr")) == ["11", "12"]  # sent later, once


async def test_info_logs_say_what_the_device_does_without_texts(device, receiver, caplog):
    await device.cmd(op="set", sms_url=receiver.url)
    with caplog.at_level(logging.INFO, logger="ejoin"):
        await device.send_ok(
            {"tid": 61, "from": "1", "to": "13800000061,9990000", "sms": "secret words"}, sr_url=receiver.url, sr_prd=1
        )
        await device.get("/sim/inbound", port="2.01", sender="10086", text="private reply")
        await device.clock.advance(30)
        await receiver.wait_for(lambda r: any(x["tid"] == 61 and x["unsent"] == 0 for x in reports(r)))
    lines = [r.getMessage() for r in caplog.records]
    assert "task 61 accepted: 2 SMS to send" in lines
    assert any(m.startswith("1.01: SMS 1 of task 61 to 13800000061: sent") for m in lines), lines
    assert any(" of task 61 to 9990000: " in m and "sent" not in m.split(": ")[-1] for m in lines), lines
    assert any(m.startswith("2.01: SMS received from 10086") for m in lines)
    assert any("status-report push" in m and "delivered to" in m for m in lines)
    assert not any("secret" in m or "private" in m for m in lines)
