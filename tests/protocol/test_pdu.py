"""The SMS PDU codec: published vectors, Gammu-checked vectors, round trips, hostile input."""

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from ejoin.protocol.pdu import (
    Concat,
    DataCoding,
    Deliver,
    Outcome,
    PduError,
    Ports,
    StatusReport,
    Submit,
    Ton,
    decode,
    encode_submit,
    encode_submit_parts,
    status_outcome,
    status_text,
)
from ejoin.protocol.pdu_fields import decode_relative_validity, encode_relative_validity
from ejoin.protocol.text import _BASIC, _EXTENSION, Alphabet, segment

VECTORS = json.loads((Path(__file__).parent / "data" / "pdu_gammu_vectors.json").read_text(encoding="utf-8"))
GSM_CHARS = sorted(_BASIC) + sorted(_EXTENSION)


# --- a test-side encoder, written apart from the package's: bit strings, the gsm0338 codec ---------


def pack(septets: bytes, fill: int = 0) -> bytes:
    """Septets low bit first into octets, as TS 23.038 6.1.2.1.1 draws it, after ``fill`` zero bits."""
    stream = "0" * fill + "".join(format(s, "07b")[::-1] for s in septets)
    stream += "0" * (-len(stream) % 8)
    return bytes(int(stream[i : i + 8][::-1], 2) for i in range(0, len(stream), 8))


def bcd(digits: str) -> str:
    digits += "F" * (len(digits) % 2)
    return "".join(digits[i + 1] + digits[i] for i in range(0, len(digits), 2))


def address(number: str) -> str:
    if number.startswith("+"):
        return f"{len(number) - 1:02X}91" + bcd(number[1:])
    return f"{len(number):02X}81" + bcd(number)


def alnum_address(text: str) -> str:
    packed = pack(text.encode("gsm03.38"))
    return f"{len(text) * 7 // 4 + (len(text) * 7 % 4 > 0):02X}D0" + packed.hex().upper()


def scts(when: datetime) -> str:
    quarters = round(when.utcoffset().total_seconds() / 900)
    fields = [when.year % 100, when.month, when.day, when.hour, when.minute, when.second]
    zone = f"{abs(quarters):02d}"
    zone = zone[1] + f"{int(zone[0]) | (8 if quarters < 0 else 0):X}"
    return "".join(f"{v:02d}"[::-1] for v in fields) + zone


def deliver_pdu(sender: str, text: str, when: datetime, *, ucs2: bool, udh: bytes = b"", smsc: str = "") -> str:
    """An SMS-DELIVER as a network would send it."""
    smsc_part = "00" if not smsc else f"{(len(smsc) - 1 + 1) // 2 + 1:02X}91" + bcd(smsc[1:])
    first = 0x04 | (0x40 if udh else 0)
    header = bytes((len(udh),)) + udh if udh else b""
    if ucs2:
        ud = header + text.encode("utf-16-be")
        udl, dcs = len(ud), "08"
    else:
        hs = (len(header) * 8 + 6) // 7
        septets = text.encode("gsm03.38")
        ud = header + pack(septets, hs * 7 - len(header) * 8)
        udl, dcs = hs + len(septets), "00"
    sender_part = alnum_address(sender) if not sender.lstrip("+").isdigit() else address(sender)
    return f"{smsc_part}{first:02X}{sender_part}00{dcs}{scts(when)}{udl:02X}" + ud.hex().upper()


# --- published vectors ----------------------------------------------------------------------------


def test_the_classic_hellohello_submit():
    pdu = encode_submit("+46708251358", "hellohello", validity=timedelta(days=4))
    assert pdu.hex == "0011000B916407281553F80000AA0AE8329BFD4697D9EC37"
    assert pdu.tpdu_length == 23  # AT+CMGS=23: without the service centre octet
    msg = decode(pdu.hex)
    assert isinstance(msg, Submit)
    assert (msg.recipient, msg.recipient_type, msg.text, msg.validity) == (
        "+46708251358",
        Ton.INTERNATIONAL,
        "hellohello",
        timedelta(days=4),
    )


def test_a_published_deliver():
    msg = decode("07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37")
    assert isinstance(msg, Deliver)
    assert msg.smsc == "+27381000015"
    assert (msg.sender, msg.sender_type) == ("27838890001", Ton.SUBSCRIBER)
    assert msg.scts == datetime(1999, 3, 29, 15, 16, 59, tzinfo=timezone(timedelta(hours=2)))
    assert msg.text == "hellohello" and msg.coding is DataCoding.GSM7 and msg.concat is None


def test_alphanumeric_sender_design_at_home():
    # TS 23.040 alphanumeric address: 11 septets packed in 20 semi-octets (Wikipedia "GSM 03.40")
    pdu = "00" + "04" + "14D0C4F23C7D760390EF7619" + "0000" + "11301221000000" + "02" + "E834"
    msg = decode(pdu)
    assert isinstance(msg, Deliver)
    assert (msg.sender, msg.sender_type, msg.text) == ("Design@Home", Ton.ALPHANUMERIC, "hi")


def test_sim_record_padding_is_not_an_error():
    # some modems list a stored message with the rest of its 176-byte SIM record (0xFF)
    msg = decode("0011000B916407281553F80000AA0AE8329BFD4697D9EC37" + "FF" * 40)
    assert isinstance(msg, Submit) and msg.text == "hellohello"


def test_the_service_centre_can_be_left_out():
    msg = decode("040BC87238880900F10000993092516195800AE8329BFD4697D9EC37", with_smsc=False)
    assert isinstance(msg, Deliver) and msg.smsc == "" and msg.text == "hellohello"


def test_scts_with_negative_zones():
    # zone octet: BCD quarter hours, swapped; bit 3 of the first semi-octet is the sign
    for zone, hours in (("0A", -5), ("4A", -6), ("9A", -7.25), ("80", 2), ("00", 0), ("35", 13.25)):
        msg = decode("00040B914161900000F00000" + "42206101302000"[:-2] + zone + "01" + "31")
        assert msg.scts == datetime(2024, 2, 16, 10, 3, 2, tzinfo=timezone(timedelta(hours=hours)))
    msg = decode("00040B914161900000F00000" + "42136101302000" + "0131")  # month 31: nonsense
    assert msg.scts is None and msg.text == "1"  # the message is still read


def test_status_report_fields_and_outcome():
    # SMSC, first octet 06 (status report, no more messages), TP-MR 0x2A, recipient,
    # TP-SCTS +1h, TP-DT +1h 40 s later, TP-ST
    head = "07914497000000F0" + "06" + "2A" + "0B914497021436F5" + "42207151051240" + "42207151051540"
    for st_hex, outcome in (("00", Outcome.DELIVERED), ("21", Outcome.PENDING), ("46", Outcome.FAILED)):
        msg = decode(head + st_hex)
        assert isinstance(msg, StatusReport)
        assert (msg.smsc, msg.ref, msg.recipient) == ("+44790000000", 42, "+44792041635")
        assert msg.recipient_type is Ton.INTERNATIONAL
        plus_one = timezone(timedelta(hours=1))
        assert msg.scts == datetime(2024, 2, 17, 15, 50, 21, tzinfo=plus_one)
        assert msg.discharge == datetime(2024, 2, 17, 15, 50, 51, tzinfo=plus_one)
        assert (msg.status, msg.outcome) == (int(st_hex, 16), outcome)
    # optional parameters after TP-ST (TP-PI and what it announces) do not stop the report
    assert decode(head + "00" + "00").status == 0


def test_a_published_status_report_without_service_centre():
    # "+CDS: 25" from a modem that leaves the service centre address out (amro.blogspot.com, 2007)
    pdu = "06000B910221815716F2709021510121807090215101718000"
    msg = decode(pdu, tpdu_length=25)
    assert isinstance(msg, StatusReport)
    assert (msg.smsc, msg.ref, msg.recipient, msg.status, msg.outcome) == ("", 0, "+20121875612", 0, Outcome.DELIVERED)
    plus_two = timezone(timedelta(hours=2))
    assert (msg.scts, msg.discharge) == (
        datetime(2007, 9, 12, 15, 10, 12, tzinfo=plus_two),
        datetime(2007, 9, 12, 15, 10, 17, tzinfo=plus_two),
    )
    assert decode(pdu, with_smsc=False) == msg
    assert decode("00" + pdu, tpdu_length=25) == msg  # the usual form: an empty service centre address
    # a length longer than the PDU is not believed: read with a service centre address, else without
    assert decode(pdu, tpdu_length=26) == msg


@pytest.mark.parametrize(
    "status, outcome",
    [(0x00, Outcome.DELIVERED), (0x01, Outcome.DELIVERED), (0x1F, Outcome.DELIVERED), (0x20, Outcome.PENDING),
     (0x3F, Outcome.PENDING), (0x40, Outcome.FAILED), (0x5F, Outcome.FAILED), (0x60, Outcome.FAILED),
     (0x7F, Outcome.FAILED), (0xFF, Outcome.FAILED)],
)  # fmt: skip
def test_tp_status_classes(status, outcome):
    assert status_outcome(status) is outcome


def test_status_texts():
    assert status_text(0x00) == "received by the recipient"
    assert status_text(0x46) == "validity period expired"
    assert status_text(0x62) == "no response from the recipient, no more attempts"
    assert status_text(0x10) == "delivered (status 0x10)"  # service-centre specific: its class


def test_gsm7_extension_characters_cost_two_septets():
    text = "€[]{}~^|\\"
    msg_hex = encode_submit("+123", text).hex
    udl_at = len("00" + "01" + "00" + "0391" + "21F3" + "0000") // 1
    assert int(msg_hex[udl_at : udl_at + 2], 16) == 18  # TP-UDL counts septets
    assert msg_hex[udl_at + 2 :] == pack(text.encode("gsm03.38")).hex().upper()
    assert decode(msg_hex).text == text


def test_fill_bits_after_the_six_byte_concatenation_header():
    # 6 header octets are 48 bits: the text starts after 1 fill bit, on septet 7
    pdu = encode_submit("+123", "hello", concat=Concat(0xAB, 2, 1))
    head = "00" + "41" + "00" + "0391" + "21F3" + "0000"  # no SMSC, SUBMIT with UDHI, MR, +123, PID, DCS
    assert pdu.hex.startswith(head)
    ud = pdu.hex[len(head) :]
    assert ud[:2] == "0C"  # 7 header septets + 5 text septets
    assert ud[2:14] == "050003AB0201"
    assert ud[14:] == pack(b"hello", 1).hex().upper() == "D06536FB0D"  # "hello" is E8329BFD06: one bit up
    msg = decode(pdu.hex)
    assert msg.text == "hello" and msg.concat == Concat(0xAB, 2, 1)
    assert encode_submit("+123", "hello", concat=(0xAB, 2, 1)) == pdu  # a plain (ref, total, seq) too


def test_sixteen_bit_concatenation_reference_decodes():
    when = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
    udh = bytes((0x08, 0x04, 0xBE, 0xEF, 0x03, 0x02))  # 7 octets with its length: no fill bits
    msg = decode(deliver_pdu("+4915112345678", "part two", when, ucs2=False, udh=udh))
    assert msg.concat == Concat(0xBEEF, 3, 2, ref_bits=16)
    assert msg.text == "part two"


def test_a_concatenation_element_out_of_range_is_ignored():
    when = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
    # TS 23.040 9.2.3.24.1: a zero count, a zero number or a number past the count
    for total, seq in ((0, 0), (3, 0), (3, 4)):
        msg = decode(deliver_pdu("+49151", "x", when, ucs2=False, udh=bytes((0, 3, 7, total, seq))))
        assert msg.concat is None and msg.udh[0].iei == 0 and msg.text == "x"


def test_application_ports():
    when = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
    msg = decode(deliver_pdu("+49151", "vcard", when, ucs2=True, udh=bytes((5, 4, 0x0B, 0x84, 0x23, 0xF0))))
    assert msg.ports == Ports(0x0B84, 0x23F0) and msg.text == "vcard"
    msg = decode(deliver_pdu("+49151", "x", when, ucs2=False, udh=bytes((4, 2, 0x10, 0x20))))
    assert msg.ports == Ports(0x10, 0x20)


def test_ucs2_with_an_emoji_costs_two_units():
    pdu = encode_submit("+123", "a😀")
    assert pdu.hex.endswith("06" + "0061D83DDE00")  # UDL 6 octets: 'a', then the surrogate pair
    assert decode(pdu.hex).text == "a😀"
    full = segment("😀" * 35)
    assert encode_submit_parts("+123", full)[0].hex.endswith("8C" + "D83DDE00" * 35)  # 140 octets


def test_a_split_surrogate_pair_shows_a_replacement_character():
    when = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
    pdu = deliver_pdu("+49151", "ab", when, ucs2=True)[:-4] + "D83D"  # 'a' then half of 😀
    assert decode(pdu).text == "a\ufffd"


def test_eight_bit_data():
    pdu = encode_submit("+123", bytes(range(140)))
    msg = decode(pdu.hex)
    assert msg.coding is DataCoding.DATA8 and msg.data == bytes(range(140)) and msg.text == ""
    with pytest.raises(PduError, match="141 bytes of user data"):
        encode_submit("+123", bytes(141))


def test_message_class_and_flags():
    msg = decode(encode_submit("123", "x", message_class=0, request_report=True, ref=77).hex)
    assert (msg.message_class, msg.request_report, msg.ref, msg.recipient_type) == (0, True, 77, Ton.UNKNOWN)
    assert decode(encode_submit("123", "x").hex).request_report is False


def test_smsc_prefix_and_tpdu_length():
    pdu = encode_submit("+46708251358", "hellohello", smsc="+447785016005")
    assert pdu.hex.startswith("0791447758100650")
    assert len(pdu.hex) // 2 - 8 == pdu.tpdu_length
    assert decode(pdu.hex).smsc == "+447785016005"


@pytest.mark.parametrize(
    "period, vp",
    [(timedelta(seconds=1), 0), (timedelta(minutes=5), 0), (timedelta(minutes=6), 1), (timedelta(hours=12), 143),
     (timedelta(hours=12, minutes=1), 144), (timedelta(hours=24), 167), (timedelta(hours=25), 168),
     (timedelta(days=2), 168), (timedelta(days=30), 196), (timedelta(days=31), 197), (timedelta(weeks=5), 197),
     (timedelta(weeks=63), 255), (timedelta(days=1000), 255)],
)  # fmt: skip
def test_relative_validity_rounds_up(period, vp):
    assert encode_relative_validity(period) == vp
    assert decode_relative_validity(vp) >= min(period, timedelta(weeks=63))


def test_absolute_validity():
    until = datetime(2026, 12, 24, 18, 30, tzinfo=timezone(timedelta(hours=-3, minutes=-30)))
    pdu = encode_submit("+123", "x", validity=until)
    assert pdu.hex[2:4] == "19"  # SUBMIT with TP-VPF 11: absolute
    assert decode(pdu.hex).validity == until
    assert decode(encode_submit("+123", "x", validity=datetime(2026, 1, 2, 3, 4, 5)).hex).validity == datetime(
        2026, 1, 2, 3, 4, 5, tzinfo=UTC
    )


def test_every_relative_validity_value_round_trips():
    for vp in range(256):
        assert encode_relative_validity(decode_relative_validity(vp)) == vp


def test_encode_refuses_what_it_cannot_send():
    with pytest.raises(PduError, match="not a phone number"):
        encode_submit("Bob", "x")
    with pytest.raises(PduError, match="at most 20"):
        encode_submit("1" * 21, "x")
    with pytest.raises(PduError, match="has no GSM-7 code"):
        encode_submit("1", "中", alphabet=Alphabet.GSM7)
    with pytest.raises(PduError, match="one SMS carries 140"):
        encode_submit("1", "a" * 161)
    with pytest.raises(PduError, match="one SMS carries 140"):
        encode_submit("1", "a" * 154, concat=Concat(1, 2, 1))
    with pytest.raises(PduError, match="concatenation needs"):
        encode_submit("1", "a", concat=Concat(1, 2, 3))
    with pytest.raises(PduError, match="TP-MR"):
        encode_submit("1", "a", ref=256)
    with pytest.raises(PduError, match="not valid Unicode .* at character 2"):
        encode_submit("1", "a\ud800")
    with pytest.raises(PduError, match="positive"):
        encode_submit("1", "a", validity=timedelta(0))


@pytest.mark.parametrize(
    "pdu, reason",
    [("", "empty"), ("0G", "hexadecimal"), ("001", "hexadecimal"), ("07", "ends inside the service centre address"),
     ("0003", "ends inside the sender address"),
     ("0011000B916407281553F80000AA0AE8329BFD4697D9EC", "ends inside the user data"),
     ("00440B916407281553F80000" + "42206101302000" + "0105" + "FF", "header is longer"),
     ("00440B916407281553F80004" + "42206101302000" + "04" + "03000500", "header ends inside the element 0x00")],
)  # fmt: skip
def test_unreadable_pdus_say_why(pdu, reason):
    with pytest.raises(PduError, match=reason):
        decode(pdu)


# --- vectors cross-checked with python-gammu (tests/protocol/data/make_pdu_vectors.py) -----------


@pytest.mark.parametrize("v", VECTORS["submit"], ids=lambda v: v["pdu"][:24])
def test_gammu_checked_submits(v):
    concat = Concat(*v["concat"]) if v["concat"] else None
    validity = timedelta(minutes=v["validity_minutes"]) if v["validity_minutes"] else None
    pdu = encode_submit(
        v["number"],
        v["text"],
        alphabet=Alphabet(v["alphabet"]),
        smsc=v["smsc"],
        concat=concat,
        request_report=v["request_report"],
        validity=validity,
        message_class=v["message_class"],
    )
    assert (pdu.hex, pdu.tpdu_length) == (v["pdu"], v["tpdu_length"])
    msg = decode(pdu.hex)
    assert isinstance(msg, Submit)
    assert (msg.recipient, msg.text, msg.concat, msg.request_report, msg.message_class, msg.smsc) == (
        v["number"],
        v["text"],
        concat,
        v["request_report"],
        v["message_class"],
        v["smsc"] or "",
    )


@pytest.mark.parametrize("v", VECTORS["deliver"], ids=lambda v: v["pdu"][:24])
def test_gammu_made_delivers(v):
    msg = decode(v["pdu"])
    assert isinstance(msg, Deliver)
    assert (msg.smsc, msg.sender, msg.sender_type.name.lower(), msg.text) == (
        v["smsc"],
        v["sender"],
        v["sender_type"],
        v["text"],
    )
    concat = Concat(*v["concat"]) if v["concat"] else None
    assert (msg.concat, msg.message_class) == (concat, v["message_class"])
    assert msg.scts == datetime.fromisoformat(v["scts"])


# --- round trips -----------------------------------------------------------------------------------

numbers = st.from_regex(r"\+?[0-9]{1,20}", fullmatch=True)
gsm_text = st.text(st.sampled_from(GSM_CHARS), min_size=0, max_size=200)
any_text = st.text(st.characters(codec="utf-8"), min_size=0, max_size=120)


@settings(max_examples=300, deadline=None)
@given(
    number=numbers,
    text=st.one_of(gsm_text, any_text),
    ref=st.integers(0, 255),
    report=st.booleans(),
    validity=st.none() | st.sampled_from([timedelta(minutes=5), timedelta(hours=12), timedelta(days=3)]),
    smsc=st.none() | st.from_regex(r"\+[0-9]{5,15}", fullmatch=True),
    concat_ref=st.integers(0, 255),
)
def test_submit_round_trip(number, text, ref, report, validity, smsc, concat_ref):
    s = segment(text)
    pdus = encode_submit_parts(number, s, concat_ref=concat_ref, smsc=smsc, request_report=report, validity=validity)
    assert len(pdus) == s.count
    got = []
    for seq, pdu in enumerate(pdus, 1):
        assert len(pdu.hex) // 2 - pdu.tpdu_length == (1 if smsc is None else 1 + 1 + (len(smsc) - 1 + 1) // 2)
        msg = decode(pdu.hex)
        assert isinstance(msg, Submit)
        assert (msg.recipient, msg.request_report, msg.validity, msg.smsc) == (number, report, validity, smsc or "")
        assert msg.concat == (Concat(concat_ref, s.count, seq) if s.count > 1 else None)
        assert msg.coding is (DataCoding.GSM7 if s.alphabet is Alphabet.GSM7 else DataCoding.UCS2)
        got.append(msg.text)
    assert "".join(got) == s.text


@settings(max_examples=300, deadline=None)
@given(
    sender=numbers | st.text(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefgh @._"), min_size=1, max_size=11),
    text=st.one_of(gsm_text, any_text),
    when=st.datetimes(datetime(1990, 1, 1), datetime(2089, 12, 31)),
    quarters=st.integers(-79, 79),
    concat=st.none() | st.tuples(st.integers(0, 0xFFFF), st.integers(1, 255), st.booleans()),
    smsc=st.sampled_from(["", "+491710760000", "+4477850160051"]),
)  # fmt: skip
@example(sender="A", text="", when=datetime(2000, 1, 1), quarters=0, concat=None, smsc="")
def test_deliver_from_a_test_side_encoder(sender, text, when, quarters, concat, smsc):
    when = when.replace(microsecond=0, tzinfo=timezone(timedelta(minutes=15 * quarters)))
    ucs2 = not all(c in _BASIC or c in _EXTENSION for c in text)
    assume(len(text.encode("utf-16-be")) <= 132 if ucs2 else len(text.encode("gsm03.38")) <= 152)
    udh = b""
    expected_concat = None
    if concat:
        ref, total, sixteen = concat
        if sixteen:
            udh, expected_concat = bytes((8, 4, ref >> 8, ref & 0xFF, total, total)), Concat(ref, total, total, 16)
        else:
            udh, expected_concat = bytes((0, 3, ref & 0xFF, total, 1)), Concat(ref & 0xFF, total, 1)
    msg = decode(deliver_pdu(sender, text, when, ucs2=ucs2, udh=udh, smsc=smsc))
    assert isinstance(msg, Deliver)
    assert (msg.sender, msg.text, msg.scts, msg.concat, msg.smsc) == (sender, text, when, expected_concat, smsc)
    assert msg.coding is (DataCoding.UCS2 if ucs2 else DataCoding.GSM7)
    is_number = sender.lstrip("+").isdigit()
    expected_type = Ton.ALPHANUMERIC if not is_number else Ton.INTERNATIONAL if sender[0] == "+" else Ton.UNKNOWN
    assert msg.sender_type is expected_type


# --- hostile input ---------------------------------------------------------------------------------


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=200), st.booleans())
def test_random_bytes_are_a_pdu_error_or_a_message(raw, with_smsc):
    try:
        msg = decode(raw.hex(), with_smsc=with_smsc)
    except PduError as e:
        assert str(e)
    else:
        assert isinstance(msg, Deliver | Submit | StatusReport)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([v["pdu"] for v in VECTORS["deliver"][:40] + VECTORS["submit"][:40]]), st.data())
def test_truncated_or_damaged_pdus(pdu, data):
    raw = bytearray.fromhex(pdu)
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(PduError):
        decode(raw[:cut].hex())
    at = data.draw(st.integers(0, len(raw) - 1))
    raw[at] = data.draw(st.integers(0, 255))
    try:
        decode(raw.hex())
    except PduError:
        pass
