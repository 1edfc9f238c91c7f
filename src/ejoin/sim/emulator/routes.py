"""``/sim/fault``: make an emulated module misbehave, unplug it, plug it in again."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, cast

from msgspec import UNSET, UnsetType

from ...gateway.plugin import DriverHost
from ...protocol.codes import ResultCode
from ...protocol.operations import Operation
from ...web.endpoint import ApiError, ApiRequest, endpoint
from ...web.route import Route
from ..routes import SlotQuery, _address, _ok, _params
from .engine import EmulatedModem, Faults


class Line(Protocol):
    """A module on its serial line (``MemoryLine``, ``PtyModem``)."""

    modem: EmulatedModem

    @property
    def plugged(self) -> bool: ...
    def plug(self) -> None: ...
    def unplug(self) -> None: ...


class Emulators(Protocol):
    """What /sim/fault drives of the emulated network (``network.EmulatedNetwork`` has it)."""

    @property
    def emulators(self) -> Mapping[int, Line]: ...


ACTIONS = ("unplug", "plug", "replug", "reset")  # reset: the module restarts by itself


@endpoint()
async def fault(req: ApiRequest, gw: DriverHost) -> dict[str, Any]:
    p = _params(req)
    addr = _address(p, gw, slot=False)
    net = cast(Emulators, gw.modems)  # mounted only with the emulated modules
    line = net.emulators[addr.port]
    name = p.get("fault", "")
    if name in ACTIONS:
        if name in ("unplug", "replug"):
            line.unplug()
        if name in ("plug", "replug"):
            line.plug()
        if name == "reset":
            line.modem.reboot()
    else:
        try:
            line.modem.set_fault(name, p.get("value", "1"))
        except ValueError as exc:
            raise ApiError(ResultCode.BAD_REQUEST, str(exc), 400) from None
        except (TypeError, ArithmeticError):
            raise ApiError(
                ResultCode.BAD_REQUEST, f"value {p.get('value', '')[:20]!r} does not fit {name}", 400
            ) from None
    faults = {k: v for k, v in vars(line.modem.faults).items() if v != getattr(_NONE, k)}
    return _ok(port=addr.port, plugged=line.plugged, faults=faults)


_NONE = Faults()
KNOWN = ", ".join((*Faults.__dataclass_fields__, *ACTIONS))


class FaultQuery(SlotQuery):
    fault: str | UnsetType = UNSET
    value: str | UnsetType = UNSET


FAULT = Operation("/sim/fault", f"Emulated modules: a fault on or off ({KNOWN})", query=FaultQuery)
FAULT_ROUTES = (Route(FAULT, fault),)
