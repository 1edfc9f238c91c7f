"""The simulated GSM network: the default driver of ``ejoin gateway`` (``modems = "simulated"``).

Everything only a simulator needs lives here; the rest of ejoin reaches it
through the driver registry (``ejoin.drivers``) alone.
"""

from ..gateway.plugin import DriverKind
from .config import SimSettings
from .network import create

KIND = DriverKind(name="simulated", create=create, settings=SimSettings)

__all__ = ["KIND"]
