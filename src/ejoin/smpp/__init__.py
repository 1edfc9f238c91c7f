"""SMPP 3.4 in front of a gateway or a fleet (``smpp_port``): see docs/smpp.md.

``server_for`` is all the runtimes call: it makes the server when ``smpp_port`` is set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..clock import Clock
from .device import FleetDevice, GatewayDevice, SmppDevice
from .local import LocalPushes
from .server import SmppServer
from .store import SmppStore

__all__ = ["FleetDevice", "GatewayDevice", "LocalPushes", "SmppServer", "server_for"]


def server_for(config: Any, device: SmppDevice, clock: Clock, pushes: LocalPushes) -> SmppServer | None:
    """The SMPP server a gateway's or a fleet's config asks for (None with ``smpp_port`` 0)."""
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
