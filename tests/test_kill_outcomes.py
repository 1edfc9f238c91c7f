"""kill -9 at seeded points of a send over emulated modules: every SMS's reported outcome is what the
network did, and no SMS goes out twice.

The modules and their network run here, in the test's process, on pseudo-terminals; the gateway is a
real ``ejoin gateway`` process driving them with the AT driver (``modems = "at"``), killed and started
again several times.  The network records every SMS it took; the platform's receiver records every
status report.  SMS taken by the network while the gateway was dead, or whose answer it never read,
come back as "7 Interrupted by restart" and are corrected by their delivery reports.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from ejoin.modems.at.profiles import profile
from ejoin.modems.base import CardInfo
from ejoin.protocol import pdu
from ejoin.sim.cards import generate_card, generate_imei
from ejoin.sim.emulator.engine import EmulatedModem, Submitted
from ejoin.sim.emulator.pty import PtyModem

from .test_process import AUTH, GatewayProcess, free_port

pytestmark = pytest.mark.slow

PORTS = 8
SEND = 0.02  # real seconds the network takes per SMS
REPORT = 0.05  # ... and until its delivery report


class RecordingNetwork:
    """Emulated modules on ptys; every SMS the network took is counted by recipient."""

    def __init__(self, directory: Path, seed: int) -> None:
        quectel = profile("quectel")
        self.cards = {port: generate_card(seed, port, 1) for port in range(1, PORTS + 1)}
        self.ptys: dict[int, PtyModem] = {}
        for port in range(1, PORTS + 1):
            modem = EmulatedModem(port, quectel, self, generate_imei(seed, port, 1))
            modem.capacity = 255  # reports that arrive while the gateway is dead wait on the SIM
            self.ptys[port] = PtyModem(modem, directory / f"modem{port}")
        self.taken: Counter[str] = Counter()
        self._mr: dict[int, int] = {}

    def card(self, modem: EmulatedModem) -> CardInfo:
        return self.cards[modem.port] if modem.slot == 1 else CardInfo(present=False)

    async def register(self, modem: EmulatedModem) -> int:
        return 1

    async def pause(self, what: str) -> None:
        return None

    async def signal(self, modem: EmulatedModem) -> int:
        return 20

    async def submit(self, modem: EmulatedModem, message: pdu.Submit) -> Submitted:
        await asyncio.sleep(SEND)  # cancelled if the module is interrupted first: then the network has nothing
        self.taken[message.recipient] += 1
        mr = self._mr[modem.port] = (self._mr.get(modem.port, -1) + 1) % 256
        now = datetime.now(UTC)
        report = pdu.encode_status_report(mr, message.recipient, 0, now, now)
        loop = asyncio.get_running_loop()
        loop.call_later(REPORT, lambda: modem.deliver(report.hex, report.tpdu_length, report=True))
        return Submitted(mr=mr)

    async def ussd_answer(self, modem: EmulatedModem, code: str) -> tuple[int, str, int]:
        return 0, "UNKNOWN APPLICATION", 15

    def ussd_end(self, modem: EmulatedModem) -> None:
        pass


class ATGateway(GatewayProcess):
    ready_path = "/goip_get_status.html"  # no /sim/* routes with real modules


def reported(receiver) -> dict[int, str]:
    """Each recipient's outcome as the platform last heard it (a later report may correct an earlier one)."""
    out: dict[int, str] = {}
    for push in receiver.of_type("status-report"):
        for rpt in push["rpts"]:
            for row in rpt.get("fdr", []):
                out[row[0]] = row[4]
            for row in rpt.get("sdr", []):
                out[row[0]] = "sent"
    return out


async def all_registered(gw: GatewayProcess) -> None:
    async with aiohttp.ClientSession() as s:
        for _ in range(400):  # deadline 20 s: bring-up over the serial lines, in real time
            async with s.get(f"{gw.base}/goip_get_status.html", params=AUTH) as r:
                if all(e["st"] == 3 for e in (await r.json())["status"]):
                    return
            await asyncio.sleep(0.05)
    raise TimeoutError("the ports did not register:\n" + gw.log.read_text()[-3000:])


async def test_kill_9_at_seeded_points_leaves_every_outcome_as_the_network_did_it(tmp_path, receiver):
    rng = random.Random(30)
    n = 1000
    net = RecordingNetwork(tmp_path, seed=3)
    for pty in net.ptys.values():
        pty.plug()
    modems = "".join(f'[[modem]]\nport = {p}\ndevice = "{pty.path}"\n' for p, pty in net.ptys.items())
    gw = ATGateway(tmp_path, free_port(), ports=PORTS, slots=1, extra=f'modems = "at"\n{modems}')
    try:
        await gw.start()
        await all_registered(gw)
        numbers = [f"1390000{i:04d}" for i in range(n)]
        body = {
            "type": "send-sms",
            "sr_url": receiver.url,
            "sr_cnt": 1,
            "sr_prd": 1,
            "tasks": [{"tid": 30, "to": ",".join(numbers), "sms": "x", "dr": 1, "sdr": 1, "fdr": 1, "sr_cnt": 20}],
        }
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{gw.base}/goip_post_sms.html", params=AUTH, json=body) as r:
                assert (await r.json())["status"] == [{"tid": 30, "status": "0 OK"}]
        kills = sorted(rng.sample(range(50, n - 150), 4))
        for at in kills:
            await receiver.wait_for(lambda r, at=at: len(reported(r)) >= at, timeout=30)
            gw.kill9()
            await gw.proc.wait()
            await asyncio.sleep(rng.uniform(0.0, 0.3))  # the network goes on meanwhile: reports wait on the SIMs
            gw = gw.again()
            await gw.start()
        # every SMS done, and every one the network took that was reported failed corrected by its report
        taken = lambda: {i for i, number in enumerate(numbers) if net.taken[number]}  # noqa: E731
        await receiver.wait_for(
            lambda r: len(reported(r)) == n and {i for i, o in reported(r).items() if o == "sent"} == taken(),
            timeout=30,
        )
        assert max(net.taken.values()) == 1  # no SMS went out twice
        outcome = reported(receiver)
        assert {i for i, o in outcome.items() if o == "sent"} == taken()
        assert all(o == "7 Interrupted by restart" for o in outcome.values() if o != "sent")
        interrupted = [
            row[0] for push in receiver.of_type("status-report") for rpt in push["rpts"] for row in rpt.get("fdr", [])
        ]
        assert len(interrupted) <= len(kills) * PORTS  # at most the SMS each module had, per kill
        last = [x for p in receiver.of_type("status-report") for x in p["rpts"]][-1]
        assert (last["sent"], last["failed"]) == (len(taken()), n - len(taken()))
        assert "Traceback" not in gw.log.read_text()
    finally:
        if gw.proc is not None and gw.proc.returncode is None:
            gw.kill9()
            await gw.proc.wait()
        for pty in net.ptys.values():
            pty.unplug()
            await pty.modem.stop()
