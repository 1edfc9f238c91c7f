"""Numbers, IMEIs and request-level options are checked where they enter, over HTTP, with reasons."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ejoin.protocol import numbers
from ejoin.protocol.sms import MAX_SMS_PARTS

NOT_NUMBERS = [
    "١٣٨٠٠٠٠٠٠٠٠",  # Arabic-Indic digits: str.isdigit() says yes
    "１２３",  # full-width digits
    "138\U0001f600",  # an emoji
    "abc",
    "+",
    "12 34",
    "1" * 21,
    "++123",
    "123+",
]


@pytest.mark.parametrize("bad", NOT_NUMBERS)
async def test_a_recipient_that_is_not_a_number_refuses_the_task_naming_it(device, bad):
    res = await device.send({"tid": 5, "to": f"13800000001,{bad},13800000003", "sms": "x"})
    [item] = res["status"]
    assert item["status"] == "9 TO expected" and item["tid"] == 5
    assert item["reason"].startswith("recipient 2: ") and repr(bad)[:20] in item["reason"]
    assert device.gw.sending.task_count() == 0  # nothing was queued


async def test_bad_recipients_are_counted_and_good_tasks_of_the_request_still_go(device):
    res = await device.send(
        {"tid": 6, "to": ["13800000001", "x1", "x2"], "sms": "x"},
        {"tid": 7, "to": "+8613800000001, 10086", "sms": "x"},
        {"tid": 8, "smstype": 2, "to_title_array": [["１２３", "t"]], "attachments": "txt eA=="},
    )
    six, seven, eight = res["status"]
    assert six["status"] == "9 TO expected" and "'x1'" in six["reason"] and "(and 1 more recipients)" in six["reason"]
    assert seven == {"tid": 7, "status": "0 OK"}  # no reason on an accepted task
    assert eight["status"] == "9 TO expected" and "'１２３'" in eight["reason"]


async def test_a_number_with_a_comma_inside_an_array_is_refused(device):
    res = await device.send({"tid": 9, "to": ["13800000001", "1,2"], "sms": "x"})
    assert res["status"][0]["status"] == "9 TO expected" and "'1,2'" in res["status"][0]["reason"]


async def test_sms_text_is_at_most_255_parts(device):
    gsm_limit = MAX_SMS_PARTS * 153
    ok = await device.send({"tid": 10, "to": "1", "sms": "a" * gsm_limit})
    assert ok["status"][0]["status"] == "0 OK"
    over = await device.send({"tid": 11, "to": "1", "sms": "a" * (gsm_limit + 1)})
    assert over["status"][0]["status"] == "15 Invalid CMD" and "255" in over["status"][0]["reason"]
    ucs2 = await device.send({"tid": 12, "to": "1", "sms": "я" * (MAX_SMS_PARTS * 67 + 1)})
    assert ucs2["status"][0]["status"] == "15 Invalid CMD"
    huge = await device.send({"tid": 13, "to": "1", "sms": "x" * 15_000_000})
    assert huge["status"][0]["status"] == "15 Invalid CMD" and "15000000 characters" in huge["status"][0]["reason"]


async def test_a_fractional_tid_is_refused_and_echoed_as_sent(device):
    res = await device.send({"tid": 1.5, "to": "1", "sms": "x"})
    assert res["status"] == [{"tid": 1.5, "status": "11 TID Expected", "reason": "tid must be an integer, not '1.5'"}]


@pytest.mark.parametrize(
    "option, value",
    [
        ("sr_cnt", -1),
        ("sr_prd", -5),
        ("sms_cnt", -2),
        ("sms_prd", -1),
        ("sr_cnt", "lots"),
        ("sr_prd", 1.5),
        ("sms_prd", 99999999999999999999),
        ("sr_prd", "86401"),
        ("sms_cnt", 10_001),
        ("sr_url", "http://platform.test/sr\r\nX-Evil: 1"),
        ("sms_url", "http://platform.test/\nsms"),
        ("sr_url", "ftp://platform.test/sr"),
        ("sr_url", 5),
    ],
)
async def test_bad_request_level_options_refuse_every_task_with_the_reason(device, option, value):
    res = await device.send({"tid": 20, "to": "1", "sms": "x"}, {"tid": 21, "to": "2", "sms": "y"}, **{option: value})
    assert [s["status"] for s in res["status"]] == ["15 Invalid CMD"] * 2
    assert all(f"request-level {option}" in s["reason"] for s in res["status"])
    assert device.gw.sending.task_count() == 0
    assert (device.gw.settings["sms_url"], device.gw.settings["sms_prd"]) == ("", 30)  # nothing revised
    ok = await device.send({"tid": 20, "to": "1", "sms": "x"}, sr_cnt=0, sr_prd="30")
    assert ok["status"][0]["status"] == "0 OK"


async def test_sim_imei_takes_only_ascii_digits(device):
    before = (await device.status())["status"][0]["imei"]
    for bad in ("٨٦٥٨٤٧٠٥٣٤٠٣٢٠٢", "８６５８４７０５３４０３２０２", "86584705340320", "86584705340320x"):
        res = await device.post("/goip_send_cmd.html", params={"op": "set"}, raw=f"sim_imei(0)={bad}")
        assert res["code"] == 400 and "sim_imei(0)" in res["reason"] and repr(bad) in res["reason"], res
    assert (await device.status())["status"][0]["imei"] == before
    res = await device.post("/goip_send_cmd.html", params={"op": "set"}, raw="sim_imei(0)=865847053403202")
    assert res == {"code": 0, "reason": "OK", "par_set": 1}  # the spec's own example (no Luhn check)
    assert (await device.status())["status"][0]["imei"] == "865847053403202"


async def test_sim_number_takes_phone_numbers_or_nothing(device):
    res = await device.post("/goip_send_cmd.html", params={"op": "set"}, raw="sim_number(0)=١٣٨")
    assert res["code"] == 400 and "'١٣٨'" in res["reason"]
    res = await device.post("/goip_send_cmd.html", params={"op": "set"}, raw="sim_number(0)=%2B15550100")
    assert res["code"] == 0
    assert (await device.status())["status"][0]["sn"] == "+15550100"


async def test_inbound_senders_are_numbers_or_sender_ids(device):
    for bad in ("١٣٨", "＋１５５５", "\U0001f600", "A very long name", ""):
        res = await device.get("/sim/inbound", port="1.01", sender=bad, text="hi")
        assert res["code"] == 400, (bad, res)
    for good in ("+15550100", "10086", "Google"):
        res = await device.get("/sim/inbound", port="1.01", sender=good, text="hi")
        assert res["code"] == 0, (good, res)
    rows = (await device.get("/goip_get_sms.html"))["data"]
    assert [r[3] for r in rows] == ["+15550100", "10086", "Google"]


async def test_inserted_sim_number_is_checked(device):
    await device.get("/sim/remove", port="1.02")
    res = await device.get("/sim/insert", port="1.02", number="１２３")
    assert res["code"] == 400 and "number" in res["reason"]
    assert (await device.get("/sim/insert", port="1.02", number="+15550199"))["code"] == 0


@settings(deadline=None)  # a shared machine: time is not what this checks
@given(st.text(max_size=25))
def test_only_ascii_digit_strings_are_numbers(text):
    stripped = text.strip()
    body = stripped[1:] if stripped.startswith("+") else stripped
    expected = 1 <= len(body) <= 20 and all("0" <= c <= "9" for c in body)
    try:
        numbers.phone_number(text)
        assert expected
    except numbers.NumberError as exc:
        assert not expected
        assert repr(text[:32])[:10] in str(exc)
