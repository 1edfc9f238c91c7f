"""sd_notify without libsystemd: tell a ``Type=notify`` unit that the gateway is ready or stopping.

A no-op when not started by systemd (no ``NOTIFY_SOCKET``), so it is always safe to call.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


def notify(state: str) -> bool:
    """Send ``state`` ("READY=1", "STOPPING=1", "STATUS=...") to systemd; True if it was sent."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
        return True
    except OSError as exc:
        log.warning("could not notify systemd (%s): %s", state.split("=", 1)[0], exc)
        return False
