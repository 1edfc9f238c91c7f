"""The AT line classifier: bytes cut anywhere in, the same events out."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ejoin.protocol.at import (
    Answers,
    Echo,
    Final,
    FinalKind,
    Line,
    LineReader,
    Noise,
    Prompt,
    Urc,
    dial_string,
    parse_final,
    quoted,
    split_args,
)

CMT_PDU = "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07"

# An answer to AT+CMGL with URCs and noise arriving in the middle of it, then a prompt.
STREAM = (
    b"AT+CMGL=4\r\r\n"
    b"+CMGL: 1,0,,10\r\n0791447758100650040C9144\r\n"
    b'\r\n+CMTI: "SM",5\r\n'
    b"\r\n^RSSI: 17\r\n"
    b"\r\n+CMT: ,26\r\n" + CMT_PDU.encode() + b"\r\n"
    b'\r\n+CDSI: "SR",2\r\n'
    b'\r\n+CREG: 1,"1A2B","00C3"\r\n'
    b"\r\nRING\r\n"
    b"\xff\xfe\x00junk\r\n"
    b"\r\nOK\r\n"
    b"\r\n+CMS ERROR: 38\r\n"
    b"\r\n> "
)

EXPECTED = [
    Echo("AT+CMGL=4"),
    Line("+CMGL: 1,0,,10"),
    Line("0791447758100650040C9144"),
    Urc("+CMTI", '"SM",5'),
    Urc("^RSSI", "17"),
    Urc("+CMT", ",26", CMT_PDU),
    Urc("+CDSI", '"SR",2'),
    Urc("+CREG", '1,"1A2B","00C3"'),
    Urc("RING", ""),
    Noise("\xff\xfe\x00junk"),
    Final(FinalKind.OK, text="OK"),
    Final(FinalKind.CMS, 38, "38"),
    Prompt(),
]


CMGL = Answers.of("+CMGL", pdu=True)


def run(chunks: list[bytes], expect: Answers | None = CMGL) -> list:
    reader = LineReader()
    reader.expect = expect
    events = []
    for chunk in chunks:
        events += reader.feed(chunk)
    return events


def test_one_read_gives_every_event_in_order():
    assert run([STREAM]) == EXPECTED


def test_every_single_cut_gives_the_same_events():
    for cut in range(1, len(STREAM)):
        assert run([STREAM[:cut], STREAM[cut:]]) == EXPECTED, cut


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_any_chunking_gives_the_same_events(cuts):
    points = sorted(set(cuts))
    chunks = [STREAM[a:b] for a, b in zip([0, *points], [*points, len(STREAM)], strict=True)]
    assert run(chunks) == EXPECTED


def test_byte_by_byte():
    assert run([bytes((b,)) for b in STREAM]) == EXPECTED


def test_the_answer_prefix_decides_between_answer_and_urc():
    assert run([b"\r\n+CREG: 2,1\r\n"], expect=Answers.of("+CREG")) == [Line("+CREG: 2,1")]
    assert run([b"\r\n+CREG: 1\r\n"], expect=None) == [Urc("+CREG", "1")]


def test_a_prompt_waits_for_its_space():
    reader = LineReader()
    assert reader.feed(b"\r\n>") == []
    assert reader.feed(b" ") == [Prompt()]


@pytest.mark.parametrize("after", [b'\r\n+CMTI: "SM",3\r\n', b'+CMTI: "SM",3\r\n'])
def test_a_prompt_with_an_unsolicited_line_right_after_it_is_still_the_prompt(after):
    # A module that prints a +CMTI while it waits for the PDU, read in the same chunk as the prompt.
    for cut in range(len(after) + 4):
        wire = b"\r\n> " + after
        reader = LineReader()
        reader.prompting = True  # the channel says so for AT+CMGS
        events = reader.feed(wire[:cut]) + reader.feed(wire[cut:])
        assert events == [Prompt(), Urc("+CMTI", '"SM",3')], cut


@pytest.mark.parametrize(
    ("text", "final"),
    [
        ("OK", Final(FinalKind.OK, text="OK")),
        ("ERROR", Final(FinalKind.ERROR, text="ERROR")),
        ("+CME ERROR: 10", Final(FinalKind.CME, 10, "10")),
        ("+CME ERROR: SIM busy", Final(FinalKind.CME, None, "SIM busy")),
        ("+CMS ERROR: 500", Final(FinalKind.CMS, 500, "500")),
        ("COMMAND NOT SUPPORT", Final(FinalKind.NOT_SUPPORTED, text="COMMAND NOT SUPPORT")),
        ("NO CARRIER", Final(FinalKind.NO_CARRIER, text="NO CARRIER")),
        ("+CMGS: 4", None),
    ],
)
def test_final_results(text, final):
    assert parse_final(text) == final


def test_numbers_reach_a_module_sanitised():
    assert dial_string("+49 (151) 123-45") == "+4915112345"
    for bad in ('123"', "12\r\nAT+CFUN=0", "12\x1a", "", "abc"):
        with pytest.raises(ValueError):
            dial_string(bad)


def test_quoted_refuses_what_would_end_a_command():
    assert quoted("*100#") == '"*100#"'
    for bad in ('a"b', "a\rb", "a\nb", "\x1a", "\x1b"):
        with pytest.raises(ValueError):
            quoted(bad)


def test_split_args_keeps_commas_inside_quotes():
    assert split_args('"SM",3') == ["SM", "3"]
    assert split_args('0,"a,b",15') == ["0", "a,b", "15"]


def test_a_ussd_string_over_several_lines_keeps_its_line_breaks_and_spaces_in_any_chunks():
    wire = b'\r\n+CUSD: 1,"Menu \r\n1. One\n2. Two ",15\r\nOK\r\n'
    for cut in range(1, len(wire)):
        reader = LineReader()
        events = reader.feed(wire[:cut]) + reader.feed(wire[cut:])
        urcs = [e for e in events if isinstance(e, Urc)]
        assert len(urcs) == 1 and split_args(urcs[0].args) == ["1", "Menu \r\n1. One\n2. Two ", "15"], cut


def test_split_args_trims_around_fields_not_inside_quotes():
    assert split_args(' "SM" , 3') == ["SM", "3"]
    assert split_args('0,"  two  spaces  ",15') == ["0", "  two  spaces  ", "15"]
    assert split_args("1, 2, 0001, 00000100, 7") == ["1", "2", "0001", "00000100", "7"]
