"""A small asyncio ESME on the project's codec, for tests that need exact PDUs (malformed ones too).

The independent clients (smpplib, aiosmpplib, Kannel) are used where the point is that
another implementation works with the server.
"""

from __future__ import annotations

import asyncio
import itertools
import socket

from ejoin.protocol.smpp import Bind, Command, Empty, Pdu, PduReader, ShortMessage, SmResp, Status


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Esme:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer
        self._frames = PduReader()
        self._seq = itertools.count(1)
        self.answers: dict[int, asyncio.Future[Pdu]] = {}
        self.delivered: asyncio.Queue[ShortMessage] = asyncio.Queue()
        self.nacks: list[Pdu] = []
        self.auto_answer = True  # deliver_sm answered ESME_ROK at once
        self._task = asyncio.ensure_future(self._read())

    @classmethod
    async def connect(cls, port: int) -> Esme:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def _read(self) -> None:
        while data := await self._reader.read(65536):
            self._frames.feed(data)
            while (pdu := self._frames.next()) is not None:
                assert isinstance(pdu, Pdu), pdu
                if pdu.command == Command.DELIVER_SM:
                    assert isinstance(pdu, ShortMessage)
                    if self.auto_answer:
                        self.write(SmResp(Command.DELIVER_SM_RESP, pdu.sequence, 0, ""))
                    await self.delivered.put(pdu)
                elif pdu.command == Command.GENERIC_NACK and pdu.sequence not in self.answers:
                    self.nacks.append(pdu)
                elif pdu.sequence in self.answers and pdu.command & 0x80000000:
                    self.answers.pop(pdu.sequence).set_result(pdu)

    def write(self, pdu: Pdu | bytes) -> None:
        self._writer.write(pdu if isinstance(pdu, bytes) else pdu.encode())

    def next_sequence(self) -> int:
        return next(self._seq)

    def request(self, pdu: Pdu) -> asyncio.Future[Pdu]:
        fut: asyncio.Future[Pdu] = asyncio.get_running_loop().create_future()
        self.answers[pdu.sequence] = fut
        self.write(pdu)
        return fut

    async def call(self, pdu: Pdu) -> Pdu:
        return await asyncio.wait_for(self.request(pdu), 10)

    async def bind(self, kind: int = Command.BIND_TRANSCEIVER, system_id: str = "root", password: str = "root") -> Pdu:
        return await self.call(Bind(kind, self.next_sequence(), 0, system_id=system_id, password=password))

    def submit_pdu(self, text: bytes = b"Hello", to: str = "+4915112345678", **fields) -> ShortMessage:
        fields.setdefault("registered_delivery", 1)
        return ShortMessage(
            Command.SUBMIT_SM,
            self.next_sequence(),
            0,
            source_addr="ejoin",
            destination_addr=to,
            short_message=text,
            **fields,
        )

    async def submit(self, text: bytes = b"Hello", to: str = "+4915112345678", **fields) -> str:
        resp = await self.call(self.submit_pdu(text, to, **fields))
        assert resp.status == Status.ESME_ROK, Status(resp.status).name
        assert isinstance(resp, SmResp)
        return resp.message_id

    async def next_delivered(self, timeout: float = 10) -> ShortMessage:
        return await asyncio.wait_for(self.delivered.get(), timeout)

    async def close(self) -> None:
        self._writer.close()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


def empty(command: int, seq: int) -> Empty:
    return Empty(command, seq, 0)
