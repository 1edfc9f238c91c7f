"""The bounded push queue over HTTP: dead-letter after the retry window, listing, replay, drop, back-off."""

from __future__ import annotations

import asyncio

DAY = 86_400.0


async def until(predicate, timeout: float = 5.0) -> None:
    """Wait for a push attempt to finish crossing a real socket (not for virtual time: that is advanced)."""

    async def loop() -> None:
        while not predicate():
            await asyncio.sleep(0.002)

    await asyncio.wait_for(loop(), timeout)


def state_of(dev, url: str):
    return next((d for d in dev.gw.outbox.destinations() if d.url == url), None)


async def fail_until_dead(dev, url: str, step: float = 3600.0, limit: int = 200) -> int:
    """Advance an hour at a time, each time letting the try that fell due fail; returns the hours spent."""
    for hours in range(limit):
        state = state_of(dev, url)
        if state is not None and state.dead:
            return hours
        tried = state.failed_attempts if state is not None else 0
        await dev.clock.advance(step)
        await until(lambda tried=tried: (s := state_of(dev, url)) is not None and (s.failed_attempts > tried or s.dead))
    raise AssertionError("the push never went dead")


async def test_a_push_to_a_failing_receiver_goes_dead_after_three_days_and_is_replayed(device_factory, receiver):
    dev = await device_factory(push_retry_cap=3600.0)
    await dev.settle()
    receiver.status = 503
    await dev.get("/goip_get_status.html", url=receiver.url, period=0)  # one dev-status push, at once
    await until(lambda: (s := state_of(dev, receiver.url)) is not None and s.failed_attempts == 1)
    listing = await dev.get("/ejoin/pushes")
    assert (listing["code"], listing["window"], listing["queued"], listing["dead"]) == (200, 3 * DAY, 1, 0)
    [dest] = listing["destinations"]
    assert dest["url"] == receiver.url and dest["last_error"] == "HTTP 503" and dest["attempts"] == 1
    assert 0 < dest["next_retry_in"] <= 1.0 and dest["oldest_age"] == 0

    hours = await fail_until_dead(dev, receiver.url)
    assert 72 <= hours <= 74  # retried for the whole window (3 days), then no longer
    listing = await dev.get("/ejoin/pushes")
    [dest] = listing["destinations"]
    assert (dest["queued"], dest["dead"], dest["next_retry_in"]) == (0, 1, None)
    assert dest["oldest_dead_age"] >= 3 * DAY and dest["last_error"] == "HTTP 503"
    metrics = await (await dev.client.get("/metrics", params={"username": "root", "password": "root"})).text()
    assert f'ejoin_push_dead{{destination="{receiver.url}"}} 1.0' in metrics
    assert f'ejoin_push_queued{{destination="{receiver.url}"}} 0.0' in metrics
    attempts = receiver.attempts
    await dev.clock.advance(DAY)
    assert receiver.attempts == attempts  # a dead push is not tried again by itself

    receiver.status = 200
    answer = await dev.post("/ejoin/pushes/retry", {"url": receiver.url})
    assert answer == {"code": 200, "reason": "OK", "count": 1, "destinations": {receiver.url: 1}}
    await receiver.wait_count(1, "dev-status")
    await until(lambda: state_of(dev, receiver.url) is None)
    assert await dev.get("/ejoin/pushes") == {
        "code": 200,
        "reason": "OK",
        "window": 3 * DAY,
        "queued": 0,
        "dead": 0,
        "destinations": [],
    }


async def test_the_window_is_a_setting_and_dead_pushes_survive_a_restart(device_factory, receiver, tmp_path):
    dev = await device_factory(push_retry_cap=600.0, push_retry_window=3600.0)
    await dev.settle()
    receiver.status = 500
    await dev.get("/goip_get_status.html", url=receiver.url, period=0)
    hours = await fail_until_dead(dev, receiver.url, step=600.0)
    assert hours * 600 <= 3600 + 1200
    await dev.gw.stop()

    again = await device_factory(path=tmp_path, push_retry_cap=600.0, push_retry_window=3600.0)
    listing = await again.get("/ejoin/pushes")  # (the restart's own port-status pushes are waiting)
    assert [(d["url"], d["dead"]) for d in listing["destinations"]] == [(receiver.url, 1)]


async def test_drop_deletes_dead_pushes_and_with_queued_the_waiting_ones(device_factory, receiver):
    dev = await device_factory(push_retry_cap=3600.0, push_retry_window=7200.0)
    await dev.settle()
    receiver.status = 500
    await dev.get("/goip_get_status.html", url=receiver.url, period=0)
    await fail_until_dead(dev, receiver.url)
    await dev.get("/goip_get_status.html", url=receiver.url, period=0)  # a new one, still waiting
    await until(lambda: state_of(dev, receiver.url).queued == 1)
    answer = await dev.post("/ejoin/pushes/drop", params={"url": receiver.url})
    assert (answer["count"], answer["destinations"]) == (1, {receiver.url: 1})
    assert (await dev.get("/ejoin/pushes"))["queued"] == 1
    answer = await dev.post("/ejoin/pushes/drop", {"all": 1, "queued": 1})
    assert answer["count"] == 1
    assert (await dev.get("/ejoin/pushes"))["destinations"] == []
    receiver.status = 200
    await dev.clock.advance(DAY)
    assert receiver.pushes == []  # dropped pushes are never sent


async def test_push_admin_needs_credentials_and_a_target(device):
    resp = await device.client.get("/ejoin/pushes")
    assert (await resp.json()) == {"code": 1, "reason": "Invalid User"}
    for body, params in (({}, {}), ({"url": "http://x/", "all": 1}, {}), ({}, {"all": "maybe"})):
        answer = await device.post("/ejoin/pushes/retry", body, params=params)
        assert answer["code"] == 400 and answer["reason"], answer
    assert (await device.post("/ejoin/pushes/retry", {"url": "http://nobody/"}))["count"] == 0
    resp = await device.client.get("/ejoin/pushes/drop", params={"username": "root", "password": "root", "all": "1"})
    assert resp.status == 405  # changes are POST only


async def test_a_refusing_destination_is_backed_off_and_does_not_delay_another(device_factory, receiver):
    dev = await device_factory(push_retry_cap=300.0)
    await dev.settle()
    refused = "http://127.0.0.1:1/push"  # nothing listens on port 1: connection refused at once
    await dev.get("/goip_get_status.html", url=refused, period=0)
    await until(lambda: (s := state_of(dev, refused)) is not None and s.failed_attempts == 1)
    for _ in range(60):  # an hour, a minute at a time, each time until the try due in it has failed
        await dev.clock.advance(60.0)
        await until(lambda: state_of(dev, refused).next_retry is not None)  # backing off again
    state = state_of(dev, refused)
    # 1, 2, 4 ... 256 s, then at most every 300 s (jittered down to half): far from one try a second
    assert 10 <= state.failed_attempts <= 9 + 3600 // 150 and "Connect" in state.last_error
    await dev.post("/goip_send_cmd.html", params={"op": "set"}, raw=f"sms_url={receiver.url}")
    await dev.get("/sim/inbound", port="1.01", sender="10086", text="meanwhile")
    await receiver.wait_count(1, "recv-sms")  # delivered at once, whatever the other destination does


async def test_forget_drops_later_pushes_but_never_a_configured_url(device, receiver):
    await device.cmd(op="set", sr_url=receiver.url)
    res = await device.post("/ejoin/pushes/drop", {"url": receiver.url, "forget": 1})
    assert res["code"] == 400 and "is the device's sr_url" in res["reason"]
    assert device.gw.outbox.forgotten == []
    res = await device.post("/ejoin/pushes/drop", {"all": 1, "forget": 1})
    assert res["code"] == 400 and "forget=1 names one destination" in res["reason"]
    res = await device.post("/ejoin/pushes/drop", params={"url": "http://cli.test/r", "forget": "1"})
    assert res == {"code": 200, "reason": "OK", "count": 0, "destinations": {}}
    assert device.gw.outbox.forgotten == ["http://cli.test/r"]
