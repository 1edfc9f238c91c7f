"""The registry of modem drivers: ``modems = "NAME"`` (or ``--modems NAME``) picks one.

A driver is a package exposing a ``DriverKind`` (gateway/plugin.py), declared
as an entry point of the ``ejoin.drivers`` group (pyproject.toml); a driver
installed from another distribution registers itself the same way.  Nothing
here imports a driver's package: the entry point is loaded only when its name
is chosen, so a driver's dependencies (a serial library, say) are needed only
by those who run it.  The registry is used where the program is put together
(the CLI, ``ejoin.testing``, tests and benchmarks), never by the gateway itself.
"""

from __future__ import annotations

import difflib
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .gateway.config import GatewayConfig
    from .gateway.plugin import DriverKind

GROUP = "ejoin.drivers"
# Kinds a program registers in code (an embedding application, a test) beside the installed ones.
REGISTERED: dict[str, DriverKind] = {}


class UnknownDriver(LookupError):
    pass


@cache
def _entries() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def names() -> list[str]:
    return sorted({*_entries(), *REGISTERED})


def kind(name: str) -> DriverKind:
    """The driver registered as ``name``; UnknownDriver (one line naming the known ones) if none is."""
    if isinstance(name, str) and name in REGISTERED:
        return REGISTERED[name]
    entry = _entries().get(name) if isinstance(name, str) else None
    if entry is None:
        known = names()
        close = difflib.get_close_matches(str(name), known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        listed = ", ".join(known) or f"none (no {GROUP} entry points: is ejoin installed?)"
        raise UnknownDriver(f"no driver named {name!r}{hint}; known: {listed}")
    found = entry.load()
    from .gateway.plugin import DriverKind

    if not isinstance(found, DriverKind):
        raise UnknownDriver(f"the {GROUP} entry point {name!r} ({entry.value}) is not a DriverKind")
    return found


def load_gateway_config(
    path: str | Path | None = None, overrides: dict[str, Any] | None = None, *, flags: bool = False
) -> GatewayConfig:
    """``gateway.config.load_config`` with the installed drivers: how ``ejoin gateway`` reads its config."""
    from .gateway.config import load_config

    return load_config(path, overrides, drivers=kind, flags=flags)
