"""The SMPP server in front of a gateway: binds, submit_sm to receipts, received SMS, bad PDUs."""

from __future__ import annotations

import struct

import pytest

from ejoin.protocol.smpp import (
    Bind,
    CancelSm,
    Command,
    Empty,
    MessageState,
    QuerySm,
    QuerySmResp,
    SmResp,
    Status,
    Tag,
    tlv,
)
from ejoin.smpp.store import TID_BASE

from .conftest import delivered


def receipt_fields(text: bytes) -> dict[str, str]:
    out = {}
    for word in text.decode().replace("submit date", "submit_date").replace("done date", "done_date").split(" "):
        key, _, value = word.partition(":")
        out[key] = value
    return out


async def test_a_wrong_password_or_system_id_is_refused_with_its_code(smpp_device, esmes):
    dev = await smpp_device(smpp_accounts=[{"system_id": "kannel", "password": "secret"}])
    assert (await (await esmes(dev.smpp_port)).bind(system_id="root", password="nope")).status == Status.ESME_RINVPASWD
    assert (await (await esmes(dev.smpp_port)).bind(system_id="who", password="x")).status == Status.ESME_RINVSYSID
    ok = await (await esmes(dev.smpp_port)).bind(Command.BIND_TRANSMITTER, "kannel", "secret")
    assert ok.status == Status.ESME_ROK and ok.command == Command.BIND_TRANSMITTER_RESP


async def test_submit_sm_is_a_task_of_one_recipient_and_its_receipt_comes_back(smpp_device, esmes):
    dev = await smpp_device()
    esme = await esmes(dev.smpp_port)
    await esme.bind()
    message_id = await esme.submit(b"Hello SMPP", to="4915112345678", dest_addr_ton=1)
    view = dev.gw.sending.task(TID_BASE + int(message_id))
    assert view is not None and view.spec.text == "Hello SMPP"
    assert view.sent + view.failed + view.sending + view.unsent == 1  # one recipient
    task = dev.gw.sending._tasks[TID_BASE + int(message_id)]
    assert await task.all_numbers() == ["+4915112345678"]
    receipt = await delivered(dev, esme)
    assert receipt.esm_class == 0x04
    fields = receipt_fields(receipt.short_message)
    assert (fields["id"], fields["stat"], fields["err"], fields["dlvrd"]) == (message_id, "DELIVRD", "000", "001")
    assert fields["text"] == "Hello"  # the text field is cut at the first space by this reading
    assert tlv(receipt.tlvs, Tag.RECEIPTED_MESSAGE_ID) == message_id.encode() + b"\x00"
    assert tlv(receipt.tlvs, Tag.MESSAGE_STATE) == bytes((MessageState.DELIVERED,))
    query = await esme.call(QuerySm(Command.QUERY_SM, esme.next_sequence(), 0, message_id))
    assert isinstance(query, QuerySmResp) and query.message_state == MessageState.DELIVERED and query.final_date


async def test_long_sms_parts_are_joined_into_one_sms_and_each_part_gets_its_receipt(smpp_device, esmes):
    dev = await smpp_device()
    esme = await esmes(dev.smpp_port)
    await esme.bind()
    ids = []
    for seq, text in ((1, b"first half "), (2, b"second half")):
        udh = bytes((5, 0x00, 3, 0x42, 2, seq))
        ids.append(await esme.submit(udh + text, esm_class=0x40))
    assert ids[0] != ids[1]
    texts = [v.spec.text for v in dev.gw.sending.open_tasks()]
    assert texts == ["first half second half"]
    receipts = {receipt_fields((await delivered(dev, esme)).short_message)["id"] for _ in ids}
    assert receipts == set(ids)


@pytest.mark.parametrize(
    ("coding", "octets", "text", "ucs2"),
    [
        (8, "Привет 👋".encode("utf-16-be"), "Привет 👋", True),
        (3, "café".encode("latin-1"), "café", False),
        (0, bytes((0x00, 0x02, 0x1B, 0x65)), "@$€", False),  # GSM 03.38: @, $, escape + e (euro)
    ],
)
async def test_data_codings(smpp_device, esmes, coding, octets, text, ucs2):
    dev = await smpp_device(settle=False)
    esme = await esmes(dev.smpp_port)
    await esme.bind()
    message_id = await esme.submit(octets, data_coding=coding)
    view = dev.gw.sending.task(TID_BASE + int(message_id))
    assert view.spec.text == text and (view.spec.coding == 1) == ucs2


async def test_message_payload_carries_a_long_text(smpp_device, esmes):
    dev = await smpp_device(settle=False)
    esme = await esmes(dev.smpp_port)
    await esme.bind()
    long = "x" * 400
    message_id = await esme.submit(b"", tlvs=((Tag.MESSAGE_PAYLOAD, long.encode()),))
    assert dev.gw.sending.task(TID_BASE + int(message_id)).spec.text == long


async def test_refusals_say_why(smpp_device, esmes):
    dev = await smpp_device(settle=False)
    esme = await esmes(dev.smpp_port)
    await esme.bind(Command.BIND_RECEIVER)
    assert (await esme.call(esme.submit_pdu())).status == Status.ESME_RINVBNDSTS  # a receiver does not submit
    esme2 = await esmes(dev.smpp_port)
    assert (await esme2.call(esme2.submit_pdu())).status == Status.ESME_RINVBNDSTS  # not bound
    await esme2.bind()
    assert (await esme2.call(esme2.submit_pdu(to="not a number"))).status == Status.ESME_RINVDSTADR
    assert (await esme2.call(esme2.submit_pdu(b"\x01\x02", data_coding=4))).status == Status.ESME_RSUBMITFAIL
    assert (await esme2.call(esme2.submit_pdu(b""))).status == Status.ESME_RINVMSGLEN
    assert dev.gw.sending.task_count() == 0


async def test_malformed_pdus_get_a_generic_nack_and_the_session_goes_on(smpp_device, esmes):
    dev = await smpp_device(settle=False)
    esme = await esmes(dev.smpp_port)
    await esme.bind()
    cut = esme.submit_pdu().encode()[:30]
    esme.write(struct.pack(">I", len(cut)) + cut[4:])
    unknown = Empty(0x00000077, esme.next_sequence(), 0)
    nack = await esme.call(unknown)
    assert nack.command == Command.GENERIC_NACK and nack.status == Status.ESME_RINVCMDID
    assert esme.nacks and esme.nacks[0].status == Status.ESME_RINVMSGLEN
    link = await esme.call(Empty(Command.ENQUIRE_LINK, esme.next_sequence(), 0))
    assert link.command == Command.ENQUIRE_LINK_RESP
    assert (await esme.call(esme.submit_pdu())).status == Status.ESME_ROK


async def test_an_impossible_length_ends_only_that_session(smpp_device, esmes):
    dev = await smpp_device(settle=False)
    bad, good = await esmes(dev.smpp_port), await esmes(dev.smpp_port)
    await good.bind()
    bad.write(struct.pack(">IIII", 5, Command.ENQUIRE_LINK, 0, 1))
    await bad._task  # the server closes it
    assert (await good.call(Empty(Command.ENQUIRE_LINK, good.next_sequence(), 0))).status == 0


async def test_past_the_window_and_past_an_accounts_throughput_requests_are_throttled(smpp_device, esmes):
    dev = await smpp_device(
        settle=False, smpp_window=1, smpp_accounts=[{"system_id": "slow", "password": "pw", "throughput": 1}]
    )
    esme = await esmes(dev.smpp_port)
    await esme.bind()
    first, second = esme.request(esme.submit_pdu()), esme.request(esme.submit_pdu())  # one write each, no wait
    assert (await second).status == Status.ESME_RTHROTTLED
    assert (await first).status == Status.ESME_ROK
    slow = await esmes(dev.smpp_port)
    await slow.bind(system_id="slow", password="pw")
    assert (await slow.call(slow.submit_pdu())).status == Status.ESME_ROK
    assert (await slow.call(slow.submit_pdu())).status == Status.ESME_RTHROTTLED
    await dev.clock.advance(1.0)
    assert (await slow.call(slow.submit_pdu())).status == Status.ESME_ROK


async def test_cancel_sm_withdraws_a_waiting_message_and_its_receipt_says_deleted(smpp_device, esmes):
    dev = await smpp_device(settle=False)  # no module registered yet: the task waits
    esme = await esmes(dev.smpp_port)
    await esme.bind()
    message_id = await esme.submit()
    query = await esme.call(QuerySm(Command.QUERY_SM, esme.next_sequence(), 0, message_id))
    assert query.message_state == MessageState.ENROUTE and query.final_date == ""
    cancel = await esme.call(CancelSm(Command.CANCEL_SM, esme.next_sequence(), 0, message_id=message_id))
    assert cancel.command == Command.CANCEL_SM_RESP and cancel.status == Status.ESME_ROK
    fields = receipt_fields((await delivered(dev, esme)).short_message)
    assert (fields["id"], fields["stat"], fields["err"]) == (message_id, "DELETED", "008")
    again = await esme.call(CancelSm(Command.CANCEL_SM, esme.next_sequence(), 0, message_id=message_id))
    assert again.status == Status.ESME_RCANCELFAIL
    other = await esmes(dev.smpp_port)
    await other.bind()
    unknown = await other.call(QuerySm(Command.QUERY_SM, other.next_sequence(), 0, "999999"))
    assert unknown.status == Status.ESME_RQUERYFAIL


async def test_received_sms_go_to_receivers_in_turn(smpp_device, esmes, aiohttp_client):
    dev = await smpp_device()
    a, b, tx = await esmes(dev.smpp_port), await esmes(dev.smpp_port), await esmes(dev.smpp_port)
    await a.bind(Command.BIND_RECEIVER)
    await b.bind(Command.BIND_TRANSCEIVER)
    await tx.bind(Command.BIND_TRANSMITTER)
    for i in range(4):
        answer = await dev.get("/sim/inbound", port="1.01", sender="+4917000000", text=f"hello {i} 日本")
        assert answer["code"] == 0
    got = [await delivered(dev, esme) for esme in (a, b, a, b)]
    assert sorted(p.short_message for p in got) == sorted(f"hello {i} 日本".encode("utf-16-be") for i in range(4))
    assert all(p.data_coding == 8 and p.source_addr == "4917000000" and p.esm_class == 0 for p in got)
    assert tx.delivered.empty()


async def test_a_receipt_waits_for_its_accounts_receiver_and_survives_a_restart(smpp_device, esmes, tmp_path):
    dev = await smpp_device(smpp_accounts=[{"system_id": "acct", "password": "pw"}])
    tx = await esmes(dev.smpp_port)
    await tx.bind(Command.BIND_TRANSMITTER, "acct", "pw")
    message_id = await tx.submit()
    await dev.until(lambda: dev.smpp.deliveries.waiting == 1, what="the receipt queued")
    await dev.gw.stop()
    port = dev.smpp_port
    dev2 = await smpp_device(smpp_port=port, smpp_accounts=[{"system_id": "acct", "password": "pw"}])
    other = await esmes(port)
    await other.bind(Command.BIND_RECEIVER)  # the device's account: not this receipt's
    rx = await esmes(port)
    await rx.bind(Command.BIND_RECEIVER, "acct", "pw")
    fields = receipt_fields((await delivered(dev2, rx)).short_message)
    assert (fields["id"], fields["stat"]) == (message_id, "DELIVRD")
    assert other.delivered.empty()
    next_id = await tx_submit_after_restart(port, esmes)
    assert int(next_id) > int(message_id)  # message ids are never given twice


async def tx_submit_after_restart(port, esmes) -> str:
    esme = await esmes(port)
    await esme.bind()
    return await esme.submit()


async def test_unbind_is_answered_and_closes(smpp_device, esmes):
    dev = await smpp_device(settle=False)
    esme = await esmes(dev.smpp_port)
    await esme.bind()
    answer = await esme.call(Empty(Command.UNBIND, esme.next_sequence(), 0))
    assert answer.command == Command.UNBIND_RESP
    await esme._task
    assert not dev.smpp.sessions


async def test_binding_twice_is_refused(smpp_device, esmes):
    dev = await smpp_device(settle=False)
    esme = await esmes(dev.smpp_port)
    await esme.bind()
    again = await esme.call(Bind(Command.BIND_TRANSCEIVER, esme.next_sequence(), 0, system_id="root", password="root"))
    assert again.status == Status.ESME_RALYBND
    assert isinstance(await esme.call(esme.submit_pdu()), SmResp)
