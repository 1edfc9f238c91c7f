"""The SMPP 3.4 codec: round trips, framing of any chunking, and no exception but FramingError on any bytes."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ejoin.protocol import smpp
from ejoin.protocol.smpp import (
    Bind,
    BindResp,
    CancelSm,
    Command,
    Empty,
    FramingError,
    GenericNack,
    Malformed,
    PduReader,
    QuerySm,
    QuerySmResp,
    RawPdu,
    ShortMessage,
    SmResp,
    Status,
    decode,
    response_to,
)


def cstr(most: int) -> st.SearchStrategy[str]:
    return st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=most - 1)


octet = st.integers(0, 255)
seq = st.integers(1, 0x7FFFFFFF)
tlvs = st.lists(st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=40)), max_size=4).map(tuple)

pdus = st.one_of(
    st.builds(
        Bind,
        st.sampled_from([Command.BIND_RECEIVER, Command.BIND_TRANSMITTER, Command.BIND_TRANSCEIVER]),
        seq,
        st.just(0),
        cstr(16),
        cstr(9),
        cstr(13),
        octet,
        octet,
        octet,
        cstr(41),
    ),
    st.builds(BindResp, st.just(Command.BIND_TRANSCEIVER_RESP), seq, st.just(0), cstr(16), tlvs),
    st.builds(
        ShortMessage,
        st.sampled_from([Command.SUBMIT_SM, Command.DELIVER_SM]),
        seq,
        st.just(0),
        cstr(6),
        octet,
        octet,
        cstr(21),
        octet,
        octet,
        cstr(21),
        octet,
        octet,
        octet,
        cstr(17),
        cstr(17),
        octet,
        octet,
        octet,
        octet,
        st.binary(max_size=254),
        tlvs,
    ),
    st.builds(SmResp, st.sampled_from([Command.SUBMIT_SM_RESP, Command.DELIVER_SM_RESP]), seq, st.just(0), cstr(65)),
    st.builds(QuerySm, st.just(Command.QUERY_SM), seq, st.just(0), cstr(65), octet, octet, cstr(21)),
    st.builds(QuerySmResp, st.just(Command.QUERY_SM_RESP), seq, st.just(0), cstr(65), cstr(17), octet, octet),
    st.builds(
        CancelSm,
        st.just(Command.CANCEL_SM),
        seq,
        st.just(0),
        cstr(6),
        cstr(65),
        octet,
        octet,
        cstr(21),
        octet,
        octet,
        cstr(21),
    ),
    st.builds(
        Empty,
        st.sampled_from([Command.UNBIND, Command.UNBIND_RESP, Command.ENQUIRE_LINK, Command.ENQUIRE_LINK_RESP]),
        seq,
        st.just(0),
    ),
    st.builds(GenericNack, st.just(Command.GENERIC_NACK), seq, st.sampled_from(list(Status))),
    st.builds(RawPdu, st.sampled_from([Command.DATA_SM, 0x1234]), seq, st.just(0), st.binary(max_size=30)),
)


@given(pdus)
def test_every_pdu_decodes_to_itself(pdu):
    data = pdu.encode()
    assert struct.unpack(">I", data[:4])[0] == len(data)
    assert decode(data) == pdu


@given(st.lists(pdus, min_size=1, max_size=6), st.data())
@settings(max_examples=50)
def test_a_stream_in_any_chunks_gives_the_same_pdus(items, data):
    stream = b"".join(p.encode() for p in items)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    reader = PduReader()
    out = []
    for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        reader.feed(stream[a:b])
        while (pdu := reader.next()) is not None:
            out.append(pdu)
    assert out == items
    assert reader.buffered == 0


@given(st.binary(max_size=300))
def test_any_bytes_give_pdus_malformed_or_a_framing_error(junk):
    reader = PduReader(max_length=1000)
    reader.feed(junk)
    try:
        while (pdu := reader.next()) is not None:
            assert isinstance(pdu, (smpp.Pdu, Malformed))
    except FramingError as exc:
        assert exc.why


@given(st.integers(0, 0xFFFFFFFF), seq, st.binary(max_size=80))
def test_a_known_header_with_any_body_never_raises(command, sequence, body):
    data = struct.pack(">IIII", 16 + len(body), command, 0, sequence) + body
    result = decode(data)
    assert result.sequence == sequence


def test_a_short_message_without_its_nul_is_malformed_with_the_sequence_to_answer():
    good = ShortMessage(
        Command.SUBMIT_SM, 7, 0, source_addr="123", destination_addr="456", short_message=b"hi"
    ).encode()
    cut = good[:20]  # service_type and source_addr_ton... then it stops
    cut = struct.pack(">I", len(cut)) + cut[4:]
    result = decode(cut)
    assert isinstance(result, Malformed)
    assert (result.command, result.sequence, result.status) == (Command.SUBMIT_SM, 7, Status.ESME_RINVMSGLEN)


def test_a_system_id_past_its_length_is_refused_as_a_parameter_length():
    bind = Bind(Command.BIND_TRANSMITTER, 1, 0, system_id="x" * 15, password="p").encode()
    too_long = bind.replace(b"x" * 15, b"x" * 20)
    too_long = struct.pack(">I", len(too_long)) + too_long[4:]
    result = decode(too_long)
    assert isinstance(result, Malformed) and result.status == Status.ESME_RINVPARLEN


def test_a_cut_tlv_is_an_optional_parameter_stream_error():
    pdu = ShortMessage(Command.SUBMIT_SM, 3, 0, destination_addr="1", tlvs=((0x0424, b"abc"),)).encode()
    cut = pdu[:-1]
    cut = struct.pack(">I", len(cut)) + cut[4:]
    result = decode(cut)
    assert isinstance(result, Malformed) and result.status == Status.ESME_RINVOPTPARSTREAM


@pytest.mark.parametrize("length", [0, 8, 15, 1_000_000])
def test_an_impossible_command_length_is_a_framing_error(length):
    reader = PduReader(max_length=70_000)
    reader.feed(struct.pack(">IIII", length, Command.ENQUIRE_LINK, 0, 1))
    with pytest.raises(FramingError):
        reader.next()


def test_a_refusal_has_no_body():
    refusal = Empty(Command.SUBMIT_SM_RESP, 9, Status.ESME_RTHROTTLED)
    assert len(refusal.encode()) == 16
    assert decode(refusal.encode()) == refusal


def test_responses_of_requests():
    assert response_to(Command.SUBMIT_SM) == Command.SUBMIT_SM_RESP
    assert response_to(Command.ENQUIRE_LINK) == Command.ENQUIRE_LINK_RESP
    assert response_to(0x4444) == Command.GENERIC_NACK
    assert response_to(Command.OUTBIND) == Command.GENERIC_NACK  # a client never sends it to an SMSC
    assert response_to(Command.SUBMIT_SM_RESP) == Command.GENERIC_NACK


def test_a_submit_sm_as_smpplib_writes_it():
    # smpplib 2.2.4's encoding of submit_sm(source_addr="ejoin", destination_addr="4915112345678", "Hi",
    # registered_delivery=1), sequence 2, captured from the library on this machine
    data = bytes.fromhex(
        "00000035000000040000000000000002000500656a6f696e0001013439313531313233343536373800000000000001000000024869"
    )
    pdu = decode(data)
    assert isinstance(pdu, ShortMessage)
    assert (pdu.source_addr, pdu.destination_addr, pdu.short_message) == ("ejoin", "4915112345678", b"Hi")
    assert pdu.registered_delivery == 1 and pdu.dest_addr_ton == 1
