"""The one small interface between the device and its GSM modules.

The device's state machine decides *when* things happen (which slot is
active, what is locked); a driver does the module's part and says how it went.
Drivers: the simulated network (default), real modems over AT commands, and a
fake pty modem for tests of the AT driver.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from ..protocol.codes import PortState
from ..protocol.ports import PortAddress
from ..protocol.text import Segmented
from ..store.base import SlotRecord


@dataclass(frozen=True)
class SendResult:
    ok: bool
    carrier: str = ""  # the network's "code description" when it failed
    cost: float = 0.0  # taken from the SIM's balance
    no_balance: bool = False  # the SIM cannot pay: the slot goes to 5


class ModemEvents(ABC):
    """What modules report on their own: SMS (a part at a time) and delivery reports."""

    @abstractmethod
    def sms_part(self, slot: PortAddress, sender: str, text: str, ts: float, ref: int, total: int, seq: int) -> None:
        """One part (``seq`` of ``total``, 1-based) of an SMS that arrived at ``slot``; ``total`` 1: a whole SMS."""

    @abstractmethod
    def delivery_report(self, slot: PortAddress, recipient: str, status: int, ts: float, smsc: str) -> None:
        """The network's report on an SMS ``slot`` sent to ``recipient`` (status 0: delivered)."""


class ModemDriver(ABC):
    events: ModemEvents | None = None

    @abstractmethod
    async def restart_module(self, port: int) -> None:
        """Power-cycle the module of ``port`` (returns when it answers again)."""

    @abstractmethod
    async def detect_card(self, port: int, slot: SlotRecord) -> bool:
        """Select ``slot`` on the module; fill the card's data into it; True if a card is there."""

    @abstractmethod
    async def register(self, port: int, slot: SlotRecord) -> PortState:
        """Register the selected card; the state it ends in (3 on success)."""

    @abstractmethod
    def signal(self, port: int) -> int:
        """Signal quality of the module, 0-31 (as AT+CSQ)."""

    @abstractmethod
    async def send_sms(
        self, port: int, slot: SlotRecord, number: str, text: Segmented, smsc: str, report: bool = False
    ) -> SendResult:
        """Send one SMS (all its parts) from the active slot; may never return (the caller times out).

        With ``report`` the network's delivery report comes later through ``events``.
        """
