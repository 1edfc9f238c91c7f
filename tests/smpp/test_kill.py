"""kill -9 of a real ``ejoin gateway`` with its SMPP server (docs/smpp.md, "What survives a crash").

A submit_sm answered with its message_id is an acknowledgement: after kill -9 and a restart the
SMS is sent exactly once and its receipt comes.  A deliver_sm (receipt or received SMS) not yet
answered with its deliver_sm_resp is delivered again after the restart.
"""

from __future__ import annotations

import asyncio
import re

import pytest

from ejoin.protocol.smpp import Command, Empty, ShortMessage

from ..test_process import GatewayProcess, free_port
from .esme import Esme

pytestmark = pytest.mark.slow  # real processes

COUNT = 20
# The modules cannot send before the kill (registration never ends), and quickly after the restart.
HELD = "[timing]\ncard_detect = 0.0\nregister_min = 600.0\nregister_max = 600.0\nmodule_restart = 0.0\n"
QUICK = (
    "[timing]\ncard_detect = 0.0\nregister_min = 0.0\nregister_max = 0.0\nmodule_restart = 0.0\n"
    "send_min = 0.01\nsend_max = 0.01\ndelivery = 0.0\n"
)


def receipt_of(pdu: ShortMessage) -> tuple[str, str]:
    fields = dict(re.findall(r"(id|stat):(\S+)", pdu.short_message.decode()))
    return fields["id"], fields["stat"]


async def collect(esme: Esme, count: int, timeout: float = 20.0) -> list[ShortMessage]:
    return [await esme.next_delivered(timeout) for _ in range(count)]


async def sent_in_total(gw: GatewayProcess) -> int:
    stat = await gw.get("/goip_get_sms_stat.html", type="3")
    return sum(int(row["sent"]) for row in stat["stats"])


def gateway(tmp_path, smpp_port: int, *, held: bool = False) -> GatewayProcess:
    gw = GatewayProcess(tmp_path, free_port(), ports=2, slots=1, extra=f"smpp_port = {smpp_port}\n")
    if held:
        gw.config.write_text(gw.config.read_text().replace("fast = true", "fast = false") + HELD)
    return gw


def quick(gw: GatewayProcess) -> GatewayProcess:
    """The same gateway to start again, its modules registering and sending at once."""
    gw.config.write_text(gw.config.read_text().replace(HELD, QUICK))
    return gw.again()


async def test_what_was_answered_is_sent_once_and_what_was_not_answered_is_delivered_after_kill_9(tmp_path):
    smpp_port = free_port()
    gw = gateway(tmp_path, smpp_port, held=True)
    await gw.start()
    tx = await Esme.connect(smpp_port)
    await tx.bind(Command.BIND_TRANSMITTER)
    # answered together (one batch, one commit) and none in a module: registration never ends
    ids = await asyncio.gather(*(tx.submit(f"durable {i}".encode(), to=f"+49151000{i:04d}") for i in range(COUNT)))
    assert len(set(ids)) == COUNT
    gw.kill9()
    await gw.proc.wait()
    await tx.close()

    gw2 = quick(gw)
    await gw2.start()
    rx = await Esme.connect(smpp_port)
    rx.auto_answer = False  # receipts and SMS reach the receiver, which dies before it answers them
    await rx.bind(Command.BIND_RECEIVER)
    receipts = sorted(receipt_of(p) for p in await collect(rx, COUNT))
    assert receipts == sorted((i, "DELIVRD") for i in ids)
    assert await sent_in_total(gw2) == COUNT  # each SMS sent once: none twice after the restart
    for i in range(3):
        assert (await gw2.get("/sim/inbound", port="1.01", sender="+4917000000", text=f"kept {i}"))["code"] == 0
    assert sorted(p.short_message for p in await collect(rx, 3)) == [b"kept 0", b"kept 1", b"kept 2"]
    gw2.kill9()
    await gw2.proc.wait()
    await rx.close()

    gw3 = gw2.again()
    await gw3.start()
    rx = await Esme.connect(smpp_port)
    await rx.bind(Command.BIND_RECEIVER)  # answers now
    again = await collect(rx, COUNT + 3)  # never answered: delivered again
    assert sorted(receipt_of(p) for p in again if p.esm_class == 0x04) == receipts
    assert sorted(p.short_message for p in again if p.esm_class == 0) == [b"kept 0", b"kept 1", b"kept 2"]
    assert await sent_in_total(gw3) == COUNT
    # the server reads a connection in order: once this is answered, so are the deliver_sm_resp before it
    await rx.call(Empty(Command.ENQUIRE_LINK, rx.next_sequence(), 0))
    gw3.proc.terminate()
    await asyncio.wait_for(gw3.proc.wait(), 10)
    await rx.close()

    gw4 = gw3.again()  # answered: none of it comes again
    await gw4.start()
    rx = await Esme.connect(smpp_port)
    await rx.bind(Command.BIND_RECEIVER)
    assert (await gw4.get("/sim/inbound", port="1.01", sender="+4917000000", text="after"))["code"] == 0
    assert (await rx.next_delivered()).short_message == b"after"
    await rx.close()
    gw4.proc.terminate()
    await asyncio.wait_for(gw4.proc.wait(), 10)
    assert "Traceback" not in gw4.log.read_text()
