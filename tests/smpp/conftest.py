from __future__ import annotations

import asyncio

import pytest

from ejoin.protocol.smpp import ShortMessage
from ejoin.smpp import SmppServer

from .esme import Esme, free_port


@pytest.fixture
def smpp_device(device_factory):
    """A gateway with its SMPP server on a free loopback port (``.smpp_port``), registered."""

    async def make(settle: bool = True, **overrides):
        overrides.setdefault("smpp_port", free_port())
        dev = await device_factory(**overrides)
        if settle:
            await dev.settle()
        dev.smpp_port = overrides["smpp_port"]
        (dev.smpp,) = [part for part in dev.gw.attached if isinstance(part, SmppServer)]
        return dev

    return make


async def delivered(dev, esme: Esme, within: float = 60.0) -> ShortMessage:
    """The next deliver_sm, simulated time passing meanwhile (the modules send, reports flush)."""
    took = 0.0
    while True:
        try:
            return await asyncio.wait_for(esme.delivered.get(), 0.05)
        except TimeoutError:
            assert took < within, "no deliver_sm"
            await dev.clock.advance(0.5)
            took += 0.5


@pytest.fixture
async def esmes():
    opened: list[Esme] = []

    async def connect(port: int) -> Esme:
        esme = await Esme.connect(port)
        opened.append(esme)
        return esme

    yield connect
    for esme in opened:
        await esme.close()
