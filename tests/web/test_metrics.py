"""GET /metrics: Prometheus text, read from memory, bounded labels, behind the device credentials."""

import base64

from prometheus_client.parser import text_string_to_metric_families

from ejoin.web.connections import GUARD

from ..conftest import AUTH

BASIC = {"Authorization": "Basic " + base64.b64encode(b"root:root").decode()}


async def scrape(dev) -> dict[tuple[str, tuple], float]:
    resp = await dev.client.get("/metrics", headers=BASIC)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("text/plain; version=")
    out = {}
    for family in text_string_to_metric_families(await resp.text()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_counters_move_during_a_send_and_labels_stay_bounded(device_factory, receiver):
    dev = await device_factory(timing={"card_detect": 1, "register_min": 2, "register_max": 4, "delivery": 3})
    await dev.settle()
    await dev.cmd(op="set", sms_url=receiver.url)
    before = await scrape(dev)
    assert value(before, "ejoin_sms_sent_total", port="1") == 0
    assert value(before, "ejoin_port_state", port="1") == 3  # registered
    # 6 recipients on port 1 (one fails: 997 numbers are not delivered), 2 s per SMS
    numbers = [f"1390000000{i}" for i in range(5)] + ["9970001"]
    await dev.send_ok({"tid": 77, "from": "1", "to": ",".join(numbers), "sms": "secret text", "dr": 1})
    await dev.clock.advance(0.5)
    during = await scrape(dev)
    assert value(during, "ejoin_tasks_open") == 1
    assert value(during, "ejoin_queue_unsent") == 5  # one is in the module
    assert value(during, "ejoin_sms_in_module") == 1
    await dev.clock.advance(4.0)
    middle = await scrape(dev)
    assert 1 <= value(middle, "ejoin_sms_sent_total", port="1") < 6
    assert value(middle, "ejoin_queue_oldest_seconds") >= 4.0
    for _ in range(10):
        await dev.clock.advance(2.0)
    await receiver.wait_count(6, "recv-sms")
    after = await scrape(dev)
    assert value(after, "ejoin_sms_sent_total", port="1") == 6
    assert value(after, "ejoin_sms_failed_total", port="1") == 0
    assert value(after, "ejoin_delivery_reports_total", outcome="delivered") == 5
    assert value(after, "ejoin_delivery_reports_total", outcome="failed") == 1
    assert value(after, "ejoin_tasks_open") == 0
    assert value(after, "ejoin_queue_unsent") == 0
    assert value(after, "ejoin_push_delivered_total", destination=receiver.url) >= 1
    assert value(after, "ejoin_http_requests_total", route="/goip_post_sms.html", method="POST", status="200") == 1
    # bounded: no label carries a tid, a number or the text; series count does not grow with traffic
    text = await (await dev.client.get("/metrics", headers=BASIC)).text()
    for leak in ["77", *numbers, "secret"]:
        assert f'"{leak}"' not in text
    assert "13900000000" not in text
    keys_before = {k for k in before if not k[0].startswith("ejoin_http") and not k[0].startswith("ejoin_push")}
    keys_after = {k for k in after if not k[0].startswith("ejoin_http") and not k[0].startswith("ejoin_push")}
    assert keys_after == keys_before


async def test_received_sms_are_counted_per_port(device):
    for _ in range(3):
        res = await device.get("/sim/inbound", port="2", sender="10086", text="hi")
        assert res["code"] == 0
    await device.clock.advance(1)
    samples = await scrape(device)
    assert value(samples, "ejoin_sms_received_total", port="2") == 3
    assert value(samples, "ejoin_sms_received_total", port="1") == 0


async def test_every_slot_has_its_state_and_the_build_is_named(device):
    await device.cmd({"type": "command", "op": "lock", "ports": "3.02"})
    samples = await scrape(device)
    slots = [k for k in samples if k[0] == "ejoin_slot_state"]
    assert len(slots) == 4 * 4
    assert value(samples, "ejoin_slot_locked", port="3", slot="2") == 1
    assert value(samples, "ejoin_slot_locked", port="3", slot="1") == 0
    info = [k for k in samples if k[0] == "ejoin_build_info"]
    assert len(info) == 1 and ("driver", "simulated") in info[0][1]


async def test_metrics_need_the_device_credentials(device):
    resp = await device.client.get("/metrics")
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"].startswith("Basic")
    bad = {"Authorization": "Basic " + base64.b64encode(b"root:wrong").decode()}
    assert (await device.client.get("/metrics", headers=bad)).status == 401
    assert (await device.client.get("/metrics", headers={"Authorization": "Basic %%%"})).status == 401
    resp = await device.client.get("/metrics", params=AUTH)
    assert resp.status == 200
    assert "ejoin_port_signal" in await resp.text()


async def test_unknown_paths_share_one_label(device):
    for n in range(5):
        await device.client.get(f"/no/such/{n}")
    for verb in ("PROPFIND", "PROPFIND"):  # a WebDAV method the parser knows: labelled "other"
        await device.client.request(verb, "/goip_get_status.html")
    samples = await scrape(device)
    assert value(samples, "ejoin_http_requests_total", route="unmatched", method="other", status="405") == 2
    assert {dict(k[1]).get("method") for k in samples if k[0] == "ejoin_http_requests_total"} <= {"GET", "other"}
    assert value(samples, "ejoin_http_requests_total", route="unmatched", method="GET", status="404") == 5
    assert not any("/no/such" in str(k) for k in samples)


async def test_a_failing_counter_never_costs_a_push_or_an_sms(device, receiver, monkeypatch):
    failed = []

    def broken(*_):
        failed.append(1)
        raise RuntimeError("counter bug")

    device.gw.inbox.observers[:] = [broken]
    for event in ("task_opened", "job_done"):  # what the task reports tell the activity counters
        monkeypatch.setattr(device.gw.activity, event, broken)
    await device.cmd(op="set", sms_url=receiver.url, sr_url=receiver.url)
    assert (await device.get("/sim/inbound", port="1", sender="10086", text="still pushed"))["code"] == 0
    await device.send_ok({"tid": 3, "from": "2", "to": "13900000001", "sms": "still sent"})
    await device.clock.advance(40)  # the send (2 s) and the report cache's period (sr_prd 30 s)
    await receiver.wait_count(1, "recv-sms")
    await receiver.wait_for(lambda r: any(rep["sent"] == 1 for p in r.of_type("status-report") for rep in p["rpts"]))
    assert len(failed) >= 3  # the inbox's, the task's opening and its SMS's counters all failed


async def test_temporary_push_urls_cannot_take_the_label_of_a_configured_one(device, receiver):
    gw = device.gw
    gone = [f"http://127.0.0.1:9/ejoin-cli-{i}" for i in range(34)]  # 34 `ejoin send` runs, killed
    for url in gone:
        gw.outbox.push(url, "status-report", b"{}")
    await device.until(lambda: sum(d.attempts for d in gw.activity.destinations.values()) >= 34, step=0.1)
    await device.cmd(op="set", sms_url=receiver.url)  # the platform's URL, configured after them
    await device.get("/sim/inbound", port="2", sender="10086", text="hi")
    await receiver.wait_count(1, "recv-sms")
    samples = await scrape(device)
    assert value(samples, "ejoin_push_delivered_total", destination=receiver.url) == 1  # its own label
    assert value(samples, "ejoin_push_attempts_total", destination="other") >= 2  # the 33rd and 34th
    assert value(samples, "ejoin_push_attempts_total", destination=gone[0]) >= 1
    # ejoin send's cleanup (drop with forget) gives the name back: a later temporary URL has one
    assert (await device.post("/ejoin/pushes/drop", {"url": gone[0], "forget": 1}))["count"] == 1
    await device.until(lambda: gone[0] not in [d.url for d in gw.outbox.destinations()], step=0.1)
    samples = await scrape(device)
    assert not [k for k in samples if dict(k[1]).get("destination") == gone[0]]
    gw.outbox.push("http://127.0.0.1:9/ejoin-cli-new", "status-report", b"{}")
    await device.until(lambda: "http://127.0.0.1:9/ejoin-cli-new" in gw.activity.destinations, step=0.1)


async def test_what_runs_around_every_request_counts_what_was_answered(device, caplog):
    """web/layers.py: a cross-site refusal, an unexpected failure answered in JSON and a redirect are
    counted with the status their answer had; the connection guard saw each handler end."""
    await device.client.get("/goip_get_status.html", params=AUTH, headers={"Sec-Fetch-Site": "cross-site"})
    await device.client.get("/dashboard/ports", allow_redirects=False)  # no session: 303

    guard = device.client.app[GUARD]
    seen = []

    async def broken(request):
        seen.append(guard._live[request.transport].in_handler)  # the guard knows a handler runs
        raise RuntimeError("a bug")

    device.client.app.router._frozen = False  # a route the test adds to the running app
    device.client.app.router.add_get("/broken-for-the-test", broken)
    device.client.app.router._frozen = True
    resp = await device.client.get("/broken-for-the-test")
    assert resp.status == 500 and (await resp.json())["reason"].startswith("internal error")
    samples = await scrape(device)
    assert value(samples, "ejoin_http_requests_total", route="/goip_get_status.html", method="GET", status="403") == 1
    assert value(samples, "ejoin_http_requests_total", route="/dashboard/ports", method="GET", status="303") == 1
    assert value(samples, "ejoin_http_requests_total", route="/broken-for-the-test", method="GET", status="500") == 1
    assert "unexpected failure on /broken-for-the-test" in caplog.text
    assert seen == [1] and all(conn.in_handler == 0 for conn in guard._live.values())
