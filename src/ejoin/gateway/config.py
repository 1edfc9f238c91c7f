"""Gateway configuration: defaults < TOML file (``--config``) < command-line flags.

Every flag has a top-level TOML key of the same name (dashes become
underscores).  ``modems`` names the driver of the modules; whoever puts the
program together (the CLI, ``ejoin.testing``) gives ``load_config`` the lookup
of driver kinds by name (``ejoin.drivers.kind``), so the gateway itself knows
no driver.  The driver may bring keys of its own (the simulated network:
``[timing]``, ``[[sim]]``, ...), accepted only while it is the one chosen.
Unknown keys are an error, so a typo is not silently ignored.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import typing
from collections.abc import Callable
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_MODEMS = "simulated"


class DriverChoice(Protocol):
    """What loading a config needs of a driver kind (gateway/plugin.py ``DriverKind`` has it)."""

    @property
    def name(self) -> str: ...
    @property
    def settings(self) -> type | None: ...


# A driver kind by name; LookupError (its message names the known ones) if there is none.
DriverLookup = Callable[[str], DriverChoice]


# GatewayConfig's fields that are no TOML keys: what load_config derives (the driver's settings and kind)
DERIVED = frozenset({"driver", "kind"})


class ConfigError(ValueError):
    pass


@dataclass
class SmppAccount:
    """An ``[[smpp_accounts]]`` table: an SMPP login besides the device's own (docs/smpp.md)."""

    system_id: str = ""
    password: str = ""
    throughput: float = 0.0  # submit_sm a second; 0: no limit


def smpp_problem(port: int, window: int, accounts: list[SmppAccount]) -> str | None:
    """Why the SMPP server's settings (a gateway's or a fleet's) cannot be used, or None."""
    if not 0 <= port <= 65535:
        return f"smpp_port must be 0 (off) to 65535, not {port}"
    if not 1 <= window <= 10_000:
        return f"smpp_window must be 1 to 10000, not {window}"
    seen: set[str] = set()
    for i, account in enumerate(accounts):
        where = f"[[smpp_accounts]] #{i + 1}"
        if not 1 <= len(account.system_id) <= 15:
            return f"{where}: system_id is 1 to 15 characters (SMPP 3.4)"
        if not 1 <= len(account.password) <= 8:
            return f"{where}: password is 1 to 8 characters (SMPP 3.4)"
        if account.throughput < 0:
            return f"{where}: throughput is submit_sm a second, 0 for no limit"
        if account.system_id in seen:
            return f"{where}: system_id {account.system_id!r} is listed twice"
        seen.add(account.system_id)
    return None


def smpp_accounts_of(raw: Any) -> list[SmppAccount]:
    """``[[smpp_accounts]]`` tables read as the gateway reads them (the fleet's TOML is read without
    dataclasses)."""
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        raise ConfigError("smpp_accounts must be an array of tables ([[smpp_accounts]])")
    return [_build(SmppAccount, t, f"[[smpp_accounts]] #{i + 1}") for i, t in enumerate(raw)]


@dataclass
class GatewayConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    ports: int = 8
    slots: int = 4
    username: str = "root"
    password: str = "root"
    # When set: the password is EJOIN_PASSWORD from the environment, else this file's first line (relative
    # to data), written with a random password at the first start (ejoin.credentials).  password unused.
    password_file: str = ""
    data: str = "./ejoin-data"
    modems: str = DEFAULT_MODEMS  # the driver of the GSM modules, by name (ejoin.drivers)
    seed: int = 1
    fast: bool = False  # every simulated delay zero
    mac: str | None = None
    ip: str | None = None
    sw_ver: str = "ejoin-0.1.0"
    port_names: str = "dotted"  # or "letter" for v2.1.0 clients ("1A")
    max_body: int = 16 * 1024 * 1024
    read_timeout: float = 30.0  # seconds a client may take to send a request's head, and its body
    max_connections: int = 1000  # open HTTP connections; more are answered 503 and closed
    # Origins (scheme://host[:port]) whose browser pages may call the API; other sites' are refused (403).
    allowed_origins: list[str] = dataclasses.field(default_factory=list)
    push_timeout: float = 10.0
    push_retry_base: float = 1.0
    push_retry_cap: float = 300.0
    push_retry_window: float = 259_200.0  # seconds a push is retried before it goes to the dead-letter table
    push_dead_keep: int = 10_000  # dead-letter pushes kept per destination (older ones are deleted)
    sqlite_sync: str = "normal"
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
    log_format: str = "text"  # or "json": one JSON object a line
    inbox_max: int = 100_000  # received SMS kept; older ones (already pushed) are pruned hourly
    concat_timeout: float = 120.0  # seconds to wait for the missing parts of a long inbound SMS
    timezone: str = ""  # IANA name for "today" in statistics; "" = the machine's local time
    smpp_port: int = 0  # SMPP 3.4 server (docs/smpp.md); 0: off
    smpp_host: str = ""  # "": the HTTP host
    smpp_window: int = 100  # requests a bind may have unanswered; more get ESME_RTHROTTLED
    smpp_accounts: list[SmppAccount] = dataclasses.field(default_factory=list)  # besides username/password
    # The chosen driver's own settings (its DriverKind.settings dataclass), built from its keys.
    driver: Any = None
    # The chosen driver's kind (gateway/plugin.py DriverKind), found by load_config's lookup.
    kind: Any = None

    def validate(self) -> GatewayConfig:
        if not 1 <= self.ports <= 256:
            raise ConfigError(f"ports must be 1 to 256, not {self.ports}")
        if not 1 <= self.slots <= 32:
            raise ConfigError(f"slots must be 1 to 32, not {self.slots}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be 0 to 65535, not {self.port}")
        if self.log_format not in ("text", "json"):
            raise ConfigError(f"log_format is 'text' or 'json', not {self.log_format!r}")
        if self.port_names not in ("dotted", "letter"):
            raise ConfigError(f"port_names is 'dotted' or 'letter', not {self.port_names!r}")
        if self.max_body < 1024:
            raise ConfigError("max_body must be at least 1024 bytes")
        if not self.username:
            raise ConfigError("username must not be empty")
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
        problem = getattr(self.driver, "problem", None)
        if problem is not None and (reason := problem(self)):
            raise ConfigError(reason)
        if self.push_retry_window <= 0:
            raise ConfigError("push_retry_window must be positive (seconds; default 259200 = 3 days)")
        if self.push_dead_keep < 1:
            raise ConfigError("push_dead_keep must be at least 1")
        self.allowed_origins = check_origins(self.allowed_origins)
        if reason := smpp_problem(self.smpp_port, self.smpp_window, self.smpp_accounts):
            raise ConfigError(reason)
        return self


DEFAULT_PORTS = {"http": "80", "https": "443"}


def origin_key(origin: str) -> str | None:
    """``scheme://host[:port]`` lower-cased, the default port left out; None if it is no origin."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in DEFAULT_PORTS or not host or parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    if ":" in host:
        host = f"[{host}]"
    shown_port = "" if port is None or str(port) == DEFAULT_PORTS[scheme] else f":{port}"
    return f"{scheme}://{host}{shown_port}"


def check_origins(values: Any) -> list[str]:
    """``allowed_origins`` as the cross-site check compares them (web/cross_site.py), or why not.

    A list of ``scheme://host[:port]``; a string is split at commas (the flag's form)."""
    if isinstance(values, str):
        values = [v for v in (part.strip() for part in values.split(",")) if v]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ConfigError('allowed_origins is a list of origins such as "https://platform.example.com"')
    keys = []
    for value in values:
        key = origin_key(value)
        if key is None:
            raise ConfigError(
                f"allowed_origins: {value!r} is not an origin (scheme://host[:port], http or https, no path)"
            )
        keys.append(key)
    return keys


def _build(cls: type, table: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(cls) if f.init}
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ConfigError(f"unknown key(s) in {where}: {', '.join(unknown)}")
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for name, value in table.items():
        hint = hints[name]
        item = typing.get_args(hint)[0] if typing.get_origin(hint) is list and typing.get_args(hint) else None
        if isinstance(hint, type) and is_dataclass(hint):
            if not isinstance(value, dict):
                raise ConfigError(f"[{name}] must be a table")
            value = _build(hint, value, f"[{name}]")
        elif isinstance(item, type) and is_dataclass(item):
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                raise ConfigError(f"{name} must be an array of tables ([[{name}]])")
            value = [_build(item, v, f"[[{name}]] #{i + 1}") for i, v in enumerate(value)]
        else:
            value = _coerce(value, known[name], where)
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _coerce(value: Any, f: dataclasses.Field, where: str) -> Any:
    kind = str(f.type)
    if "float" in kind and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        # TOML has inf and nan: they pass every "> 0" check, and then a timer never fires (or always does)
        raise ConfigError(f"{where}: {f.name} must be a finite number, not {value}")
    expected = {"int": int, "float": float, "bool": bool, "str": str}
    for name, typ in expected.items():
        if kind.startswith(name):
            ok = isinstance(value, typ) and not (typ is int and isinstance(value, bool))
            if not ok and not ("None" in kind and value is None):
                raise ConfigError(f"{where}: {f.name} must be {name}, not {type(value).__name__}")
    return value


def load_config(
    path: str | Path | None = None, overrides: dict[str, Any] | None = None, *, drivers: DriverLookup
) -> GatewayConfig:
    table: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as fh:
                table = tomllib.load(fh)
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config {path} is not valid TOML: {exc}") from None
    if "password" in table and table.get("password_file"):
        raise ConfigError(f"{path}: give password or password_file, not both")
    for key, value in (overrides or {}).items():
        if value is not None:
            table[key] = value
            if key == "password" and (overrides or {}).get("password_file") is None:
                table.pop("password_file", None)  # --password on the command line wins over the file's way
    where = str(path) if path else "settings"
    name = table.get("modems", DEFAULT_MODEMS)
    try:
        kind = drivers(name)
    except LookupError as exc:
        raise ConfigError(str(exc.args[0]) if exc.args else str(exc)) from None
    own = {f.name for f in fields(GatewayConfig)} - DERIVED
    theirs = {f.name for f in fields(kind.settings)} if kind.settings is not None else set()
    unknown = sorted(set(table) - own - theirs)
    if unknown:
        raise ConfigError(f"unknown key(s) in {where}: {', '.join(unknown)}")
    config = _build(GatewayConfig, {k: v for k, v in table.items() if k in own}, where)
    if kind.settings is not None:
        config.driver = _build(kind.settings, {k: v for k, v in table.items() if k in theirs}, where)
    config.kind = kind
    return config.validate()
