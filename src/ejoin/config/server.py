"""What a gateway and a fleet configure alike: the keys both serve with, declared once, and how a
program's config is put together from its file and its flags.

``ServerConfig`` holds the keys both programs read (how they listen, who may call them, the
limits of the shared HTTP machinery, the outbox, what they keep); ``GatewayConfig`` and
``FleetConfig`` add their own.  ``Sources`` merges the TOML file and the flags over it
(defaults < file < flags), applies the one rule of ``password`` and ``password_file``, and names
where a refused key came from: ``fleet.toml: lease: ...``, ``--port: ...``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import msgspec
from msgspec import Meta

from .typed import ConfigError, Refused, shown

# Bounded values the configs of both programs (and the drivers') use.
Port = Annotated[int, Meta(ge=0, le=65535)]
Slots = Annotated[int, Meta(ge=1, le=32)]
AtLeastOne = Annotated[int, Meta(ge=1)]
NotNegative = Annotated[int, Meta(ge=0)]
Seconds = Annotated[float, Meta(gt=0)]  # a duration that must pass (a timer of 0 would spin)
SecondsOrZero = Annotated[float, Meta(ge=0)]
Share = Annotated[float, Meta(ge=0, le=1)]
LogLevel = Literal["debug", "info", "warning", "error"]
LogFormat = Literal["text", "json"]
Origins = Annotated[list[str], Meta(description='an array of origins such as ["https://platform.example.com"]')]


class SmppAccount(msgspec.Struct, forbid_unknown_fields=True):
    """An ``[[smpp_accounts]]`` table: an SMPP login besides the device's own (docs/smpp.md)."""

    system_id: Annotated[str, Meta(min_length=1, max_length=15)]  # SMPP 3.4's limits
    password: Annotated[str, Meta(min_length=1, max_length=8)]
    throughput: Annotated[float, Meta(ge=0)] = 0.0  # submit_sm a second; 0: no limit


class ServerConfig(msgspec.Struct, forbid_unknown_fields=True):
    """The keys a gateway and a fleet share, each meaning the same in both (docs/configuration.md)."""

    host: str = "127.0.0.1"
    port: Port = 8080
    username: Annotated[str, Meta(min_length=1)] = "root"
    password: str = "root"
    # When set: the password is EJOIN_PASSWORD from the environment, else this file's first line (relative
    # to data), written with a random password at the first start (ejoin.credentials).  password unused.
    password_file: str = ""
    data: str = "./ejoin-data"
    slots: Slots = 4  # SIM slots a port has (a fleet: that a fleet port may name)
    log_level: LogLevel = "info"
    log_format: LogFormat = "text"  # or "json": one JSON object a line
    max_body: Annotated[int, Meta(ge=1024)] = 16 * 1024 * 1024
    read_timeout: Seconds = 30.0  # seconds a client may take to send a request's head, and its body
    max_connections: AtLeastOne = 1000  # open HTTP connections; more are answered 503 and closed
    # Origins (scheme://host[:port]) whose browser pages may call the API; other sites' are refused (403).
    allowed_origins: Origins = msgspec.field(default_factory=list)
    max_sessions: AtLeastOne = 1000  # open secure sessions
    login_delay_cap: SecondsOrZero = 5.0  # longest delay for an address that keeps giving wrong credentials
    tls_cert: str = ""  # PEM certificate and key: serve HTTPS
    tls_key: str = ""
    push_timeout: Seconds = 10.0
    push_retry_base: Seconds = 1.0
    push_retry_cap: Seconds = 300.0
    push_retry_window: Seconds = 259_200.0  # seconds a push is retried before it goes to the dead-letter table
    push_dead_keep: AtLeastOne = 10_000  # dead-letter pushes kept per destination (older ones are deleted)
    task_retention: Seconds = 3600.0  # seconds a finished, reported task is kept
    inbox_max: AtLeastOne = 100_000  # received SMS kept; older ones (already pushed) are pruned hourly
    max_recipients: AtLeastOne = 1_000_000  # per task
    # An SMPP 3.4 server in front (docs/smpp.md), put beside the device where the program is put together.
    smpp_port: Port = 0  # 0: off
    smpp_host: str = ""  # "": host
    smpp_window: Annotated[int, Meta(ge=1, le=10_000)] = 100  # requests a bind may have unanswered
    smpp_accounts: list[SmppAccount] = msgspec.field(default_factory=list)  # besides username/password

    def check_server(self) -> None:
        """What the shared keys' types cannot say; ``allowed_origins`` as the cross-site check compares them."""
        if bool(self.tls_cert) != bool(self.tls_key):
            given = "tls_cert" if self.tls_cert else "tls_key"
            raise Refused((given,), "tls_cert and tls_key go together: give both (PEM files) or neither")
        if self.push_retry_cap < self.push_retry_base:
            raise Refused(
                ("push_retry_cap",),
                f"must be at least push_retry_base ({self.push_retry_base:g}), not {self.push_retry_cap:g}",
            )
        self.allowed_origins = check_origins(self.allowed_origins)
        seen = [a.system_id for a in self.smpp_accounts]
        for i, system_id in enumerate(seen):
            if system_id in seen[:i]:
                raise Refused(("smpp_accounts", i, "system_id"), f"{shown(system_id)} is listed twice")


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


def check_origins(values: list[str]) -> list[str]:
    """``allowed_origins`` as the cross-site check compares them (web/cross_site.py), or Refused naming the
    one that is no origin."""
    keys = []
    for i, value in enumerate(values):
        key = origin_key(value)
        if key is None:
            raise Refused(
                ("allowed_origins", i),
                f"{shown(value)} is not an origin (scheme://host[:port], http or https, no path)",
            )
        keys.append(key)
    return keys


def split_origins(text: str) -> list[str]:
    """The ``--allowed-origins`` flag's form: origins separated by commas."""
    return [v for v in (part.strip() for part in text.split(",")) if v]


def read_toml(path: str | Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not valid TOML: it is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


class Sources:
    """A program's settings: its TOML file (if any), the values given over it (the flags), merged
    into one table; where each key came from names it when it is refused.

    ``flags``: the values given are the command line's flags (``--port``), else a program's own
    settings (``ejoin.testing``, tests), named by their keys."""

    def __init__(self, path: str | Path | None, given: Mapping[str, Any] | None = None, *, flags: bool = False) -> None:
        self.path = None if path is None else str(path)
        self.flags = flags
        self.table: dict[str, Any] = read_toml(path) if path is not None else {}
        if "password" in self.table and self.table.get("password_file"):
            raise ConfigError(f"{self.path}: password_file: give password or password_file, not both")
        self.given = {key for key, value in (given or {}).items() if value is not None}
        for key in self.given:
            self.table[key] = (given or {})[key]
        if "password" in self.given and "password_file" not in self.given:
            self.table.pop("password_file", None)  # --password on the command line wins over the file's way

    @contextmanager
    def naming(self) -> Iterator[None]:
        """A ``Refused`` inside becomes one ``ConfigError`` line naming the file or the flag first."""
        try:
            yield
        except Refused as exc:
            raise ConfigError(self.named(exc)) from None

    def named(self, exc: Refused) -> str:
        key = exc.key
        top = key[0] if isinstance(key, tuple) and key and isinstance(key[0], str) else None
        if top is not None and top in self.given:
            if self.flags and len(key) <= 2:
                return f"--{top.replace('_', '-')}: {exc.reason}"
            return str(exc)
        return f"{self.path}: {exc}" if self.path else str(exc)
