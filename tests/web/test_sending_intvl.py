"""``intvl`` is the gap between two SMS of one task on one port: the port serves other tasks meanwhile.

Over HTTP on the virtual clock; a simulated SMS takes exactly 2 s here.
"""

from .test_sending import rows

SMS_TIME = 2


async def sent_at(device, receiver, tid, count, limit=120):
    """Advance one second at a time until ``count`` SMS of ``tid`` are reported; their send times."""
    for _ in range(limit):
        found = rows(receiver, tid, "sdr")
        if len(found) >= count:
            return [r[3] for r in found]
        await device.clock.advance(1)
    raise AssertionError(f"task {tid}: {rows(receiver, tid, 'sdr')}")


async def first_sms_of_a_slow_task(device, receiver, tid):
    await device.send_ok(
        {"tid": tid, "from": "1", "to": "11,12,13", "sms": "slow", "intvl": 60_000, "sdr": 1, "sr_cnt": 1},
        sr_url=receiver.url,
        sr_prd=1,
        sr_cnt=1,
    )
    start = device.clock.time()
    (first,) = await sent_at(device, receiver, tid, 1)
    assert first - start == SMS_TIME
    assert device.clock.time() - first <= 1  # reported at once (task sr_cnt 1): the test goes on from here
    return first


async def test_a_long_interval_task_leaves_the_port_to_the_next_task(device, receiver):
    t0 = await first_sms_of_a_slow_task(device, receiver, 1)
    quick = {"tid": 2, "from": "1", "to": "21,22", "sms": "quick", "sdr": 1}
    await device.send_ok(quick, sr_url=receiver.url, sr_prd=1)
    times = await sent_at(device, receiver, 2, 2)
    assert times[0] - t0 <= SMS_TIME + 1 and times[1] - times[0] == SMS_TIME
    # The slow task still keeps its own gap on that port.
    slow = await sent_at(device, receiver, 1, 2)
    assert slow[1] - slow[0] == 60 + SMS_TIME


async def test_a_paused_task_holds_nothing(device, receiver):
    t0 = await first_sms_of_a_slow_task(device, receiver, 3)
    assert await device.post("/goip_pause_sms.html", {"tids": [3]}) == {
        "code": 200,
        "reason": "OK",
        "results": [{"tid": 3, "status": "0 OK"}],
    }
    await device.send_ok({"tid": 4, "from": "1", "to": "41", "sms": "next", "sdr": 1}, sr_url=receiver.url, sr_prd=1)
    (t,) = await sent_at(device, receiver, 4, 1)
    assert t - t0 <= SMS_TIME + 1


async def test_a_removed_task_holds_nothing_and_group_sends_use_every_port(device, receiver):
    t0 = await first_sms_of_a_slow_task(device, receiver, 5)
    await device.post("/goip_remove_sms.html", {"tids": [5]})
    # The spec's group send: every listed port sends to every recipient.
    await device.send_ok(
        {"tid": 6, "from": "1,2", "to_all": 1, "to": "61", "sms": "group", "sdr": 1}, sr_url=receiver.url, sr_prd=1
    )
    await sent_at(device, receiver, 6, 2)
    sdr = rows(receiver, 6, "sdr")
    assert sorted(r[2] for r in sdr) == ["1.01", "2.01"]
    assert all(r[3] - t0 <= SMS_TIME + 1 for r in sdr)


async def test_tasks_ready_together_keep_submission_order(device, receiver):
    await device.send_ok(
        {"tid": 7, "from": "1", "to": "71,72", "sms": "a", "intvl": 1000, "sdr": 1},
        {"tid": 8, "from": "1", "to": "81,82", "sms": "b", "sdr": 1},
        sr_url=receiver.url,
        sr_prd=1,
    )
    await sent_at(device, receiver, 7, 2)
    await sent_at(device, receiver, 8, 2)
    order = sorted((r[3], r[1]) for tid in (7, 8) for r in rows(receiver, tid, "sdr"))
    # 71 first (older task); during 7's 1 s gap the port takes 81; then 7 is ready again and older: 72, then 82.
    assert [n for _, n in order] == ["71", "81", "72", "82"]
