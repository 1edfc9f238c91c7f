"""Gateway configuration: defaults < TOML file (``--config``) < command-line flags.

Every flag has a top-level TOML key of the same name (dashes become
underscores); simulated timing lives in ``[timing]`` and explicit SIMs in
``[[sim]]`` tables.  Unknown keys are an error, so a typo is not silently
ignored.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..protocol.ports import DeviceSize, PortAddress, PortSpecError


class ConfigError(ValueError):
    pass


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
class GatewayConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    ports: int = 8
    slots: int = 4
    username: str = "root"
    password: str = "root"
    data: str = "./ejoin-data"
    seed: int = 1
    fast: bool = False
    # the share of slots that hold a SIM in a generated device
    sim_fill: float = 1.0
    # "auto": in a generated device the last slot of every even-numbered port is left empty (a place
    # to write an eSIM or insert a card, and all_slots shows what an empty slot looks like); "none": no slot
    empty_slots: str = "auto"
    mac: str | None = None
    ip: str | None = None
    sw_ver: str = "ejoin-0.1.0"
    port_names: str = "dotted"  # or "letter" for v2.1.0 clients ("1A")
    max_body: int = 16 * 1024 * 1024
    read_timeout: float = 30.0  # seconds a client may take to send a request's head, and its body
    max_connections: int = 1000  # open HTTP connections; more are answered 503 and closed
    push_timeout: float = 10.0
    push_retry_base: float = 1.0
    push_retry_cap: float = 300.0
    sqlite_sync: str = "normal"
    send_failure_rate: float = 0.0  # share of SMS the simulated network rejects at random
    max_queued_tasks: int = 100_000  # open tasks; more get 16 Too Many Task
    max_recipients: int = 1_000_000  # per task
    max_tasks_per_request: int = 10_000  # tasks past this in one request get 16 Too Many Task
    max_sessions: int = 1000  # open secure sessions
    login_delay_cap: float = 5.0  # longest delay for an address that keeps giving wrong credentials
    tls_cert: str = ""  # PEM certificate and key: serve HTTPS
    tls_key: str = ""
    shutdown_grace: float = 5.0  # seconds SMS in a module get to finish at a stop
    task_retention: float = 3600.0  # seconds a finished, reported task is kept on disk
    log_level: str = "info"
    inbox_max: int = 100_000  # received SMS kept; older ones (already pushed) are pruned hourly
    concat_timeout: float = 120.0  # seconds to wait for the missing parts of a long inbound SMS
    timing: Timing = field(default_factory=Timing)
    traffic: Traffic = field(default_factory=Traffic)
    calls: Calls = field(default_factory=Calls)
    timezone: str = ""  # IANA name for "today" in statistics; "" = the machine's local time
    sim: list[SimSpec] = field(default_factory=list)

    def effective_timing(self) -> Timing:
        return self.timing.zero() if self.fast else self.timing

    def validate(self) -> GatewayConfig:
        if not 1 <= self.ports <= 256:
            raise ConfigError(f"ports must be 1 to 256, not {self.ports}")
        if not 1 <= self.slots <= 32:
            raise ConfigError(f"slots must be 1 to 32, not {self.slots}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be 0 to 65535, not {self.port}")
        if self.port_names not in ("dotted", "letter"):
            raise ConfigError(f"port_names is 'dotted' or 'letter', not {self.port_names!r}")
        if self.empty_slots not in ("auto", "none"):
            raise ConfigError(f"empty_slots is 'auto' or 'none', not {self.empty_slots!r}")
        if not 0.0 <= self.sim_fill <= 1.0:
            raise ConfigError(f"sim_fill is between 0 and 1, not {self.sim_fill}")
        if self.max_body < 1024:
            raise ConfigError("max_body must be at least 1024 bytes")
        if not self.username:
            raise ConfigError("username must not be empty")
        for i, spec in enumerate(self.sim):
            try:
                addr = PortAddress.parse(spec.port, DeviceSize(self.ports, self.slots))
            except PortSpecError as exc:
                raise ConfigError(f"[[sim]] #{i + 1}: {exc}") from None
            if addr.slot is None:
                raise ConfigError(f"[[sim]] #{i + 1}: port {spec.port!r} must name a slot, like 1.02")
        t = self.timing
        if min(t.card_detect, t.register_min, t.register_max, t.module_restart) < 0:
            raise ConfigError("timings cannot be negative")
        if t.register_max < t.register_min:
            raise ConfigError("timing.register_max is below timing.register_min")
        if min(t.send_min, t.send_max) < 0 or t.send_max < t.send_min:
            raise ConfigError("timing.send_min/send_max must be >= 0 and send_max >= send_min")
        if not 0.0 <= self.send_failure_rate <= 1.0:
            raise ConfigError("send_failure_rate is between 0 and 1")
        if self.traffic.rate < 0 or (self.traffic.rate and not (self.traffic.senders and self.traffic.texts)):
            raise ConfigError("traffic.rate must be >= 0, with senders and texts to draw from")
        c = self.calls
        if c.rate < 0 or not (0 <= c.answer_ratio <= 1 and 0 <= c.alert_ratio <= 1):
            raise ConfigError("calls.rate must be >= 0 and the ratios between 0 and 1")
        if not (0 <= c.duration_min <= c.duration_max and 0 <= c.pdd_min <= c.pdd_max):
            raise ConfigError("calls: durations and post-dial delays need 0 <= min <= max")
        if self.timezone:
            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ConfigError(f"unknown timezone {self.timezone!r}") from None
        if self.inbox_max < 1:
            raise ConfigError("inbox_max must be at least 1")
        if self.concat_timeout <= 0:
            raise ConfigError("concat_timeout must be positive")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("tls_cert and tls_key go together")
        if self.login_delay_cap < 0:
            raise ConfigError("login_delay_cap cannot be negative")
        if self.max_tasks_per_request < 1 or self.max_sessions < 1:
            raise ConfigError("max_tasks_per_request and max_sessions must be at least 1")
        if self.task_retention <= 0:
            raise ConfigError("task_retention must be positive")
        if self.max_queued_tasks < 1 or self.max_recipients < 1:
            raise ConfigError("max_queued_tasks and max_recipients must be at least 1")
        if self.push_retry_base <= 0 or self.push_retry_cap < self.push_retry_base:
            raise ConfigError("push_retry_base must be > 0 and push_retry_cap >= push_retry_base")
        if self.empty_slots == "auto" and self.slots > 1:
            size = DeviceSize(self.ports, self.slots)
            named = {PortAddress.parse(spec.port, size) for spec in self.sim}  # checked above
            for port in range(2, self.ports + 1, 2):
                if PortAddress(port, self.slots) not in named:  # a [[sim]] for that slot decides
                    self.sim.append(SimSpec(port=f"{port}.{self.slots:02d}", empty=True))
        return self


_TABLES: dict[str, type] = {"timing": Timing, "traffic": Traffic, "calls": Calls}


def _build(cls: type, table: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ConfigError(f"unknown key(s) in {where}: {', '.join(unknown)}")
    kwargs: dict[str, Any] = {}
    for name, value in table.items():
        f = known[name]
        if name in _TABLES:
            if not isinstance(value, dict):
                raise ConfigError(f"[{name}] must be a table")
            value = _build(_TABLES[name], value, f"[{name}]")
        elif name == "sim":
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                raise ConfigError("sim must be an array of tables ([[sim]])")
            value = [_build(SimSpec, v, f"[[sim]] #{i + 1}") for i, v in enumerate(value)]
        else:
            value = _coerce(value, f, where)
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _coerce(value: Any, f: dataclasses.Field, where: str) -> Any:
    kind = str(f.type)
    if "float" in kind and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    expected = {"int": int, "float": float, "bool": bool, "str": str}
    for name, typ in expected.items():
        if kind.startswith(name):
            ok = isinstance(value, typ) and not (typ is int and isinstance(value, bool))
            if not ok and not ("None" in kind and value is None):
                raise ConfigError(f"{where}: {f.name} must be {name}, not {type(value).__name__}")
    return value


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> GatewayConfig:
    table: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as fh:
                table = tomllib.load(fh)
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config {path} is not valid TOML: {exc}") from None
    for key, value in (overrides or {}).items():
        if value is not None:
            table[key] = value
    return _build(GatewayConfig, table, str(path) if path else "settings").validate()
