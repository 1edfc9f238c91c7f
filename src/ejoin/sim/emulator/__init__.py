"""AT modem emulators on pseudo-terminals, backed by the simulated network (``modems = "emulated"``)."""

from ...gateway.plugin import DriverKind
from .network import EmulatedSettings, create

KIND = DriverKind(name="emulated", create=create, settings=EmulatedSettings)

__all__ = ["KIND"]
