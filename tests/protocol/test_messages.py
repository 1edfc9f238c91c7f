import json

import pytest

from ejoin.protocol.codes import PortState, TaskStatus
from ejoin.protocol.messages import CommandRequest, DevStatus, PortStatusEntry, WireError, decode_lenient, encode
from ejoin.protocol.params import ParamName, ParamNameError, parse_param_name


def test_port_state_table_is_the_v240_one():
    assert sorted(int(s) for s in PortState) == [*range(10), *range(11, 17)]
    assert PortState(3).label == "3 Registered"
    assert PortState(15).label == "15 Access Mobile Network"
    assert PortState(16).label == "16 Module response timeout"
    assert PortState.REGISTERED.can_send and not PortState.USER_LOCKED.can_send


def test_task_status_table_is_complete():
    assert [int(s) for s in TaskStatus] == list(range(21))
    assert TaskStatus(13).label == "13 Duplicated TaskId"
    assert TaskStatus(20).label == "20 MMS Attachments Cache size Overlimit"


def _entry(**kw):
    base = dict(
        port="1.01",
        sim="",
        seq=8,
        st=3,
        status="3 Registered",
        imei="898610599441327",
        iccid="89860116289910033431",
        imsi="460014978212473",
        sn="",
        opr="46001 CHINA UNICOM GSM",
        bal="0.00",
        sig=15,
        active=1,
        inserted=1,
        slot_active=1,
        led=1,
    )
    base.update(kw)
    return PortStatusEntry(**base)


def test_dev_status_encodes_both_max_slot_spellings_in_spec_order():
    msg = DevStatus(
        type="dev-status",
        seq=3,
        expires=60,
        mac="00-30-f1-00-6c-55",
        ip="192.168.1.67",
        ver="v",
        max_ports=32,
        max_slot=4,
        max_slots=4,
        status=[_entry()],
    )
    out = json.loads(encode(msg))
    assert list(out)[:9] == ["type", "seq", "expires", "mac", "ip", "ver", "max-ports", "max-slot", "max-slots"]
    assert out["max-slot"] == out["max-slots"] == 4
    entry = out["status"][0]
    assert entry["st"] == 3 and isinstance(entry["st"], int)
    assert list(entry)[3:5] == ["st", "status"] and entry["status"] == "3 Registered"
    assert entry["tot_dur"] == "0/-1"


def test_lenient_decode_takes_numeric_strings_and_ignores_unknown_keys():
    cmd = decode_lenient(b'{"type":"command","op":"lock","ports":1,"extra":{"x":1}}', CommandRequest)
    assert cmd.op == "lock" and cmd.ports == 1
    cmd = decode_lenient('{"op":"multiple","ops":[{"op":"lock","ports":["1.01","2"]}]}', CommandRequest)
    assert cmd.ops[0].ports == ["1.01", "2"]


@pytest.mark.parametrize(
    "body, fragment",
    [
        (b"", "empty"),
        (b"not json", "not valid JSON"),
        (b'{"op": 5}', "does not fit"),
        (b"[1,2]", "does not fit"),
        (b'{"op":"lock"', "not valid JSON"),
    ],
)
def test_lenient_decode_says_what_is_wrong(body, fragment):
    with pytest.raises(WireError, match=fragment):
        decode_lenient(body, CommandRequest)


def test_param_names():
    assert parse_param_name("sim_imei(21)") == ParamName("sim_imei", 21)
    assert parse_param_name(" SMS_URL ") == ParamName("sms_url")
    assert str(ParamName("sim_number", 3)) == "sim_number(3)"
    for bad in ["", "sim_imei(", "sim_imei(-1)", "1abc", "a b", "x(1)(2)"]:
        with pytest.raises(ParamNameError):
            parse_param_name(bad)
