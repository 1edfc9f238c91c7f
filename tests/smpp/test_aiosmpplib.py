"""The gateway behind SMPP, driven by an independent asyncio client (aiosmpplib, PyPI): both binds
(a transmitter beside a receiver, and one transceiver) and both directions — submit_sm with its
message id and receipt (a long SMS split into UDH parts by the library), a received SMS as a
deliver_sm."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiosmpplib import ESME, AbstractHook, BindMode, DeliverSm, PhoneNumber, SmppCommandStatus, SubmitSm, SubmitSmResp

from ejoin.smpp.store import TID_BASE

LONG = "A long SMS through aiosmpplib, in more than one part: " * 4  # 208 GSM characters: two UDH parts


class Hook(AbstractHook):
    """What the library hands the application: every message it received, in order."""

    def __init__(self) -> None:
        self.got: asyncio.Queue[Any] = asyncio.Queue()
        self.errors: list[BaseException] = []

    async def sending(self, smpp_message: Any, pdu: bytes, client_id: str) -> None:
        pass

    async def received(self, smpp_message: Any, pdu: bytes, client_id: str) -> None:
        if isinstance(smpp_message, (SubmitSmResp, DeliverSm)):
            await self.got.put(smpp_message)

    async def send_error(self, smpp_message: Any, error: BaseException, client_id: str) -> None:
        self.errors.append(error)


class Client:
    def __init__(self, port: int, mode: BindMode, system_id: str = "root", password: str = "root") -> None:
        self.hook = Hook()
        self.esme = ESME(
            "127.0.0.1",
            port,
            system_id,
            password,
            bind_mode=mode,
            hook=self.hook,
            log_level=logging.WARNING,
            socket_timeout=5.0,
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> Client:
        await self.esme.connect()  # raises if the bind is refused
        self._task = asyncio.ensure_future(self.esme.start())
        return self

    async def stop(self) -> None:
        await self.esme.stop()
        if self._task is not None:
            await asyncio.wait_for(self._task, 10)

    async def send(self, text: str, log_id: str) -> None:
        message = SubmitSm(
            short_message=text,
            source=PhoneNumber("ejoin"),
            destination=PhoneNumber("+4915112345678"),
            esm_class=0b01000000,  # UDH: the library splits a long text into concatenated parts
            auto_message_payload=False,
            registered_delivery=1,
            log_id=log_id,
        )
        await self.esme.broker.enqueue(message)


async def next_message(dev: Any, client: Client, kind: type, within: float = 60.0) -> Any:
    """The next message of ``kind`` the client's application is given; simulated time passes meanwhile
    (the modules send, reports flush), the client's real I/O in between."""
    took = 0.0
    while True:
        try:
            message = await asyncio.wait_for(client.hook.got.get(), 0.01)
        except TimeoutError:
            assert took < within, f"no {kind.__name__} (errors: {client.hook.errors})"
            await dev.clock.advance(0.5)
            took += 0.5
            continue
        if isinstance(message, kind):
            return message


async def inbound(dev: Any, text: str) -> None:
    answer = await dev.get("/sim/inbound", port="1.01", sender="+4917000000", text=text)
    assert answer["code"] == 0


async def test_transmitter_and_receiver_binds_of_aiosmpplib(smpp_device):
    dev = await smpp_device(ports=2, slots=1)
    tx = await Client(dev.smpp_port, BindMode.TRANSMITTER).start()
    rx = await Client(dev.smpp_port, BindMode.RECEIVER).start()
    try:
        await tx.send(LONG, "long-1")
        resp = await next_message(dev, tx, SubmitSmResp)
        assert resp.command_status == SmppCommandStatus.ESME_ROK and resp.message_id.isdigit()
        assert resp.log_id == "long-1"  # both parts answered: the library joins them for its application
        receipts = [(await next_message(dev, rx, DeliverSm)).parse_receipt() for _ in range(2)]  # one a part
        assert [r["stat"] for r in receipts] == ["DELIVRD", "DELIVRD"]
        assert resp.message_id in {r["id"] for r in receipts} and receipts[0]["id"] != receipts[1]["id"]
        await inbound(dev, "an SMS for the receiver")
        sms = await next_message(dev, rx, DeliverSm)
        assert not sms.is_receipt() and sms.short_message == "an SMS for the receiver"
        assert sms.source.number == "4917000000"
        stored = await dev.smpp.store.status("root", int(resp.message_id))
        (task,) = await dev.gw.store.tasks_closed([TID_BASE + stored.sms])
        assert task.n == 1 and LONG.encode() in task.spec  # the parts joined: one SMS to one recipient
        assert tx.hook.errors == [] and rx.hook.errors == []
    finally:
        await asyncio.gather(tx.stop(), rx.stop())  # the library gives its tasks 0.5 s each to end


async def test_a_transceiver_bind_of_aiosmpplib_sends_and_receives(smpp_device):
    dev = await smpp_device(ports=2, slots=1, smpp_accounts=[{"system_id": "aiosmpp", "password": "secret"}])
    trx = await Client(dev.smpp_port, BindMode.TRANSCEIVER, "aiosmpp", "secret").start()
    try:
        await trx.send("short and sweet", "short-1")
        resp = await next_message(dev, trx, SubmitSmResp)
        assert resp.command_status == SmppCommandStatus.ESME_ROK
        receipt = await next_message(dev, trx, DeliverSm)
        fields = receipt.parse_receipt()
        assert (fields["id"], fields["stat"], fields["err"]) == (resp.message_id, "DELIVRD", 0)
        assert receipt.log_id == "short-1"  # the library matched the receipt with its message
        await inbound(dev, "Grüße 日本")  # UCS-2 on the way back
        sms = await next_message(dev, trx, DeliverSm)
        assert not sms.is_receipt() and sms.short_message == "Grüße 日本"
        assert trx.hook.errors == []
    finally:
        await trx.stop()


async def test_aiosmpplib_is_refused_a_wrong_password(smpp_device):
    dev = await smpp_device(settle=False)
    client = Client(dev.smpp_port, BindMode.TRANSCEIVER, "root", "wrong")
    try:
        await client.esme.connect()
    except Exception as exc:  # the library raises SmppError with the status it was answered
        assert getattr(exc, "command_status", None) == SmppCommandStatus.ESME_RINVPASWD
    else:
        raise AssertionError("bound with a wrong password")
