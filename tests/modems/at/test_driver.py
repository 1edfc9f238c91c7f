"""The AT driver against emulated modules, fault by fault: what the port shows, what the platform
receives, nothing lost, nothing sent twice."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from ejoin.modems.at.channel import ModuleGone
from ejoin.protocol import pdu
from ejoin.protocol.codes import PortState
from ejoin.protocol.text import segment

from .harness import Bench


@pytest.fixture
async def bench(tmp_path):
    b = Bench(tmp_path)
    await b.start()
    yield b
    await b.stop()


async def test_bring_up_reads_the_card(bench):
    card = await bench.at.detect_card(1, 1)
    expected = bench.net.cards[1]
    assert (card.iccid, card.imsi, card.number) == (expected.iccid, expected.imsi, expected.number)
    assert card.operator == expected.operator
    assert await bench.at.register(1, 1) is PortState.REGISTERED
    assert await bench.at.signal(1) == 20
    assert bench.driver.modules[1].imei == bench.modem(1).imei


@pytest.mark.parametrize("profile", ["generic", "simcom", "huawei", "quectel"])
async def test_every_profile_reads_its_iccid(tmp_path, profile):
    b = Bench(tmp_path, profile, count=1)
    try:
        await b.start()
        card = await b.at.detect_card(1, 1)
        assert card.iccid == b.net.cards[1].iccid
    finally:
        await b.stop()


async def test_a_long_sms_goes_part_by_part_and_arrives_joined_with_reports(bench):
    text = segment("0123456789" * 20)
    result = await bench.at.send_sms(1, 1, bench.number(2), text, "", report=True)
    assert result.ok and len(result.refs) == 2
    assert [m.concat.seq for m in bench.modem(1).sent] == [1, 2]
    await bench.events.until(lambda: len(bench.events.sms) == 2 and len(bench.events.reports) == 2)
    parts = sorted(bench.events.sms, key=lambda s: s[5])
    assert "".join(p[2] for p in parts) == text.text and {p[4] for p in parts} == {2}
    assert sorted(r[1] for r in bench.events.reports) == list(result.refs)
    assert {r[3] for r in bench.events.reports} == {0}
    await bench.clock.advance(0.1)
    assert bench.modem(2).state.storage == {} and bench.modem(1).state.storage == {}


async def test_a_message_leaves_the_module_only_once_stored(bench):
    bench.events.hold = asyncio.Event()
    await bench.at.send_sms(1, 1, bench.number(2), segment("keep me"), "")
    await bench.events.until(lambda: bench.events.sms)
    await bench.clock.advance(0.1)
    assert len(bench.modem(2).state.storage) == 1  # not stored yet: still on the SIM
    bench.events.hold.set()
    await bench.events.until(lambda: not bench.modem(2).state.storage)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (38, "38 Network out of order"),
        (330, "330 SMSC address unknown"),
        (500, "500 Unknown error"),
        (512, "512 Message sending failed"),
    ],
)
async def test_cms_errors_become_the_carrier_reason_and_nothing_is_sent(bench, code, reason):
    bench.modem(1).faults.set("cms", str(code))
    result = await bench.at.send_sms(1, 1, bench.number(2), segment("x"), "")
    assert not result.ok and result.carrier == reason and not result.recipient_refused  # the module's network
    assert bench.modem(1).sent == [] and bench.events.sms == []
    bench.modem(1).faults.set("cms", "off")
    assert (await bench.at.send_sms(1, 1, bench.number(2), segment("x"), "")).ok


async def test_deterministic_numbers(bench):
    rejected = await bench.at.send_sms(1, 1, "9990001", segment("x"), "")
    assert not rejected.ok and rejected.carrier == "21 Short message transfer rejected"
    assert rejected.recipient_refused  # the number's fault, not the module's: the port does not pause for it
    report = await bench.at.send_sms(1, 1, "9970001", segment("x"), "", report=True)
    await bench.events.until(lambda: bench.events.reports)
    assert bench.events.reports == [(1, report.refs[0], "9970001", 64)]


async def test_a_send_the_network_never_answers_is_abandoned_and_the_module_goes_on(bench):
    with pytest.raises(TimeoutError):
        await bench.run(bench.driver.send_sms(1, 1, "9980001", segment("x"), ""), timeout=0.5)  # the task's tmo
    assert len(bench.modem(1).sent) == 1
    result = await bench.at.send_sms(1, 1, bench.number(2), segment("after"), "")
    assert result.ok and len(bench.modem(1).sent) == 2  # the abandoned one is not sent again
    assert bench.events.lost == []


async def test_a_recipient_cannot_smuggle_a_command(bench):
    result = await bench.at.send_sms(1, 1, '123"\r\nAT+CFUN=0', segment("x"), "")
    assert not result.ok and bench.modem(1).sent == []


async def test_slow_answers_still_work(bench):
    bench.modem(1).faults.set("slow", "0.1")
    assert (await bench.at.send_sms(1, 1, bench.number(2), segment("slow"), "")).ok
    await bench.events.until(lambda: bench.events.sms)


async def test_a_hung_module_is_lost_and_comes_back(bench):
    bench.modem(1).faults.set("no_answer", "1")
    with pytest.raises(TimeoutError):  # the send is answered at once; whether the module is gone is found next
        await bench.at.send_sms(1, 1, bench.number(2), segment("x"), "")
    await bench.events.until(lambda: bench.events.lost == [1])
    assert bench.modem(1).sent == []
    with pytest.raises(ModuleGone):
        await bench.at.send_sms(1, 1, bench.number(2), segment("x"), "")
    assert await bench.at.signal(1) == 0  # a lost module is not asked
    assert (await bench.at.send_sms(2, 1, bench.number(1), segment("port 2 goes on"), "")).ok
    bench.modem(1).faults.set("no_answer", "0")
    await bench.events.until(lambda: bench.events.back == [1])
    assert (await bench.at.send_sms(1, 1, bench.number(2), segment("x"), "")).ok


async def test_unplug_and_replug(bench):
    bench.lines[1].unplug()
    with pytest.raises(ModuleGone):
        await bench.at.send_sms(1, 1, bench.number(2), segment("x"), "")
    await bench.events.until(lambda: bench.events.lost == [1])
    bench.lines[1].plug()
    await bench.events.until(lambda: bench.events.back == [1])
    assert (await bench.at.detect_card(1, 1)).present  # as the device does on module_back
    assert await bench.at.register(1, 1) is PortState.REGISTERED
    assert (await bench.at.send_sms(1, 1, bench.number(2), segment("x"), "")).ok


async def test_a_module_lost_after_taking_the_sms_leaves_its_outcome_unknown(bench):
    sending = asyncio.ensure_future(bench.driver.send_sms(1, 1, "9980001", segment("x"), ""))
    await bench.clock.run_until(lambda: bench.modem(1).sent, 5)  # the module has the PDU ...
    bench.lines[1].unplug()  # ... and is gone before it answered +CMGS: nobody knows whether the SMS left
    await bench.clock.run_until(sending.done, 5)
    result = sending.result()
    assert not result.ok and result.unknown and result.carrier == "the module went away after taking the SMS"
    await bench.events.until(lambda: bench.events.lost == [1])  # and the module is lost, as any unplugged one


async def test_a_module_left_at_an_sms_prompt_by_a_host_that_died_answers_again(bench):
    await bench.driver.modules[1].channel.close()  # the host goes ...
    bench.modem(1).feed(b"AT+CMGS=14\r")  # ... right after it asked to send: the module waits for a PDU
    await bench.clock.run_until(lambda: bench.modem(1)._prompt is not None, 5)
    report = pdu.encode_status_report(9, bench.number(2), 0, datetime.now(UTC), datetime.now(UTC))
    bench.modem(1).deliver(report.hex, report.tpdu_length, report=True)  # told once the prompt is over
    card = await bench.at.detect_card(1, 1)  # a new host opens the line: ESC before its first command
    assert card.present and card.iccid == bench.net.cards[1].iccid
    assert (await bench.at.send_sms(1, 1, bench.number(2), segment("after"), "")).ok
    await bench.events.until(lambda: [r[1] for r in bench.events.reports] == [9])


async def test_a_full_storage_is_swept(bench):
    bench.modem(2).faults.set("storage_full", "1")
    await bench.at.send_sms(1, 1, bench.number(2), segment("silent"), "")
    await bench.clock.advance(0.2)
    assert bench.events.sms == [] and len(bench.modem(2).state.storage) == 1  # no +CMTI came
    await bench.run(bench.driver.modules[2].sweep())
    assert [s[2] for s in bench.events.sms] == ["silent"] and bench.modem(2).state.storage == {}


async def test_cmt_and_cds_are_acknowledged(bench):
    bench.modem(2).faults.set("cmt", "1")
    bench.modem(1).faults.set("cmt", "1")
    await bench.at.send_sms(1, 1, bench.number(2), segment("direct"), "", report=True)
    await bench.events.until(lambda: bench.events.sms and bench.events.reports)
    await bench.clock.advance(0.1)
    assert bench.modem(2).state.storage == {} and bench.modem(2).unacknowledged == 0
    assert bench.modem(1).unacknowledged == 0


@pytest.mark.parametrize("fault", ["noise", "garbage"])
async def test_noise_and_garbage_between_lines(bench, fault):
    for port in (1, 2):
        bench.modem(port).faults.set(fault, "1")
    assert (await bench.at.detect_card(2, 1)).number == bench.number(2)
    result = await bench.at.send_sms(1, 1, bench.number(2), segment("through the noise"), "", report=True)
    assert result.ok
    await bench.events.until(lambda: bench.events.sms and bench.events.reports)
    assert bench.events.sms[0][2] == "through the noise"


async def test_ussd_and_at_passthrough(bench):
    reply = await bench.at.ussd(1, "*100#", 2.0)
    assert reply.text.startswith("Balance: ") and not reply.session_open
    with pytest.raises(ValueError):
        await bench.at.ussd(1, '*100#"', 2.0)
    assert (await bench.at.at_command(1, "AT+CGMI", 2.0)).split("\r\n") == ["Quectel", "OK"]
    with pytest.raises(ValueError):
        await bench.at.at_command(1, "AT\rAT+CFUN=0", 2.0)


async def test_restart(bench):
    await bench.at.restart_module(1)
    assert (await bench.at.detect_card(1, 1)).present
    assert await bench.at.register(1, 1) is PortState.REGISTERED


# --- the port's state during the module's life ---------------------------------------------------


async def test_registration_changes_after_bring_up_are_reported(bench):
    modem = bench.modem(1)
    for value, state in (("2", 2), ("5", 3), ("3", 6), ("0", 6), ("off", 3)):
        modem.set_fault("creg", value)
        if value != "0":  # denied, then not registered: still 6, reported once
            await bench.events.until(lambda s=state: bench.events.states[-1:] == [(1, s)])
    assert bench.events.states == [(1, 2), (1, 3), (1, 6), (1, 3)]
    assert bench.events.lost == [] and await bench.at.signal(1) == 20  # the module answers all along


async def test_a_card_waiting_for_its_pin_is_11_until_it_is_given(bench):
    bench.modem(1).set_fault("pin", "pin")
    card = await bench.at.detect_card(1, 1)
    assert card.present and card.waiting and not card.error and card.iccid == ""
    bench.modem(1).set_fault("pin", "off")  # as after AT+CPIN="1234": +CPIN: READY
    await bench.events.until(lambda: (1, 11) in bench.events.states)
    card = await bench.at.detect_card(1, 1)
    assert not card.waiting and card.iccid == bench.net.cards[1].iccid
    assert await bench.at.register(1, 1) is PortState.REGISTERED


async def test_a_sim_busy_for_long_is_waiting_not_broken(bench, monkeypatch):
    monkeypatch.setattr("ejoin.modems.at.module.CPIN_TRIES", 3)
    bench.modem(2).set_fault("sim_busy", "1")
    card = await bench.at.detect_card(2, 1)
    assert card.present and card.waiting
    bench.modem(2).set_fault("sim_busy", "0")
    await bench.events.until(lambda: (2, 11) in bench.events.states)
    assert (await bench.at.detect_card(2, 1)).number == bench.number(2)


async def test_a_module_that_restarts_by_itself_is_15_and_keeps_what_came_meanwhile(bench):
    bench.modem(1).reboot()
    # sent while the module is off: the SIM keeps it, and nobody is told
    assert (await bench.at.send_sms(2, 1, bench.number(1), segment("while you slept"), "")).ok
    await bench.events.until(lambda: bench.events.states == [(1, 15)])
    assert bench.events.sms == [] and len(bench.modem(1).state.storage) == 1
    # the device reads the card and registers anew: the bring-up sweeps the storage
    assert (await bench.at.detect_card(1, 1)).present
    assert await bench.at.register(1, 1) is PortState.REGISTERED
    assert [s[2] for s in bench.events.sms] == ["while you slept"] and bench.modem(1).state.storage == {}
    assert bench.events.lost == []
    bench.modem(1).set_fault("creg", "2")  # and what it says on its own is reported again
    await bench.events.until(lambda: bench.events.states[-1:] == [(1, 2)])


async def test_a_restart_of_ours_is_not_reported(bench):
    await bench.at.restart_module(1)
    assert (await bench.at.detect_card(1, 1)).present
    assert await bench.at.register(1, 1) is PortState.REGISTERED
    assert bench.events.states == []


async def test_a_line_of_several_commands_has_their_answers_and_one_final_result(bench):
    assert await bench.at.at_command(1, "ATE0;+CMEE=1", 2.0) == "OK"
    answer = await bench.at.at_command(1, "AT+CSQ;+CREG?", 2.0)
    assert answer.split("\r\n") == ["+CSQ: 20,99", '+CREG: 2,1,"1A2B","00C3F01",7', "OK"]  # +CREG not a URC here
    assert await bench.at.at_command(1, "AT+CMGF?", 2.0) == "+CMGF: 0\r\nOK"
    # the first error ends the line: the third command does not run
    assert await bench.at.at_command(1, "AT+CSQ;+CMGR=29;+CMEE=0", 2.0) == "+CSQ: 20,99\r\n+CMS ERROR: 321"
    assert bench.modem(1).state.cmee == 1
    assert await bench.at.at_command(1, 'AT+CPMS="SM","SM","SM";+CMEE=2', 2.0) == "+CPMS: 0,30,0,30,0,30\r\nOK"
    assert bench.modem(1).state.cmee == 2
    assert await bench.at.at_command(1, "AT+CMEE=1", 2.0) == "OK"
    assert (await bench.at.send_sms(1, 1, bench.number(2), segment("still fine"), "")).ok
