"""Delivery reports are kept once per report, whatever a module or a restart does to read one twice."""

from __future__ import annotations

import asyncio

from ejoin.gateway.runtime import Gateway

from ..conftest import make_config
from .sending.test_engine import ScriptedModems

SMSC = "+10000000000"


async def started(tmp_path, clock) -> Gateway:
    gw = Gateway(make_config(tmp_path, ports=2, slots=1), clock=clock, driver=ScriptedModems(clock))
    await gw.start()
    clock.add_quiescer(gw.store.quiesce)
    await clock.advance(1)
    return gw


async def reports(gw: Gateway) -> list[tuple[str, str, str]]:
    rows, _ = await gw.inbox.page(1, 0, False)
    return [(r.port, r.recipient, r.content) for r in rows if r.flag == 1]


async def test_a_report_read_twice_is_kept_once_by_what_it_is(tmp_path, clock):
    gw = await started(tmp_path, clock)
    events = gw.driver.events
    centre = clock.time() - 30  # when the service centre delivered it, as the report says
    events.delivery_report(1, 17, "+4477001", 0, clock.time(), SMSC, smsc_ts=centre)
    await clock.advance(5)
    events.delivery_report(1, 17, "+4477001", 0, clock.time(), SMSC, smsc_ts=centre)  # read again: a later ts
    await clock.advance(1)
    assert len(await reports(gw)) == 1
    # another reference, status, port or service centre time is another report
    events.delivery_report(1, 18, "+4477001", 0, clock.time(), SMSC, smsc_ts=centre)
    events.delivery_report(1, 17, "+4477001", 64, clock.time(), SMSC, smsc_ts=centre)
    events.delivery_report(2, 17, "+4477001", 0, clock.time(), SMSC, smsc_ts=centre)
    events.delivery_report(1, 17, "+4477001", 0, clock.time(), SMSC, smsc_ts=centre + 60)
    await clock.advance(1)
    stored = await reports(gw)
    assert len(stored) == 5
    assert stored[0] == ("1.01", "+4477001", "0 " + _scts(centre))  # its time is the service centre's
    await gw.stop()

    # a module read again after a restart (a crash between storing a report and deleting it there)
    gw2 = await started(tmp_path, clock)
    gw2.driver.events.delivery_report(1, 17, "+4477001", 0, clock.time(), SMSC, smsc_ts=centre)
    gw2.driver.events.delivery_report(1, 19, "+4477001", 0, clock.time(), SMSC, smsc_ts=centre + 120)
    await clock.advance(1)
    assert len(await reports(gw2)) == 6
    await gw2.stop()


def _scts(ts: float) -> str:
    from ejoin.gateway.receiving import scts

    return scts(ts)


async def test_a_report_read_again_after_the_line_dropped_before_deleting_it_is_kept_once(
    device_factory, receiver, monkeypatch
):
    """Over the AT driver: the module's line drops between AT+CMGR and AT+CMGD; when the module is back,
    its bring-up sweeps the storage and finds the report again."""
    dev = await device_factory(modems="emulated", ports=1, slots=1)
    await dev.settle()
    await dev.cmd(op="set", sms_url=receiver.url)
    net = dev.gw.modems
    modem = net.modem(1)
    real_delete = modem._c_CMGD
    drops = []

    async def drop_instead(op, arg):
        if not drops:  # the line drops instead: the report stays on the SIM
            drops.append(asyncio.ensure_future(net.replug(1)))
            return
        await real_delete(op, arg)

    monkeypatch.setattr(modem, "_c_CMGD", drop_instead)
    await dev.send_ok({"tid": 9, "from": "1", "to": "13900000001", "sms": "x", "dr": 1})
    await dev.until(lambda: drops and not modem.state.storage, 60, "the report read again and deleted")
    await dev.settle(2)
    rows, _ = await dev.gw.inbox.page(1, 0, False)
    assert [r.recipient for r in rows if r.flag == 1] == ["13900000001"]
    await receiver.wait_for(lambda r: sum(p["sms_num"] for p in r.of_type("recv-sms")) == 1)
