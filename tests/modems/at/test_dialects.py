"""Real modules' dialects (tests/modems/at/dialects.py) replayed against the AT driver, class by class:
what the port shows, what the device is given, and that nothing received leaves the module unstored."""

from __future__ import annotations

import pytest

from ejoin.modems.at.balance import BALANCE_AFTER_SEND, BalanceRule
from ejoin.modems.at.channel import ModuleGone
from ejoin.protocol import pdu
from ejoin.protocol.at import FinalKind, LineReader, Urc, parse_final
from ejoin.protocol.at_fields import registration_stat
from ejoin.protocol.codes import PortState
from ejoin.protocol.text import segment

from . import dialects as cap
from .replay import ERROR, OK, Replay, lines


@pytest.fixture
async def replay():
    r = Replay()
    await r.start()
    yield r
    await r.stop()


def cmgr(header: str, pdu_line: str, *between: str) -> bytes:
    """A +CMGR answer as a module frames it, with ``between`` lines after the header."""
    return lines(header, *between, pdu_line)


def deleted_after_stored(r: Replay) -> None:
    """Fail the test at the first AT+CMGD/AT+CNMA that comes before the store has acknowledged."""
    acknowledged = len(r.events.stored)

    def check(command: str) -> None:
        nonlocal acknowledged
        assert len(r.events.stored) > acknowledged, f"{command} before the store acknowledged"
        acknowledged = len(r.events.stored)

    r.modem.before_delete = check


# --- 1. stale bytes after the user data ------------------------------------------------------------


async def test_a_length_covering_the_rest_of_the_sim_record_decodes_and_is_deleted_once_stored(replay):
    header, line = cap.STALE_BYTES
    replay.modem.storage[91] = cmgr(header, line)
    deleted_after_stored(replay)
    replay.modem.say(b'\r\n+CMTI: "SM",91\r\n')
    await replay.settle()
    assert replay.events.raw == []
    [(port, sender, text, *_)] = replay.events.sms
    assert (port, sender) == (1, "9494") and text.startswith("llamada perdida de: +34617653167")
    assert replay.sent("AT+CMGD=") == ["AT+CMGD=91"] and 91 not in replay.modem.storage


def test_trailing_bytes_are_kept_aside_not_an_error():
    header, line = cap.STALE_BYTES
    message = pdu.decode(line, tpdu_length=92)
    assert isinstance(message, pdu.Deliver) and len(message.trailing) == 30


# --- 2. never AT+CMGD what is not stored ----------------------------------------------------------


@pytest.mark.parametrize("vector", cap.UNDECODABLE, ids=lambda v: v[1][:12])
async def test_an_undecodable_pdu_is_stored_raw_then_deleted(replay, vector):
    header, line = vector
    replay.modem.storage[4] = cmgr(header, line)
    deleted_after_stored(replay)
    replay.modem.say(b'\r\n+CMTI: "SM",4\r\n')
    await replay.settle()
    [(port, raw, reason)] = replay.events.raw
    assert (port, raw) == (1, line) and reason  # the line as the module gave it, and why
    assert replay.events.sms == [] and replay.sent("AT+CMGD=") == ["AT+CMGD=4"]


async def test_an_sms_submit_on_the_sim_is_kept_raw_not_delivered_not_lost(replay):
    header, line = cap.STORED_SUBMIT
    replay.modem.storage[2] = cmgr(header, line)
    replay.modem.answers["AT+CMGL=4"] = lines("+CMGL: 2,3,,29", line)
    deleted_after_stored(replay)
    await replay.run(replay.module.sweep())
    assert replay.events.sms == [] and [r[1] for r in replay.events.raw] == [line]
    assert "outgoing" in replay.events.raw[0][2] and replay.sent("AT+CMGD=") == ["AT+CMGD=2"]


async def test_a_stored_status_report_is_deleted_once_the_device_has_it(replay):
    header, line = cap.STATUS_REPORT
    replay.modem.storage[7] = cmgr(header, line)
    deleted_after_stored(replay)
    replay.modem.say(b'\r\n+CDSI: "SM",7\r\n')
    await replay.settle()
    assert [r[2] for r in replay.events.reports] == ["+666666666666"]
    assert replay.sent("AT+CMGD=") == ["AT+CMGD=7"]


async def test_a_status_report_announced_in_sr_is_read_and_deleted_there(replay):
    header, line = cap.STATUS_REPORT
    replay.modem.storage[2] = cmgr(header, line)  # the storage "SR" is selected first
    replay.modem.answers['AT+CPMS="SR"'] = lines("+CPMS: 1,20,0,30,0,30")
    replay.modem.say(b'\r\n+CDSI: "SR",2\r\n')
    await replay.settle()
    assert len(replay.events.reports) == 1
    got = replay.modem.commands
    assert got[got.index('AT+CPMS="SR"') :][:4] == ['AT+CPMS="SR"', "AT+CMGR=2", "AT+CMGD=2", 'AT+CPMS="SM"']


@pytest.mark.parametrize("failure", ["no listener", "store fails", "not taken"])
async def test_what_the_device_did_not_store_stays_on_the_module(replay, failure, monkeypatch):
    header, line = cap.DELIVER_BE
    replay.modem.storage[5] = cmgr(header, line)
    if failure == "no listener":
        replay.driver.events = None
    elif failure == "store fails":
        replay.events.failing = True
    else:
        monkeypatch.setattr(replay.events, "sms_part", lambda *a: None)
    replay.modem.say(b'\r\n+CMTI: "SM",5\r\n')
    await replay.settle()
    assert replay.sent("AT+CMGD=") == [] and 5 in replay.modem.storage
    # the device takes it again: the next sweep finds it, and deletes it once stored
    replay.driver.events, replay.events.failing = replay.events, False
    monkeypatch.undo()
    replay.modem.answers["AT+CMGL=4"] = lines("+CMGL: 5,1,,23", line)
    deleted_after_stored(replay)
    await replay.run(replay.module.sweep())
    assert replay.sent("AT+CMGD=") == ["AT+CMGD=5"] and replay.events.stored[-1][0] == "sms"


async def test_a_direct_message_is_acknowledged_only_once_stored_else_refused(replay):
    header, line = cap.DELIVER_BE
    replay.events.failing = True
    replay.modem.say(f"\r\n+CMT: ,23\r\n{line}\r\n".encode())
    await replay.settle()
    assert replay.sent("AT+CNMA") == ["AT+CNMA=2"]  # refused: the network delivers it again
    replay.events.failing = False
    deleted_after_stored(replay)
    replay.modem.say(f"\r\n+CMT: ,23\r\n{line}\r\n".encode())
    await replay.settle()
    assert replay.sent("AT+CNMA") == ["AT+CNMA=2", "AT+CNMA"]
    raw = cap.HEADER_TOO_LONG[1]
    replay.modem.say(f"\r\n+CMT: ,29\r\n{raw}\r\n".encode())  # undecodable: kept raw, then acknowledged
    await replay.settle()
    assert [r[1] for r in replay.events.raw] == [raw] and replay.sent("AT+CNMA")[-1] == "AT+CNMA"


# --- 3. unsolicited lines inside answers -------------------------------------------------------------


@pytest.mark.parametrize("urc", cap.UNSOLICITED)
async def test_an_unsolicited_line_between_header_and_pdu_leaves_the_sms_whole(replay, urc):
    header, line = cap.DELIVER_BE
    replay.modem.storage[3] = cmgr(header, line, urc)
    deleted_after_stored(replay)
    replay.modem.say(b'\r\n+CMTI: "SM",3\r\n')
    await replay.settle()
    assert [s[2] for s in replay.events.sms] == ["Tèätrc @ £."] and replay.events.raw == []
    assert replay.sent("AT+CMGD=") == ["AT+CMGD=3"]


async def test_a_sweep_with_unsolicited_lines_everywhere_keeps_every_message(replay):
    h1, p1 = cap.DELIVER_BE
    _, p2 = cap.STALE_BYTES
    replay.modem.answers["AT+CMGL=4"] = lines(
        cap.NWTIME, "+CMGL: 1,1,,23", cap.CIEV, "RING", p1, cap.NDISSTAT, "+CMGL: 2,1,,92", cap.CRING, p2, cap.CLIP
    )
    deleted_after_stored(replay)
    await replay.run(replay.module.sweep())
    assert len(replay.events.sms) == 2 and replay.events.raw == []
    assert replay.sent("AT+CMGD=") == ["AT+CMGD=1", "AT+CMGD=2"]


async def test_an_unsolicited_line_before_an_answer_is_not_taken_for_it(replay):
    # gammu tests/at-statemachine.c: ^NWTIME arrives right before AT+CPMS's answer
    replay.modem.answers["AT+CSQ"] = (f"\r\n{cap.NWTIME}\r\n").encode() + lines("+CSQ: 17,99")
    assert await replay.at.signal(1) == 17


# --- 4. final results in every form -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        (cap.MODEM_ERROR, FinalKind.MODEM_ERROR),
        (cap.COMMAND_NOT_SUPPORT, FinalKind.NOT_SUPPORTED),
        ("TOO MANY PARAMETERS", FinalKind.TOO_MANY_PARAMETERS),
        (cap.NO_CARRIER, FinalKind.NO_CARRIER),
        (cap.CME_TEXT, FinalKind.CME),
        (cap.CMS_EMPTY.strip(), FinalKind.CMS),
        ("+CME ERROR : 10", FinalKind.CME),
    ],
)
async def test_every_final_result_ends_the_command_at_once(replay, line, kind):
    final = parse_final(line)
    assert final is not None and final.kind is kind
    replay.modem.answers["AT+WIND?"] = f"\r\n{line}\r\n".encode()
    started = replay.clock.time()
    answer = await replay.at.at_command(1, "AT+WIND?", 10.0)
    assert answer == line and replay.clock.time() - started < 0.5  # not a timeout's 10 s
    assert replay.module.channel.stats.timeouts == 0
    assert (await replay.at.signal(1)) == 20  # and the next command is answered as its own


async def test_a_vendor_error_at_bring_up_is_an_error_not_a_lost_module():
    r = Replay()
    r.modem.answers["AT+CSCS=?"] = f"\r\n{cap.COMMAND_NOT_SUPPORT}\r\n".encode()
    r.modem.answers['AT+CSCS="GSM"'] = f"\r\n{cap.MODEM_ERROR}\r\n".encode()
    r.modem.answers["AT+CSCS?"] = f"\r\n{cap.COMMAND_NOT_SUPPORT}\r\n".encode()
    try:
        await r.start()
        assert r.events.lost == [] and r.module.charset == ""
    finally:
        await r.stop()


# --- 5. registration --------------------------------------------------------------------------------


@pytest.mark.parametrize(("line", "stat"), cap.REGISTRATION, ids=lambda v: str(v)[:30])
def test_registration_lines_as_modules_write_them(line, stat):
    assert registration_stat(line.partition(":")[2]) == stat


async def test_an_sms_only_lte_registration_is_registered_at_once():
    r = Replay()
    r.modem.answers["AT+CREG?"] = lines(cap.REGISTRATION[0][0])  # u-blox TOBY-L2: 2,6
    r.modem.answers["AT+CEREG?"] = lines("+CEREG: 2,6")
    try:
        await r.start(register=False)
        assert await r.at.register(1, 1) is PortState.REGISTERED
        assert len(r.sent("AT+CREG?")) == 1  # not 61 polls ending in 6
    finally:
        await r.stop()


async def test_lte_alone_registered_is_registered_and_cereg_is_asked():
    r = Replay()
    r.modem.answers["AT+CREG?"] = lines("+CREG: 2,0")  # no circuit-switched registration on LTE
    r.modem.answers["AT+CEREG?"] = lines("+CEREG: 2,1, 1F00, 20 ,79D903 ,7")  # Novatel E362
    try:
        await r.start(register=False)
        assert await r.at.register(1, 1) is PortState.REGISTERED
        assert r.sent("AT+CEREG?") and not r.sent("AT+C5GREG?")  # 5G was refused at setup
    finally:
        await r.stop()


async def test_unsolicited_registration_lines_that_repeat_n_are_read_by_their_form(replay):
    replay.modem.say(f"\r\n{cap.REGISTRATION[2][0]}\r\n".encode())  # MD400: roaming, repeating <n>
    await replay.settle()
    assert replay.events.states == []  # registered before, registered (roaming) now: no change
    replay.modem.answers["AT+CREG?"] = lines("+CREG: 2,2")
    replay.modem.say(b"\r\n+CREG: 2\r\n")
    replay.modem.say(f"\r\n{cap.REGISTRATION[3][0]}\r\n".encode())  # Altair: <n>=1, searching
    await replay.settle()
    assert replay.events.states == [(1, 2)]


# --- 6. SIM PIN ---------------------------------------------------------------------------------------


async def test_wavecom_cpin_without_ok_is_ready_not_lost():
    r = Replay()
    r.modem.answers["AT+CPIN?"] = f"\r\n{cap.WAVECOM_CPIN}\r\n".encode()  # and nothing more
    r.modem.answers["AT+CGSN"] = lines(cap.WAVECOM_CGSN)
    try:
        await r.start()
        assert r.events.lost == [] and r.module.channel.stats.timeouts == 0
        assert r.module.imei == cap.WAVECOM_CGSN
        assert await r.at.signal(1) == 20  # no late OK taken for the next command
    finally:
        await r.stop()


async def test_a_quoted_pin_request_waits_for_the_pin():
    r = Replay()
    r.modem.answers["AT+CPIN?"] = lines(cap.QUOTED_PIN)
    try:
        r.line.plug()
        card = await r.at.detect_card(1, 1)
        assert card.present and card.waiting and not card.error  # 11, not 9
        r.modem.say(b'\r\n+CPIN: "READY"\r\n')  # the PIN was given: ready, quoted as it asked
        await r.settle()
        assert r.events.states == [(1, 11)]
    finally:
        await r.stop()


# --- 7. USSD ------------------------------------------------------------------------------------------


def cusd_after_ok(*urcs: str):
    """AT+CUSD answered OK, then the network's lines."""
    return lambda line: OK + b"".join(f"\r\n{u}\r\n".encode("latin-1") for u in urcs)


async def test_a_menu_with_line_breaks_comes_back_whole():
    # The capture shows "$" as 0x24: the module spoke IRA (in GSM "$" is 0x02).  Replayed so: it
    # refuses GSM, and the driver reads what it speaks.
    r = Replay()
    r.modem.answers['AT+CSCS="GSM"'] = ERROR
    r.modem.answers["AT+CSCS?"] = lines('+CSCS: "IRA"')
    r.modem.answers['AT+CUSD=1,"#100#",15'] = cusd_after_ok(cap.MENU)
    try:
        await r.start()
        assert r.module.charset == "IRA"
        reply = await r.at.ussd(1, "#100#", 5.0)
        assert reply.session_open
        assert reply.text.splitlines()[:3] == ["Bal:$100.00 *", "Exp 01 Jan 2013", "1. Recharge"]
        assert reply.text.endswith("00. Home\r\n*charges can take 48hrs")  # the line breaks as they came
    finally:
        await r.stop()


@pytest.mark.parametrize("notice", [cap.RELEASE_NOTICE, cap.OTHER_CLIENT])
async def test_a_release_notice_before_the_answer_is_not_the_answer(replay, notice):
    replay.modem.answers['AT+CUSD=1,"*100#",15'] = cusd_after_ok(notice, cap.VODACOM_BALANCE)
    reply = await replay.at.ussd(1, "*100#", 5.0)
    assert reply.text.startswith("Your balance is R49.96.") and not reply.session_open


async def test_a_release_notice_alone_is_the_answer(replay):
    replay.modem.answers['AT+CUSD=1,"*130*111#",15'] = cusd_after_ok('+CUSD: 2,"Totsiens",15')
    assert (await replay.at.ussd(1, "*130*111#", 5.0)).text == "Totsiens"


async def test_text_in_the_gsm_character_set_is_read_as_gsm(replay):
    assert replay.module.charset == "GSM" and 'AT+CSCS="GSM"' in replay.modem.commands
    replay.modem.answers['AT+CUSD=1,"*100#",15'] = cusd_after_ok(cap.GSM_CHARSET)
    reply = await replay.at.ussd(1, "*100#", 5.0)
    assert "Bitte wählen Sie" in reply.text and reply.session_open


@pytest.mark.parametrize(
    ("profile", "charset", "line", "expected"),
    [
        ("huawei", "GSM", cap.E160_PACKED, "Ihr Guthaben für die Nr.4915783647410 beträgt 5.78 Euro"),
        ("huawei", "GSM", cap.E160_BARE, "4915783647410 beträgt 7.95 Euro"),  # unquoted, no dcs (number masked)
        ("generic", "UCS2", cap.QUECTEL_M35_UCS2, "Havi keret: 0Ft. Feltöltött egyenleg: 7777Ft"),
        ("generic", "GSM", cap.E3276_UCS2, "Для справки о балансе наберите *105#."),
        ("generic", "GSM", cap.HE910_LANGUAGE, "رصيدك 107.93 د.ل،الصلاحية  2018-11-09"),
        ("generic", "GSM", cap.DELL_TEXT, "On DATA Pack u have 3Gb 817Mb 169kb valid until 21/05/2016"),
    ],
)
async def test_ussd_strings_decode_by_dcs_and_character_set(profile, charset, line, expected):
    r = Replay(profile)
    if charset == "UCS2":  # a Quectel M35 left in UCS2: it refuses GSM, and says so when asked
        r.modem.answers["AT+CSCS=?"] = lines('+CSCS: ("UCS2")')
        r.modem.answers["AT+CSCS?"] = lines('+CSCS: "UCS2"')
    for code in ("*100#", "AA180C3602", "002A0031003000300023"):  # as sent: text, packed, UCS2
        r.modem.answers[f'AT+CUSD=1,"{code}",15'] = cusd_after_ok(line)
    try:
        await r.start()
        assert r.module.charset == charset
        reply = await r.at.ussd(1, "*100#", 5.0)
        assert expected in reply.text, reply.text
        sent = r.sent("AT+CUSD=1")[0]
        assert sent == {"huawei": 'AT+CUSD=1,"AA180C3602",15', "generic": None}.get(profile) or sent.startswith(
            'AT+CUSD=1,"002A' if charset == "UCS2" else 'AT+CUSD=1,"*100#"'
        )
    finally:
        await r.stop()


# --- 8. IMEI and balance ------------------------------------------------------------------------------


async def test_the_imei_the_module_says_is_on_the_card(replay):
    card = await replay.at.detect_card(1, 1)
    assert card.imei == "867962041294151" and card.balance is None  # unknown, not 0.00


async def test_the_balance_is_read_by_its_rule_at_bring_up_and_after_sends():
    rule = BalanceRule(code="*101#", pattern=r"Balance: R ?([0-9.]+)", operator="262")
    r = Replay(balance=[BalanceRule(code="*9#", pattern="x", iccid="8944"), rule])
    r.modem.answers['AT+CUSD=1,"*101#",15'] = cusd_after_ok(cap.AVAILABLE_BALANCE)
    try:
        await r.start()
        await r.settle()
        assert r.events.balances == [(1, 96.45)] and r.sent("AT+CUSD=1") == ['AT+CUSD=1,"*101#",15']
        for _ in range(3):  # three SMS, one balance read after them
            assert (await r.at.send_sms(1, 1, "+4915112345678", segment("hi"), "")).ok
        await r.settle(BALANCE_AFTER_SEND + 1)
        assert r.events.balances == [(1, 96.45)] * 2 and len(r.sent("AT+CUSD=1")) == 2
    finally:
        await r.stop()


async def test_no_rule_no_balance_read_and_an_answer_without_a_number_is_unknown():
    r = Replay(balance=[BalanceRule(code="*100#", pattern=r"beträgt ([0-9.,]+) Euro", operator="23410")])
    try:
        await r.start()
        await r.settle()
        assert r.events.balances == [] and r.sent("AT+CUSD") == []  # a German SIM, a British rule
    finally:
        await r.stop()
    r = Replay("huawei", balance=[BalanceRule(code="*100#", pattern=r"beträgt ([0-9.,]+) Euro")])
    r.modem.answers['AT+CUSD=1,"AA180C3602",15'] = cusd_after_ok(cap.E160_PACKED)
    try:
        await r.start()
        await r.settle()
        assert r.events.balances == [(1, 5.78)]
    finally:
        await r.stop()


# --- the channel keeps its resync (a late final of an abandoned command) ------------------------------


async def test_lines_of_no_command_are_unsolicited_wherever_they_fall():
    reader = LineReader()
    events = reader.feed(b"\r\n+CIEV: 7,1\r\n\r\n^NWTIME: 18/03/09,12:36:21+4,00\r\nSMS DONE\r\n")
    assert events == [Urc("+CIEV", "7,1"), Urc("^NWTIME", "18/03/09,12:36:21+4,00"), Urc("SMS DONE", "")]


async def test_a_module_that_stops_answering_is_still_found_out(replay):
    replay.modem.answers["AT+CSQ"] = b""
    replay.modem.answers["AT"] = b""
    with pytest.raises(TimeoutError):
        await replay.at.signal(1)
    await replay.events.until(lambda: replay.events.lost == [1])
    with pytest.raises(ModuleGone):
        await replay.at.detect_card(1, 1)
