"""The simulated eUICC of each port (spec 12): profile writes and deletes on the clock.

An operation waits ``timing.esim_start`` (submitted), runs
``timing.esim_operation`` (running) and ends done or failed with a reason.  A
written profile is a SIM in its slot and registers like any other; deleting it
empties the slot.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass

from ..clock import Clock, Timer
from ..gateway.device import Device
from ..gateway.esim import (
    FAILED,
    IDLE,
    RUNNING,
    SUBMITTED,
    WRITE,
    EsimItemIn,
    EsimResult,
    Euicc,
    EuiccInfo,
    Profile,
)
from ..protocol.ports import PortAddress
from .cards import generate_card, luhn_digit
from .config import Timing
from .world import World

# LPA:1$<SM-DP+ address>$<matching id>[$...]  (GSMA SGP.22 activation code)
ACTIVATION_CODE = re.compile(r"^LPA:1\$([A-Za-z0-9.-]+\.[A-Za-z]{2,})\$([A-Za-z0-9_-]+)(\$.*)?$")


@dataclass
class _Operation:
    slot: int
    op: int
    status: int
    ac: str = ""
    cc: str = ""
    reason: str = ""
    timer: Timer | None = None


def eid_of(seed: int, port: int) -> str:
    digest = hashlib.sha256(f"eid:{seed}:{port}".encode()).hexdigest()
    return "89049032" + str(int(digest, 16))[:24]


class SimulatedEuicc(Euicc):
    def __init__(self, device: Device, world: World, clock: Clock, timing: Timing, seed: int) -> None:
        self._device = device
        self._world = world
        self._clock = clock
        self._timing = timing
        self._seed = seed
        self._running: dict[int, _Operation] = {}  # port -> the operation in progress
        self._last: dict[tuple[int, int], _Operation] = {}  # (port, slot) -> last finished or failed

    def stop(self) -> None:
        for op in self._running.values():
            if op.timer is not None:
                op.timer.cancel()

    # --- query ---------------------------------------------------------------

    def info(self, ports: list[int] | None) -> list[EuiccInfo]:
        out = []
        for p in ports or range(1, self._device.size.ports + 1):
            port = self._device.port(p)
            profiles = []
            for slot in port.slots:
                rec = slot.record
                op = self._running.get(p)
                op = op if op is not None and op.slot == rec.slot else self._last.get((p, rec.slot))
                exist = int(rec.esim and rec.present)
                profiles.append(
                    Profile(
                        slot=rec.slot,
                        enabled=int(exist and port.record.active_slot == rec.slot and not rec.locked),
                        iccid=rec.iccid if exist else "",
                        ac=rec.esim_ac if exist else "",
                        cc=rec.esim_cc if exist else "",
                        provider=rec.esim_provider if exist else "",
                        exist=exist,
                        exust=exist,
                        op=op.op if op and op.status != IDLE else 0,
                        status=op.status if op else IDLE,
                        reason=op.reason if op else "",
                    )
                )
            out.append(EuiccInfo(port=p, eid=eid_of(self._seed, p), esim_state=1, profiles=profiles))
        return out

    # --- write / delete --------------------------------------------------------

    def submit(self, items: list[EsimItemIn], op: int) -> list[EsimResult]:
        results = []
        for item in items:
            port, slot = item.port or 0, item.slot or 0
            size = self._device.size
            if not (1 <= port <= size.ports and 1 <= slot <= size.slots):
                results.append(EsimResult(port, slot, FAILED))
                continue
            if port in self._running:
                results.append(EsimResult(port, slot, RUNNING))  # the port is busy: refused
                continue
            operation = _Operation(slot, op, SUBMITTED, item.ac.strip(), item.cc.strip())
            self._running[port] = operation
            self._last.pop((port, slot), None)
            operation.timer = self._clock.call_later(self._timing.esim_start, self._begin, port)
            results.append(EsimResult(port, slot, SUBMITTED))
        return results

    def _begin(self, port: int) -> None:
        operation = self._running[port]
        operation.status = RUNNING
        operation.timer = self._clock.call_later(self._timing.esim_operation, self._end, port)

    def _end(self, port: int) -> None:
        operation = self._running.pop(port)
        operation.timer = None
        reason = self._write(port, operation) if operation.op == WRITE else self._delete(port, operation)
        operation.status, operation.reason = (FAILED, reason) if reason else (IDLE, "")
        self._last[(port, operation.slot)] = operation

    def _write(self, port: int, operation: _Operation) -> str:
        addr = PortAddress(port, operation.slot)
        slot = self._device.slot(addr)
        m = ACTIVATION_CODE.match(operation.ac)
        if not m:
            return "bad activation code: expected LPA:1$<smdp>$<matching-id>"
        if slot.present:
            return "slot busy: it already holds a SIM or a profile"
        smdp, matching_id = m[1], m[2]
        if matching_id.upper().startswith("CC-") and not operation.cc:
            return "confirmation code required"
        digest = hashlib.sha256(f"{smdp}${matching_id}".encode()).hexdigest()
        body = "8988" + str(int(digest, 16))[:14]
        # a profile is a SIM with the operator the SM-DP+ gives
        card = dataclasses.replace(
            generate_card(self._seed, port, operation.slot),
            iccid=body + luhn_digit(body),
            esim=True,
            esim_ac=operation.ac,
            esim_cc=operation.cc,
            esim_provider=smdp,
        )
        self._world.put_card(addr, card)
        self._device.card_inserted(addr, card)
        return ""

    def _delete(self, port: int, operation: _Operation) -> str:
        addr = PortAddress(port, operation.slot)
        card = self._world.card(addr)
        if not (card.present and card.esim):
            return "no profile in this slot"
        self._world.take_card(addr)
        self._device.card_removed(addr)
        return ""
