"""Gateway configuration: defaults < TOML file (``--config``) < command-line flags.

Every flag has a top-level TOML key of the same name (dashes become
underscores).  The keys a fleet has too are ``ServerConfig``'s (ejoin.config),
declared once; these are the device's own.  ``modems`` names the driver of the
modules; whoever puts the program together (the CLI, ``ejoin.testing``) gives
``load_config`` the lookup of driver kinds by name (``ejoin.drivers.kind``),
so the gateway itself knows no driver.  The driver may bring keys of its own
(its ``DriverKind.settings`` Struct: the simulated network's ``[timing]``,
``[[sim]]``, ...), accepted only while it is the one chosen and loaded by the
same typed loader.  Unknown keys are refused (the closest known one
suggested), a wrong type or a value out of bounds is one line naming the file,
the key and what was expected.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from msgspec import Meta

from ..config import Refused, ServerConfig, Sources, keys_of, refuse_unknown, shown, typed
from ..config.server import AtLeastOne, Seconds, SecondsOrZero

DEFAULT_MODEMS = "simulated"
SQLITE_SYNC = ("off", "normal", "full", "extra")


class DriverChoice(Protocol):
    """What loading a config needs of a driver kind (gateway/plugin.py ``DriverKind`` has it)."""

    @property
    def name(self) -> str: ...
    @property
    def settings(self) -> type[Any] | None: ...


# A driver kind by name; LookupError (its message names the known ones) if there is none.
DriverLookup = Callable[[str], DriverChoice]


class GatewayConfig(ServerConfig):
    # Fields that are no TOML keys: what load_config derives (the driver's settings and kind).
    DERIVED: ClassVar[frozenset[str]] = frozenset({"driver", "kind"})

    ports: Annotated[int, Meta(ge=1, le=256)] = 8
    modems: str = DEFAULT_MODEMS  # the driver of the GSM modules, by name (ejoin.drivers)
    seed: int = 1
    fast: bool = False  # every simulated delay zero
    mac: str | None = None
    ip: str | None = None
    sw_ver: str = "ejoin-0.1.0"
    port_names: Literal["dotted", "letter"] = "dotted"  # "letter" for v2.1.0 clients ("1A")
    sqlite_sync: str = "normal"  # off, normal, full, extra (SQLite's PRAGMA synchronous)
    max_queued_tasks: AtLeastOne = 100_000  # open tasks; more get 16 Too Many Task
    max_tasks_per_request: AtLeastOne = 10_000  # tasks past this in one request get 16 Too Many Task
    shutdown_grace: SecondsOrZero = 5.0  # seconds SMS in a module get to finish at a stop
    concat_timeout: Seconds = 120.0  # seconds to wait for the missing parts of a long inbound SMS
    timezone: str = ""  # IANA name for "today" in statistics; "" = the machine's local time
    # The chosen driver's own settings (an instance of its DriverKind.settings Struct), built from its keys.
    driver: Any = None
    # The chosen driver's kind (gateway/plugin.py DriverKind), found by load_config's lookup.
    kind: Any = None

    def check(self) -> None:
        """What the types cannot say: ``Refused`` naming the key."""
        self.check_server()
        if self.sqlite_sync.lower() not in SQLITE_SYNC:
            raise Refused(("sqlite_sync",), f"expected one of {', '.join(SQLITE_SYNC)}, not {shown(self.sqlite_sync)}")
        if self.timezone:
            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise Refused(("timezone",), f"unknown time zone {shown(self.timezone)} (an IANA name)") from None
        check = getattr(self.driver, "check", None)
        if check is not None:
            check(self)


def load_config(
    path: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    *,
    drivers: DriverLookup,
    flags: bool = False,
) -> GatewayConfig:
    """The gateway's config from ``path`` with ``overrides`` over it (``flags``: they are the command
    line's); ``ConfigError`` (one line naming the file or flag, the key and what was expected) if it
    cannot be used."""
    sources = Sources(path, overrides, flags=flags)
    table = sources.table
    with sources.naming():
        name = table.get("modems", DEFAULT_MODEMS)
        if not isinstance(name, str):
            raise Refused(("modems",), f"expected a driver's name, not {shown(name)}")
        try:
            kind = drivers(name)
        except LookupError as exc:
            raise Refused(("modems",), str(exc.args[0]) if exc.args else str(exc)) from None
        own = keys_of(GatewayConfig)
        theirs = keys_of(kind.settings) if kind.settings is not None else frozenset()
        refuse_unknown(table, own | theirs)
        config = typed(GatewayConfig, {k: v for k, v in table.items() if k in own})
        if kind.settings is not None:
            config.driver = typed(kind.settings, {k: v for k, v in table.items() if k in theirs})
        config.kind = kind
        config.check()
    return config
