"""Real GSM modules over AT commands as the gateway runs them (``modems = "at"``).

The driver itself is ``ejoin.modems.at``; this adds its config (``[[modem]]``
tables: which serial line serves which port) and its life cycle.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .clock import Clock
from .gateway.plugin import DriverKind, Modems
from .modems.at.balance import BalanceRule
from .modems.at.driver import ATDriver
from .modems.at.module import ModemConfig
from .modems.at.profiles import PROFILES
from .protocol.ports import PortAddress
from .protocol.ussd import PassthroughError, check_ussd
from .store.base import SlotRecord, Store

if TYPE_CHECKING:
    from .gateway.config import GatewayConfig


@dataclass
class ATSettings:
    modem: list[ModemConfig] = field(default_factory=list)
    # How a SIM's balance is read (docs/modems.md): none, and ``bal`` stays unknown.
    balance: list[BalanceRule] = field(default_factory=list)

    def problem(self, config: GatewayConfig) -> str | None:
        return modems_problem(self.modem, config.ports) or balance_problem(self.balance)


def balance_problem(rules: list[BalanceRule]) -> str | None:
    """What is wrong with these ``[[balance]]`` tables, or None."""
    for i, rule in enumerate(rules, 1):
        where = f"[[balance]] #{i}"
        try:
            if check_ussd(rule.code) != rule.code or not rule.code:
                return f"{where}: code {rule.code!r} is not a USSD code like *100#"
        except PassthroughError as exc:
            return f"{where}: code: {exc}"
        try:
            pattern = re.compile(rule.pattern)
        except re.error as exc:
            return f"{where}: pattern is not a regular expression: {exc}"
        if not rule.pattern or pattern.groups > 1:
            return f"{where}: pattern finds the balance: one group around the number, e.g. 'Balance: ([0-9.]+)'"
        if rule.operator and not rule.operator.isdigit():
            return f"{where}: operator is a PLMN, digits (MCC and MNC: 26201), not {rule.operator!r}"
        if rule.iccid and not rule.iccid.isalnum():
            return f"{where}: iccid is an ICCID or its first digits, not {rule.iccid!r}"
    return None


def modems_problem(modems: list[ModemConfig], ports: int) -> str | None:
    """What is wrong with these ``[[modem]]`` tables on a device of ``ports`` ports, or None."""
    seen: dict[int, str] = {}
    for i, m in enumerate(modems, 1):
        where = f"[[modem]] #{i}"
        if not 1 <= m.port <= ports:
            return f"{where}: port {m.port} is not a port of this device (1-{ports})"
        if m.port in seen:
            return f"{where}: port {m.port} already has a module ({seen[m.port]})"
        if not m.device:
            return f"{where}: device (the serial line, e.g. /dev/serial/by-path/...) is missing"
        if m.profile not in PROFILES:
            return f"{where}: unknown profile {m.profile!r}; known: {', '.join(sorted(PROFILES))}"
        if m.baud <= 0:
            return f"{where}: baud must be positive"
        seen[m.port] = m.device
    missing = [p for p in range(1, ports + 1) if p not in seen]
    if missing:
        return f"ports {', '.join(map(str, missing))} have no [[modem]] table (set ports = {len(seen)}?)"
    return None


class ATModems(Modems):
    def __init__(self, driver: ATDriver) -> None:
        super().__init__(driver)
        self.at = driver

    def new_slots(self, addrs: list[PortAddress]) -> list[SlotRecord]:
        # Nothing is known of a real card before its module reads it; its balance not even then,
        # unless a [[balance]] code reads it (never a made-up 0.00).
        return [SlotRecord(port=a.port, slot=a.slot or 0, balance=None) for a in addrs]

    def start(self) -> None:
        self.at.start_sweeps()

    async def stop(self) -> None:
        await self.at.stop()


def create(config: GatewayConfig, clock: Clock, store: Store) -> ATModems:
    settings: ATSettings = config.driver if config.driver is not None else ATSettings()
    return ATModems(ATDriver(settings.modem, clock, balance=settings.balance))


KIND = DriverKind(name="at", create=create, settings=ATSettings)
