"""eSIM (spec 12): the API's shapes, and the eUICC interface behind goip_*_esims.

A write or delete is answered at once (status 1, submitted) and then runs on
the module's eUICC: status 2 while it runs, then 0 (done) or 3 with a reason.
One operation at a time per port (a second one is refused with status 2).
Which eUICC there is comes from the driver (``Modems.euicc``); modules
without one answer ``esim_state`` 0 and refuse every operation (status 3).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from ..protocol.answers import EsimResult, EuiccInfo, Profile
from ..protocol.requests import EsimItemIn

__all__ = ["EsimItemIn", "EsimResult", "EuiccInfo", "Profile", "Euicc", "NoEuicc"]

SUBMITTED, RUNNING, FAILED, IDLE = 1, 2, 3, 0
WRITE, DELETE = 1, 2


class Euicc(ABC):
    @abstractmethod
    def info(self, ports: list[int] | None) -> list[EuiccInfo]:
        """Each port's eUICC (all ports for None): its EID and a profile entry per slot."""

    @abstractmethod
    def submit(self, items: list[EsimItemIn], op: int) -> list[EsimResult]:
        """Start a WRITE or DELETE per item; answered at once (SUBMITTED, or RUNNING/FAILED: refused)."""

    def stop(self) -> None:  # noqa: B027 - most have nothing running
        """Cancel what is running (the gateway stops)."""


class NoEuicc(Euicc):
    """Modules without an eUICC."""

    def __init__(self, ports: int) -> None:
        self._ports = ports

    def info(self, ports: list[int] | None) -> list[EuiccInfo]:
        return [EuiccInfo(port=p, eid="", esim_state=0, profiles=[]) for p in ports or range(1, self._ports + 1)]

    def submit(self, items: list[EsimItemIn], op: int) -> list[EsimResult]:
        return [EsimResult(item.port or 0, item.slot or 0, FAILED) for item in items]
