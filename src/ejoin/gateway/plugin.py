"""What a kind of modem driver brings to the gateway, beside the ModemDriver itself.

The gateway knows drivers only through this: a ``DriverKind`` (found by name
where the program is put together: ``ejoin.drivers``, the CLI, ``ejoin.testing``,
and handed to the gateway in its config) builds ``Modems`` — the driver, the
inventory of slots never stored, its part in the life cycle, the web routes it
adds (the simulator's ``/sim/*``) and an eUICC if its modules have one.  A
driver sees the running device as a ``DriverHost``: the parts it may use, not
the whole gateway.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import msgspec

from ..clock import Clock
from ..modems.base import ModemDriver
from ..protocol.ports import DeviceSize, PortAddress
from ..store.base import SlotRecord, Store
from ..web.route import Route
from .config import GatewayConfig
from .device import Device
from .esim import Euicc
from .outbox import Outbox
from .receiving import Inbox
from .settings import DeviceSettings


class DriverHost(Protocol):
    """The running device as a driver (and its web routes) may use it."""

    @property
    def config(self) -> GatewayConfig: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def store(self) -> Store: ...
    @property
    def size(self) -> DeviceSize: ...
    @property
    def device(self) -> Device: ...
    @property
    def inbox(self) -> Inbox: ...
    @property
    def settings(self) -> DeviceSettings: ...
    @property
    def modems(self) -> Modems: ...
    @property
    def outbox(self) -> Outbox: ...  # the simulator's MMS pushes
    @property
    def ssrc(self) -> str: ...


class Modems:
    """A driver as the gateway runs it.  The defaults suit a driver that needs nothing more."""

    routes: tuple[Route, ...] = ()
    euicc: Euicc | None = None  # the modules' eUICC (goip_*_esims); None: they have none

    def __init__(self, driver: ModemDriver) -> None:
        self.driver = driver

    def new_slots(self, addrs: list[PortAddress]) -> list[SlotRecord]:
        """Records for slots the store has never seen (first start): by default nothing is known
        of them until their card is detected."""
        return [SlotRecord(port=a.port, slot=a.slot or 0) for a in addrs]

    async def attach(self, host: DriverHost) -> None:
        """The gateway's parts exist (device attached, inbox ready); the modules have not started."""

    def start(self) -> None:
        """The device runs: start what the driver does on its own."""

    async def stop(self) -> None:
        """Called first when the gateway stops."""


@dataclass(frozen=True)
class DriverKind:
    name: str
    create: Callable[[GatewayConfig, Clock, Store], Modems]
    # A msgspec Struct whose fields are extra top-level config keys, accepted only with this driver and
    # loaded by the gateway's typed loader (ejoin.config); its instance is ``GatewayConfig.driver``.  A
    # ``check(config)`` method says what its types cannot, raising ``ejoin.config.Refused`` naming the key.
    settings: type[msgspec.Struct] | None = None
