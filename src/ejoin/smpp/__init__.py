"""SMPP 3.4 in front of a gateway or a fleet (``smpp_port``): see docs/smpp.md.

Neither the gateway nor the fleet knows this package: where the program is put together (the CLI,
``ejoin.testing``, tests) ``for_gateway`` or ``for_fleet`` makes the server their config asks for
and puts it in the device's ``attached`` parts (gateway/attached.py), started after the device and
stopped before it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..clock import Clock
from ..gateway.attached import LocalPushes
from .device import FleetDevice, GatewayDevice, SmppDevice
from .server import SmppServer
from .store import SmppStore

if TYPE_CHECKING:
    from ..fleet.engine.runtime import Fleet
    from ..gateway.runtime import Gateway

__all__ = ["SmppServer", "for_fleet", "for_gateway"]


def for_gateway(gateway: Gateway) -> SmppServer | None:
    """The SMPP server of a gateway whose config sets ``smpp_port`` (None without), attached to it."""
    return _attach(gateway, GatewayDevice(gateway))


def for_fleet(fleet: Fleet) -> SmppServer | None:
    """The SMPP server of a fleet whose config sets ``smpp_port`` (None without), attached to it."""
    return _attach(fleet, FleetDevice(fleet))


def _attach(owner: Gateway | Fleet, device: SmppDevice) -> SmppServer | None:
    server = _server(owner.config, device, owner.clock, owner.pushes)
    if server is not None:
        owner.attached.append(server)
    return server


def _server(config: Any, device: SmppDevice, clock: Clock, pushes: LocalPushes) -> SmppServer | None:
    if not config.smpp_port:
        return None
    return SmppServer(
        device,
        SmppStore(Path(config.data) / "smpp.sqlite3"),
        clock,
        pushes,
        host=config.smpp_host or config.host,
        port=config.smpp_port,
        window=config.smpp_window,
        accounts=list(config.smpp_accounts),
        device_credentials=(config.username, config.password),
    )
