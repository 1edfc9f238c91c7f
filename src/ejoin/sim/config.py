"""The simulated network's own config keys (top-level TOML keys while ``modems = "simulated"``).

``[timing]``, ``[traffic]``, ``[calls]``, ``[ussd]``, ``[[sim]]``, ``sim_fill`` and
``send_failure_rate`` describe a world that only the simulator has; another
driver does not accept them.  They are msgspec Structs loaded by the gateway's
typed loader (ejoin.config): bounds are in the types, ``check`` says the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

import msgspec
from msgspec import Meta

from ..config import Refused
from ..config.server import Share
from ..protocol import numbers
from ..protocol.ports import DeviceSize, PortAddress, PortSpecError
from .ussd import UssdSettings, check_menus

if TYPE_CHECKING:
    from ..gateway.config import GatewayConfig

Duration = Annotated[float, Meta(ge=0)]  # seconds of simulated time


class Timing(msgspec.Struct, forbid_unknown_fields=True):
    """Simulated durations in seconds (all zero with ``--fast``)."""

    card_detect: Duration = 1.0  # a card seen in a slot until registration starts
    register_min: Duration = 2.0  # registration takes between min and max
    register_max: Duration = 6.0
    module_restart: Duration = 3.0  # reset of a module before it reads its card again
    send_min: Duration = 1.0  # one SMS takes between min and max
    send_max: Duration = 3.0
    delivery: Duration = 5.0  # a sent SMS is delivered (its report comes) this much later
    esim_start: Duration = 1.0  # an eSIM write/delete waits this long before it runs
    esim_operation: Duration = 8.0  # ... and runs this long

    def zero(self) -> Timing:
        return Timing(**dict.fromkeys(self.__struct_fields__, 0.0))


class Traffic(msgspec.Struct, forbid_unknown_fields=True):
    """Background inbound SMS from the simulated network."""

    rate: Duration = 0.0  # SMS per minute for the whole device (0: none)
    senders: list[str] = msgspec.field(default_factory=lambda: ["10086", "+8613800138000", "+15550100"])
    texts: list[str] = msgspec.field(
        default_factory=lambda: ["Your code is 123456", "Balance: 12.30", "Hello from the network"]
    )


class Calls(msgspec.Struct, forbid_unknown_fields=True):
    """Simulated voice traffic (for call statistics)."""

    rate: Duration = 0.0  # calls per minute for the whole device (0: none)
    answer_ratio: Share = 0.6  # share of calls that connect
    alert_ratio: Share = 0.9  # share of calls that ring at all
    duration_min: Duration = 10.0
    duration_max: Duration = 180.0
    pdd_min: Duration = 2.0  # post-dial delay
    pdd_max: Duration = 8.0


class SimSpec(msgspec.Struct, forbid_unknown_fields=True):
    """A SIM placed explicitly by the config; anything left out is generated."""

    port: Annotated[str, Meta(description='a slot such as "1.02"')]
    empty: bool = False
    iccid: str | None = None
    imsi: str | None = None
    number: str | None = None
    operator: str | None = None
    balance: float | None = None
    imei: str | None = None
    fail: bool = False  # registration fails (status 6)
    price: float | None = None  # balance taken per SMS part


class SimSettings(msgspec.Struct, forbid_unknown_fields=True):
    # the share of slots that hold a SIM in a generated device
    sim_fill: Share = 1.0
    # "auto": in a generated device the last slot of every even-numbered port is left empty (a place
    # to write an eSIM or insert a card, and all_slots shows what an empty slot looks like); "none": no slot.
    # A [[sim]] table naming such a slot decides it.
    empty_slots: Literal["auto", "none"] = "auto"
    send_failure_rate: Share = 0.0  # share of SMS the simulated network rejects at random
    timing: Timing = msgspec.field(default_factory=Timing)
    traffic: Traffic = msgspec.field(default_factory=Traffic)
    calls: Calls = msgspec.field(default_factory=Calls)
    ussd: UssdSettings = msgspec.field(default_factory=UssdSettings)
    sim: list[SimSpec] = msgspec.field(default_factory=list)

    def effective_timing(self, fast: bool) -> Timing:
        return self.timing.zero() if fast else self.timing

    def check(self, config: GatewayConfig) -> None:
        """``Refused`` naming what is wrong with these settings on this device."""
        size = DeviceSize(config.ports, config.slots)
        for i, spec in enumerate(self.sim):
            try:
                addr = PortAddress.parse(spec.port, size)
            except PortSpecError as exc:
                raise Refused(("sim", i, "port"), str(exc)) from None
            if addr.slot is None:
                raise Refused(("sim", i, "port"), f"{spec.port!r} must name a slot, like 1.02")
            try:
                if spec.number:
                    numbers.phone_number(spec.number)
            except numbers.NumberError as exc:
                raise Refused(("sim", i, "number"), str(exc)) from None
            try:
                if spec.imei is not None:
                    numbers.imei(spec.imei)
            except numbers.NumberError as exc:
                raise Refused(("sim", i, "imei"), str(exc)) from None
        _in_order(self.timing.register_min, self.timing.register_max, ("timing", "register_max"))
        _in_order(self.timing.send_min, self.timing.send_max, ("timing", "send_max"))
        if self.traffic.rate and not (self.traffic.senders and self.traffic.texts):
            empty = "senders" if not self.traffic.senders else "texts"
            raise Refused(("traffic", empty), "must not be empty while rate is above 0 (SMS are drawn from it)")
        for i, who in enumerate(self.traffic.senders):
            try:
                numbers.sender(who)
            except numbers.NumberError as exc:
                raise Refused(("traffic", "senders", i), str(exc)) from None
        _in_order(self.calls.duration_min, self.calls.duration_max, ("calls", "duration_max"))
        _in_order(self.calls.pdd_min, self.calls.pdd_max, ("calls", "pdd_max"))
        check_menus(self.ussd)


def _in_order(low: float, high: float, key: tuple[str, str]) -> None:
    """A ``..._max`` key below its ``..._min``."""
    if high < low:
        least = key[1].removesuffix("_max") + "_min"
        raise Refused(key, f"must be at least {least} ({low:g}), not {high:g}")
