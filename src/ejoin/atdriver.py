"""Real GSM modules over AT commands as the gateway runs them (``modems = "at"``).

The driver itself is ``ejoin.modems.at``; this adds its config (``[[modem]]``
tables: which serial line serves which port) and its life cycle.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import msgspec

from .clock import Clock
from .config import Refused
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


class ATSettings(msgspec.Struct, forbid_unknown_fields=True):
    modem: list[ModemConfig] = msgspec.field(default_factory=list)
    # How a SIM's balance is read (docs/modems.md): none, and ``bal`` stays unknown.
    balance: list[BalanceRule] = msgspec.field(default_factory=list)

    def check(self, config: GatewayConfig) -> None:
        check_modems(self.modem, config.ports)
        check_balance(self.balance)


def check_balance(rules: list[BalanceRule]) -> None:
    """``Refused`` naming the ``[[balance]]`` table that cannot be used, and why."""
    for i, rule in enumerate(rules):
        try:
            if check_ussd(rule.code) != rule.code or not rule.code:
                raise Refused(("balance", i, "code"), f"{rule.code!r} is not a USSD code like *100#")
        except PassthroughError as exc:
            raise Refused(("balance", i, "code"), str(exc)) from None
        try:
            pattern = re.compile(rule.pattern)
        except re.error as exc:
            raise Refused(("balance", i, "pattern"), f"not a regular expression: {exc}") from None
        if not rule.pattern or pattern.groups > 1:
            raise Refused(
                ("balance", i, "pattern"), "finds the balance: one group around the number, e.g. 'Balance: ([0-9.]+)'"
            )
        if rule.operator and not rule.operator.isdigit():
            raise Refused(("balance", i, "operator"), f"a PLMN, digits (MCC and MNC: 26201), not {rule.operator!r}")
        if rule.iccid and not rule.iccid.isalnum():
            raise Refused(("balance", i, "iccid"), f"an ICCID or its first digits, not {rule.iccid!r}")


def check_modems(modems: list[ModemConfig], ports: int) -> None:
    """``Refused`` naming the ``[[modem]]`` table that does not fit a device of ``ports`` ports, and why."""
    seen: dict[int, tuple[int, str]] = {}
    for i, m in enumerate(modems):
        if not 1 <= m.port <= ports:
            raise Refused(("modem", i, "port"), f"{m.port} is not a port of this device (1-{ports})")
        if m.port in seen:
            first, device = seen[m.port]
            raise Refused(("modem", i, "port"), f"{m.port} has a module already ([[modem]] #{first + 1}: {device})")
        if not m.device:
            raise Refused(("modem", i, "device"), "must not be empty: the serial line, e.g. /dev/serial/by-path/...")
        if m.profile not in PROFILES:
            known = ", ".join(sorted(PROFILES))
            raise Refused(("modem", i, "profile"), f"unknown profile {m.profile!r}; known: {known}")
        seen[m.port] = (i, m.device)
    missing = [p for p in range(1, ports + 1) if p not in seen]
    if missing:
        raise Refused("", f"ports {', '.join(map(str, missing))} have no [[modem]] table (set ports = {len(seen)}?)")


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
