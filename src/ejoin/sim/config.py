"""The simulated network's own config keys (top-level TOML keys while ``modems = "simulated"``).

``[timing]``, ``[traffic]``, ``[calls]``, ``[ussd]``, ``[[sim]]``, ``sim_fill`` and
``send_failure_rate`` describe a world that only the simulator has; another
driver does not accept them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

from ..protocol import numbers
from ..protocol.ports import DeviceSize, PortAddress, PortSpecError
from .ussd import UssdSettings, menus_problem

if TYPE_CHECKING:
    from ..gateway.config import GatewayConfig


@dataclass
class Timing:
    """Simulated durations in seconds (all zero with ``--fast``)."""

    card_detect: float = 1.0  # a card seen in a slot until registration starts
    register_min: float = 2.0  # registration takes between min and max
    register_max: float = 6.0
    module_restart: float = 3.0  # reset of a module before it reads its card again
    send_min: float = 1.0  # one SMS takes between min and max
    send_max: float = 3.0
    delivery: float = 5.0  # a sent SMS is delivered (its report comes) this much later
    esim_start: float = 1.0  # an eSIM write/delete waits this long before it runs
    esim_operation: float = 8.0  # ... and runs this long

    def zero(self) -> Timing:
        return Timing(*([0.0] * len(fields(Timing))))


@dataclass
class Traffic:
    """Background inbound SMS from the simulated network."""

    rate: float = 0.0  # SMS per minute for the whole device (0: none)
    senders: list[str] = field(default_factory=lambda: ["10086", "+8613800138000", "+15550100"])
    texts: list[str] = field(
        default_factory=lambda: ["Your code is 123456", "Balance: 12.30", "Hello from the network"]
    )


@dataclass
class Calls:
    """Simulated voice traffic (for call statistics)."""

    rate: float = 0.0  # calls per minute for the whole device (0: none)
    answer_ratio: float = 0.6  # share of calls that connect
    alert_ratio: float = 0.9  # share of calls that ring at all
    duration_min: float = 10.0
    duration_max: float = 180.0
    pdd_min: float = 2.0  # post-dial delay
    pdd_max: float = 8.0


@dataclass
class SimSpec:
    """A SIM placed explicitly by the config; anything left out is generated."""

    port: str
    empty: bool = False
    iccid: str | None = None
    imsi: str | None = None
    number: str | None = None
    operator: str | None = None
    balance: float | None = None
    imei: str | None = None
    fail: bool = False  # registration fails (status 6)
    price: float | None = None  # balance taken per SMS part


@dataclass
class SimSettings:
    # the share of slots that hold a SIM in a generated device
    sim_fill: float = 1.0
    # "auto": in a generated device the last slot of every even-numbered port is left empty (a place
    # to write an eSIM or insert a card, and all_slots shows what an empty slot looks like); "none": no slot.
    # A [[sim]] table naming such a slot decides it.
    empty_slots: str = "auto"
    send_failure_rate: float = 0.0  # share of SMS the simulated network rejects at random
    timing: Timing = field(default_factory=Timing)
    traffic: Traffic = field(default_factory=Traffic)
    calls: Calls = field(default_factory=Calls)
    ussd: UssdSettings = field(default_factory=UssdSettings)
    sim: list[SimSpec] = field(default_factory=list)

    def effective_timing(self, fast: bool) -> Timing:
        return self.timing.zero() if fast else self.timing

    def problem(self, config: GatewayConfig) -> str | None:
        """What is wrong with these settings on this device, or None."""
        if not 0.0 <= self.sim_fill <= 1.0:
            return f"sim_fill is between 0 and 1, not {self.sim_fill}"
        if self.empty_slots not in ("auto", "none"):
            return f"empty_slots is 'auto' or 'none', not {self.empty_slots!r}"
        for i, spec in enumerate(self.sim):
            try:
                addr = PortAddress.parse(spec.port, DeviceSize(config.ports, config.slots))
            except PortSpecError as exc:
                return f"[[sim]] #{i + 1}: {exc}"
            if addr.slot is None:
                return f"[[sim]] #{i + 1}: port {spec.port!r} must name a slot, like 1.02"
            try:
                if spec.number:
                    numbers.phone_number(spec.number)
                if spec.imei is not None:
                    numbers.imei(spec.imei)
            except numbers.NumberError as exc:
                return f"[[sim]] #{i + 1}: {exc}"
        t = self.timing
        if min(t.card_detect, t.register_min, t.register_max, t.module_restart) < 0:
            return "timings cannot be negative"
        if t.register_max < t.register_min:
            return "timing.register_max is below timing.register_min"
        if min(t.send_min, t.send_max) < 0 or t.send_max < t.send_min:
            return "timing.send_min/send_max must be >= 0 and send_max >= send_min"
        if not 0.0 <= self.send_failure_rate <= 1.0:
            return "send_failure_rate is between 0 and 1"
        if self.traffic.rate < 0 or (self.traffic.rate and not (self.traffic.senders and self.traffic.texts)):
            return "traffic.rate must be >= 0, with senders and texts to draw from"
        for who in self.traffic.senders:
            try:
                numbers.sender(who)
            except numbers.NumberError as exc:
                return f"traffic.senders: {exc}"
        c = self.calls
        if c.rate < 0 or not (0 <= c.answer_ratio <= 1 and 0 <= c.alert_ratio <= 1):
            return "calls.rate must be >= 0 and the ratios between 0 and 1"
        if not (0 <= c.duration_min <= c.duration_max and 0 <= c.pdd_min <= c.pdd_max):
            return "calls: durations and post-dial delays need 0 <= min <= max"
        return menus_problem(self.ussd)
