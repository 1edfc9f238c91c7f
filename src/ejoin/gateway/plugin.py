"""What a kind of modem driver brings to the gateway, beside the ModemDriver itself.

The gateway knows drivers only through this: a ``DriverKind`` (registered by
name in ``ejoin.drivers``) builds ``Modems`` — the driver, the inventory of
slots never stored, its part in the life cycle, the web routes it adds (the
simulator's ``/sim/*``) and an eUICC if its modules have one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..clock import Clock
from ..modems.base import ModemDriver
from ..protocol.ports import PortAddress
from ..store.base import SlotRecord, Store
from .esim import Euicc

if TYPE_CHECKING:
    from .config import GatewayConfig
    from .runtime import Gateway


@dataclass(frozen=True)
class Route:
    """A web route a driver adds: GET and POST on ``path``, with its entry in /openapi.json."""

    path: str
    handler: Callable[..., Awaitable[Any]]
    summary: str
    query: dict[str, Any] = field(default_factory=dict)  # query parameter -> JSON schema, as documented
    body: dict[str, Any] | None = None  # JSON schema of the body, as documented
    methods: tuple[str, ...] = ("get",)  # as documented; both are served


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

    async def attach(self, gw: Gateway) -> None:
        """The gateway's parts exist (device attached, inbox ready); the modules have not started."""

    def start(self) -> None:
        """The device runs: start what the driver does on its own."""

    async def stop(self) -> None:
        """Called first when the gateway stops."""


@dataclass(frozen=True)
class DriverKind:
    name: str
    create: Callable[[GatewayConfig, Clock, Store], Modems]
    # A dataclass whose fields are extra top-level config keys, accepted only with this driver;
    # its instance is ``GatewayConfig.driver``.  A ``problem(config) -> str | None`` method validates it.
    settings: type | None = None
