"""A port whose module fails its sends in a row pauses, so that one bad module costs a task a few SMS,
not most of it; a refused recipient is not the module's fault."""

from __future__ import annotations

import logging

from ejoin.gateway.runtime import Gateway
from ejoin.gateway.sending.backoff import CAP, PortBackoff
from ejoin.modems.base import SendResult

from ...conftest import AUTH, make_config, use_driver
from .test_engine import ScriptedModems, accept


class OneBadModule(ScriptedModems):
    """Every port takes ``delay`` per SMS, but port ``bad`` fails each at once while ``failing`` (a network
    out of order); numbers starting 999 are refused by the network whatever the port."""

    def __init__(self, clock, delay: float, bad: int) -> None:
        super().__init__(clock, delay)
        self.bad = bad
        self.failing = False
        self.failed_at: list[float] = []  # when the bad module failed one

    async def send_sms(self, port, slot, number, text, smsc, report=False):
        if port == self.bad and self.failing:
            self.failed_at.append(self.clock.time())
            return SendResult(False, "38 Network out of order")
        if number.startswith("999"):
            self.sent.append((self.clock.time(), port, number))
            return SendResult(False, "1 Unassigned number", recipient_refused=True)
        return await super().send_sms(port, slot, number, text, smsc, report)


def test_the_pause_grows_from_the_second_failure_in_a_row_and_a_sent_sms_ends_it():
    b = PortBackoff()
    assert b.failed(0.0, "38") is None and not b.paused(0.0)
    assert [b.failed(0.0, "38") for _ in range(9)] == [1, 2, 4, 8, 16, 32, CAP, CAP, CAP]
    assert b.paused(59.0) and b.view(0.0).failures == 10
    assert b.sent() == 10 and not b.paused(0.0) and b.failures == 0


async def test_one_bad_module_among_eight_costs_a_task_a_few_sms(tmp_path, clock, caplog):
    driver = OneBadModule(clock, delay=0.1, bad=3)  # healthy ports: 10 SMS a second each
    gw = Gateway(make_config(tmp_path, ports=8, slots=1), clock=clock, driver=driver)
    await gw.start()
    clock.add_quiescer(gw.store.quiesce)
    await clock.advance(1)
    driver.failing = True
    clock.call_later(3.0, lambda: setattr(driver, "failing", False))  # +CMS 38 for 3 s
    with caplog.at_level(logging.INFO, logger="ejoin.gateway.sending"):
        await accept(gw, {"tid": 1, "to": ",".join(f"1390000{i:04d}" for i in range(1000)), "sms": "x", "fdr": 1})
        await clock.advance(1.5)
        pause = gw.sending.pauses()[3]
        assert pause.failures >= 2 and pause.left > 0 and pause.reason == "38 Network out of order"
        for _ in range(30):
            await clock.advance(1)
    assert gw.sending.task(1) is None  # done
    failed = len(driver.failed_at)
    assert 2 <= failed <= 5, driver.failed_at  # not ~125 (its share), let alone most of the task
    # never faster than sending: after the first two, at most one failure per second
    assert all(b - a >= 1.0 for a, b in zip(driver.failed_at[1:], driver.failed_at[2:], strict=False))
    assert sum(1 for _, port, _ in driver.sent if port == 3) > 0  # back at work once the network was
    assert 3 not in gw.sending.pauses()
    said = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("3.01: 2 sends failed in a row (38 Network out of order)") for m in said)
    assert any(m.startswith("3.01 sends again after") for m in said)
    await gw.stop()


async def test_refused_recipients_are_not_the_modules_fault(tmp_path, clock):
    driver = OneBadModule(clock, delay=0.1, bad=0)
    gw = Gateway(make_config(tmp_path, ports=1, slots=1), clock=clock, driver=driver)
    await gw.start()
    clock.add_quiescer(gw.store.quiesce)
    await clock.advance(1)
    numbers = [f"999000{i:02d}" for i in range(20)] + [f"1390000{i:04d}" for i in range(5)]
    await accept(gw, {"tid": 2, "to": ",".join(numbers), "sms": "x"})
    await clock.advance(0.55)  # 20 refused at once, 5 sent at 0.1 s each: no pause in between
    assert gw.sending.task(2) is None and gw.sending.pauses() == {}
    await gw.stop()


async def test_status_and_metrics_say_a_port_pauses(monkeypatch, clock, device_factory):
    driver = use_driver(monkeypatch, "badmodule", OneBadModule(clock, delay=0.1, bad=2))
    dev = await device_factory(modems="badmodule", ports=2, slots=1)
    await dev.settle()
    driver.failing = True
    await dev.send_ok({"tid": 3, "from": "2", "to": "13900000001,13900000002,13900000003", "sms": "x"})
    await dev.clock.advance(0.5)
    health = await dev.client.get("/healthz")
    body = await health.json()
    assert health.status == 503
    assert body["problems"] == [
        "port 2: 2 sends failed in a row (38 Network out of order); it takes no SMS for another 0.5 s, "
        "the other ports send meanwhile"
    ]
    text = await (await dev.client.get("/metrics", params=AUTH)).text()
    assert 'ejoin_port_send_failures_in_a_row{port="2"} 2.0' in text
    assert 'ejoin_port_send_failures_in_a_row{port="1"} 0.0' in text
    assert 'ejoin_port_send_paused_seconds{port="2"} 0.5' in text


async def test_over_at_a_module_answering_cms_38_for_3_s_costs_a_few_sms(device_factory, receiver):
    """The issue's case on emulated modules, through the AT driver: +CMS ERROR: 38 on one port of eight."""
    timing = {"card_detect": 0.0, "register_min": 0.0, "register_max": 0.0, "send_min": 0.1, "send_max": 0.1}
    dev = await device_factory(modems="emulated", ports=8, slots=1, timing=timing)
    await dev.until(lambda: all(p.active.state.can_send for p in dev.gw.device.ports), 30, "every port registered")
    await dev.get("/sim/fault", port="3", fault="cms", value="38")
    dev.clock.call_later(3.0, lambda: dev.gw.modems.modem(3).faults.set("cms", "off"))
    n = 160
    to = ",".join(f"1390000{i:04d}" for i in range(n))
    await dev.send_ok({"tid": 4, "to": to, "sms": "x", "fdr": 1}, sr_url=receiver.url, sr_prd=1)
    await dev.until(lambda: dev.gw.sending.task(4) is None, 60, "the task done", step=0.5)
    await dev.clock.advance(2)  # the last report leaves its cache (sr_prd 1)
    await receiver.wait_for(
        lambda r: any(x["sent"] + x["failed"] == n for p in r.of_type("status-report") for x in p["rpts"])
    )
    final = [x for p in receiver.of_type("status-report") for x in p["rpts"] if x["sent"] + x["failed"] == n][-1]
    assert final["failed"] <= 5, final  # port 3 alone would have failed its whole share, or most of the task
