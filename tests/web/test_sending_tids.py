"""pause/resume/remove and goip_get_tasks read ``tids`` wherever and however a client sends them."""

import pytest

from .test_sending import final, reports, run_until_reported

OK = "0 OK"


async def queued(device, *tids, receiver=None):
    await device.cmd(op="lock", ports="all")  # everything stays queued
    extra = {"sr_url": receiver.url, "sr_prd": 1} if receiver else {}
    await device.send_ok(*[{"tid": t, "from": "1", "to": "1,2", "sms": f"m{t}"} for t in tids], **extra)


async def states(device):
    return {t.tid: int(t.state) for t in device.gw.sending.open_tasks()}


@pytest.mark.parametrize(
    "params, body, raw",
    [
        ({"tids": "5002"}, None, b""),  # in the query
        ({"tids": "5002,5003"}, None, b""),
        ({}, {"tids": "5002,5003"}, None),  # a string, the tables' type
        ({}, {"tids": 5002}, None),  # one id
        ({}, {"tids": ["5002", 5003]}, None),
        ({}, None, b"tids=5002%2C5003"),  # a form body
    ],
)
async def test_tids_from_query_or_body_in_any_form(device, params, body, raw):
    await queued(device, 5002, 5003, 5004)
    res = await device.post("/goip_pause_sms.html", body, params=params, raw=raw)
    assert res["code"] == 200 and all(r["status"] == OK for r in res["results"])
    paused = {r["tid"] for r in res["results"]}
    assert {str(t) for t in paused} <= {"5002", "5003"}
    assert (await states(device))[5004] == 0  # never "every task"


async def test_a_body_without_tids_is_refused_not_taken_for_every_task(device):
    await queued(device, 9501, 9502)
    for op in ("pause", "remove", "resume"):
        res = await device.post(f"/goip_{op}_sms.html", {"tid": [9501]})
        assert res["code"] == 400 and "names no tids" in res["reason"] and "tid" in res["reason"]
    assert device.gw.sending.task_count() == 2
    assert await device.post("/goip_pause_sms.html", {}) == {"code": 200, "reason": "OK"}  # {}: every task
    assert set((await states(device)).values()) == {1}


async def test_remove_by_query_string(device, receiver):
    await queued(device, 7001, 7002, receiver=receiver)
    res = await device.post("/goip_remove_sms.html", params={"tids": "7001"}, raw=b"")
    assert res["results"] == [{"tid": "7001", "status": OK}]
    assert device.gw.sending.task_count() == 1


async def test_get_tasks_filters_by_tids(device):
    await queued(device, 11, 12, 13)
    page = await device.get("/goip_get_tasks.html", port=1, pos=0, tids="11,13")
    assert page["total_num"] == 2 and [t["tid"] for t in page["tasks"]] == [11, 13]
    page = await device.post("/goip_get_tasks.html", {"tids": [12]}, params={"port": "1", "pos": "0"})
    assert [t["tid"] for t in page["tasks"]] == [12]


async def test_removed_task_reports_its_never_sent_recipients_as_failed(device, receiver):
    await device.cmd(op="lock", ports="all")
    await device.send_ok(
        {"tid": 21, "from": "1", "to": "1001,1002,1003", "sms": "x"},  # fdr on by default
        {"tid": 22, "from": "1", "to": "2001", "sms": "x", "fdr": 0},
        sr_url=receiver.url,
        sr_prd=1,
    )
    await device.post("/goip_remove_sms.html", {"tids": [21, 22]})
    await device.clock.advance(2)
    await receiver.wait_for(lambda r: {21, 22} <= {x["tid"] for x in reports(r)})
    a = final(receiver, 21)
    assert a["failed"] == 3 and a["unsent"] == 0
    assert [(r[1], r[4]) for r in a["fdr"]] == [("1001", "8 Removed"), ("1002", "8 Removed"), ("1003", "8 Removed")]
    b = final(receiver, 22)
    assert b["failed"] == 1 and "fdr" not in b


async def test_get_tasks_with_closed_also_names_tasks_the_device_finished_or_removed(device, receiver):
    """Ours: whoever lost the answer to a post (a crash) learns the device had that tid and closed it."""
    await device.cmd(op="lock", ports="2")
    await device.send_ok(
        {"tid": 31, "from": "1", "to": "1001,1002", "sms": "x"},
        {"tid": 32, "from": "2", "to": "2001", "sms": "x"},  # port 2 locked: it stays queued
        {"tid": 33, "from": "2", "to": "3001", "sms": "x"},
        sr_url=receiver.url,
    )
    await device.post("/goip_remove_sms.html", {"tids": [33]})
    await run_until_reported(device, receiver, 31, 2)
    q = {"pos": "0", "tids": "31,32,33,34", "closed": "1"}
    one = await device.get("/goip_get_tasks.html", port=1, **q)
    assert [(t["tid"], t["state"], t["to"]) for t in one["tasks"]] == [(31, 2, "1001,1002")]
    two = await device.get("/goip_get_tasks.html", port=2, **q)
    assert [(t["tid"], t["state"]) for t in two["tasks"]] == [(32, 0), (33, 2)]  # waiting first
    assert two["total_num"] == 2
    paged = await device.get("/goip_get_tasks.html", port=2, **{**q, "pos": "1", "num": "1"})
    assert [t["tid"] for t in paged["tasks"]] == [33] and paged["total_num"] == 2
    # without closed=1 (a platform, or the spec): only what waits, as before
    plain = await device.get("/goip_get_tasks.html", port=1, pos=0, tids="31")
    assert plain["tasks"] == [] and plain["total_num"] == 0


async def test_a_tid_that_is_no_scalar_is_echoed_as_null(device):
    await queued(device, 5009)
    nested = [[[[5009]]]]
    res = await device.post("/goip_pause_sms.html", {"tids": [nested, 5009, "x"]})
    assert [(r["tid"], r["status"]) for r in res["results"]] == [
        (None, "11 TID Expected"),
        (5009, OK),
        ("x", "11 TID Expected"),
    ]
