"""SMS of unknown outcome (interrupted by a restart, taken by a module that went away) that the network's
delivery report proves sent: their outcome, the task's reports and the statistics are corrected."""

from __future__ import annotations

import json

from ejoin.clock import VirtualClock
from ejoin.gateway.outbox import PushTransport
from ejoin.gateway.runtime import Gateway
from ejoin.modems.base import SendResult
from ejoin.protocol.messages import decode_lenient
from ejoin.protocol.sms import SendSmsRequest

from ...conftest import DiskFullStore, make_config
from .test_engine import ScriptedModems

URL = "http://platform.example/reports"


class Platform(PushTransport):
    """The platform's receiver: every status-report row it got, by recipient index, in order."""

    def __init__(self) -> None:
        self.reports: list[dict] = []

    async def post(self, url, body, headers):
        self.reports.extend(json.loads(body)["rpts"])
        return 200

    def outcomes(self) -> dict[int, str]:
        """Each recipient's outcome as the platform last heard it."""
        seen: dict[int, str] = {}
        for rpt in self.reports:
            for row in rpt.get("sdr", []):
                seen[row[0]] = "sent"
            for row in rpt.get("fdr", []):
                seen[row[0]] = row[4]
        return seen


class VanishingModems(ScriptedModems):
    """Numbers starting 7003 are taken by a module that then goes away without a word."""

    async def send_sms(self, port, slot, number, text, smsc, report=False):
        if number.startswith("7003"):
            self.sent.append((self.clock.time(), port, number))
            return SendResult(False, "the module went away after taking the SMS", unknown=True)
        return await super().send_sms(port, slot, number, text, smsc, report)


async def accept(gw: Gateway, *tasks: dict) -> None:
    """Posted with every report pushed at once to the platform."""
    body = {"type": "send-sms", "sr_url": URL, "sr_cnt": 1, "sr_prd": 0, "tasks": list(tasks)}
    results = await gw.sending.accept(decode_lenient(json.dumps(body).encode(), SendSmsRequest))
    assert [r[1].label for r in results] == ["0 OK"] * len(tasks)


async def started(config, clock, driver, platform, store=None) -> Gateway:
    gw = Gateway(config, clock=clock, driver=driver, transport=platform, store=store)
    await gw.start()
    clock.add_quiescer(gw.store.quiesce)
    await clock.advance(1)
    return gw


async def totals(gw: Gateway) -> tuple[int, int]:
    counts = await gw.store.sms_counts(None)
    return sum(c["sent_ok"] for c in counts.values()), sum(c["sent_failed"] for c in counts.values())


async def test_an_sms_interrupted_by_a_crash_is_corrected_by_its_delivery_report(tmp_path):
    clock, platform = VirtualClock(), Platform()
    config = make_config(tmp_path, ports=1, slots=1)
    store = DiskFullStore(tmp_path / "data" / "ejoin.sqlite3")
    gw = await started(config, clock, ScriptedModems(clock, delay=1.0), platform, store)
    task = {"tid": 5, "to": "4401,4402,4403", "sms": "x", "dr": 1, "sdr": 1, "fdr": 1, "sr_cnt": 1}
    await accept(gw, task)
    await clock.advance(1.5)  # 4401 sent; 4402 in the module when the process dies
    store.full = True  # killed: nothing from here on reaches the disk
    await clock.advance(1)  # (the module sent 4402 meanwhile: the network has it)
    await gw.stop()

    gw2 = await started(config, clock, ScriptedModems(clock), platform)
    await clock.advance(2)
    assert platform.outcomes() == {0: "sent", 1: "7 Interrupted by restart", 2: "sent"}
    assert await totals(gw2) == (2, 1)
    # the network's delivery report for 4402 (its reference was never seen) comes after the restart
    gw2.driver.events.delivery_report(1, 77, "+4402", 0, clock.time(), "+10000000000")
    await clock.advance(1)
    assert platform.outcomes() == {0: "sent", 1: "sent", 2: "sent"}
    last = platform.reports[-1]
    assert (last["sent"], last["failed"], last["unsent"], last["sending"]) == (3, 0, 0, 0)
    assert await totals(gw2) == (3, 0)  # the statistics moved it from failed to sent
    inbox, _ = await gw2.inbox.page(1, 0, False)
    assert [(r.port, r.recipient, r.content[:2]) for r in inbox] == [("1.01", "4402", "0 ")]  # as the task gave it
    assert gw2.activity.sms_confirmed == {1: 1}
    await gw2.stop()

    # and it stays corrected: a third start reports nothing again and finds nothing to correct
    platform.reports.clear()
    gw3 = await started(config, clock, ScriptedModems(clock), platform)
    await clock.advance(2)
    assert platform.reports == [] and await totals(gw3) == (3, 0)
    assert gw3.sending.confirm_sent(1, "4402") is None
    await gw3.stop()


async def test_an_sms_whose_module_vanished_is_corrected_in_its_open_task_part_by_part(tmp_path):
    clock, platform = VirtualClock(), Platform()
    gw = await started(make_config(tmp_path, ports=1, slots=1), clock, VanishingModems(clock, 1.0), platform)
    long = "y" * 200  # two parts: two reports, one stored
    await accept(gw, {"tid": 6, "to": "70030001,5001,5002", "sms": long, "dr": 1, "sdr": 1, "sr_cnt": 1})
    await clock.advance(0.5)
    assert platform.outcomes() == {0: "9 Outcome unknown"}
    gw.driver.events.delivery_report(1, 3, "70030001", 0, clock.time(), "+10000000000")
    gw.driver.events.delivery_report(1, 4, "70030001", 0, clock.time(), "+10000000000")
    await clock.advance(3)
    assert platform.outcomes() == {0: "sent", 1: "sent", 2: "sent"}
    assert platform.reports[-1]["sent"] == 3 and platform.reports[-1]["failed"] == 0
    inbox, _ = await gw.inbox.page(1, 0, False)
    assert len(inbox) == 1 and inbox[0].recipient == "70030001"  # one report per SMS, whatever its parts
    await gw.stop()


async def test_only_an_sms_of_unknown_outcome_with_reports_asked_for_is_ever_corrected(tmp_path):
    clock, platform = VirtualClock(), Platform()
    gw = await started(make_config(tmp_path, ports=1, slots=1), clock, VanishingModems(clock), platform)
    await accept(
        gw,
        {"tid": 7, "to": "70030007", "sms": "x", "fdr": 1},  # no dr: nothing will prove it sent
        {"tid": 8, "to": "9990008", "sms": "x", "dr": 1, "fdr": 1},
    )
    await clock.advance(1)
    for number in ("70030007", "9990008"):
        gw.driver.events.delivery_report(1, 9, number, 0, clock.time(), "+10000000000")
    await clock.advance(1)
    assert await totals(gw) == (1, 1)
    assert gw.activity.sms_confirmed == {}
    await gw.stop()
