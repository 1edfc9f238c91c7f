"""The registry of modem drivers: ``modems = "NAME"`` (or ``--modems NAME``) picks one.

A driver is one package exposing a ``DriverKind`` (gateway/plugin.py) and one
entry here; nothing else in ejoin imports a driver's package.  Entries import
their package only when chosen, so a driver's dependencies (a serial library,
say) are needed only by those who run it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .gateway.plugin import DriverKind

DEFAULT = "simulated"


def _simulated() -> DriverKind:
    from .sim import KIND

    return KIND


def _at() -> DriverKind:
    from .atdriver import KIND

    return KIND


def _emulated() -> DriverKind:
    from .sim.emulator import KIND

    return KIND


DRIVERS: dict[str, Callable[[], DriverKind]] = {
    "simulated": _simulated,
    "at": _at,
    "emulated": _emulated,
}


async def run_modem_emulators(profile: str, count: int, seed: int, directory: str) -> None:
    """``ejoin modem-emulator``: emulated modules alone, on pseudo-terminals, until cancelled."""
    from .sim.emulator.standalone import run

    await run(profile, count, seed, directory)


class UnknownDriver(LookupError):
    pass


def kind(name: str) -> DriverKind:
    """The driver registered as ``name``; UnknownDriver (one line naming the known ones) if none is."""
    factory = DRIVERS.get(name) if isinstance(name, str) else None
    if factory is None:
        raise UnknownDriver(f"unknown modems {name!r}; known: {', '.join(sorted(DRIVERS))}")
    return factory()
