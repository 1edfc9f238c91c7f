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
from ..protocol.text import Segmented
from ..store.base import SlotRecord


@dataclass(frozen=True)
class SendResult:
    ok: bool
    carrier: str = ""  # the network's "code description" when it failed
    cost: float = 0.0  # taken from the SIM's balance
    no_balance: bool = False  # the SIM cannot pay: the slot goes to 5


class ModemDriver(ABC):
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
    async def send_sms(self, port: int, slot: SlotRecord, number: str, text: Segmented, smsc: str) -> SendResult:
        """Send one SMS (all its parts) from the active slot; may never return (the caller times out)."""
