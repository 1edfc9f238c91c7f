"""Where what the modules report goes: messages to the inbox, the modules' own fate to the device."""

from __future__ import annotations

from typing import Any

from ..modems.base import ModemEvents
from ..protocol.codes import PortState
from ..protocol.ports import PortAddress
from .device import Device
from .receiving import Inbox


class DeviceEvents(ModemEvents):
    def __init__(self, device: Device, inbox: Inbox) -> None:
        self._device = device
        self._inbox = inbox

    def sms_part(self, slot: PortAddress, sender: str, text: str, ts: float, ref: int, total: int, seq: int) -> Any:
        return self._inbox.sms_part(slot, sender, text, ts, ref, total, seq)

    def delivery_report(
        self, port: int, ref: int, recipient: str, status: int, ts: float, smsc: str, smsc_ts: float | None = None
    ) -> Any:
        return self._inbox.delivery_report(port, ref, recipient, status, ts, smsc, smsc_ts)

    def raw_pdu(self, slot: PortAddress, pdu: str, ts: float, reason: str) -> Any:
        return self._inbox.raw_pdu(slot, pdu, ts, reason)

    def balance(self, port: int, value: float) -> None:
        self._device.module_balance(port, value)

    def module_lost(self, port: int) -> None:
        self._device.module_lost(port)

    def module_back(self, port: int) -> None:
        self._device.module_back(port)

    def module_state(self, port: int, state: PortState) -> None:
        self._device.module_state(port, state)
