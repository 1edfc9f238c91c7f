"""The simulated module's answers to AT commands: identity and status, consistent with dev-status.

It answers what the device shows of the port (the active slot's IMEI, card,
registration, the signal last read) as a module would: ATI, AT+CGSN, AT+CIMI,
AT+CCID/AT+QCCID, AT+CSQ, AT+CREG?, AT+COPS?, AT+CPIN?, AT+CMGF? (PDU mode, as a
driver sets it); ``ERROR`` to the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .. import __version__
from ..protocol.codes import PortState
from ..protocol.ussd import AtCommand, split_at_line

NO_SIM, SIM_FAILURE = "+CME ERROR: 10", "+CME ERROR: 13"


@dataclass(frozen=True)
class ModuleView:
    """The port as the device shows it: what the simulated module tells of itself."""

    imei: str
    present: bool
    iccid: str
    imsi: str
    operator: str  # "<PLMN> <name>"
    state: PortState
    signal: int


class _Final(Exception):
    """A final result other than OK ends the line (V.250)."""


def _card(view: ModuleView) -> None:
    if not view.present:
        raise _Final(NO_SIM)
    if view.state == PortState.SIM_ERROR:
        raise _Final(SIM_FAILURE)


def _creg(view: ModuleView) -> int:
    if view.state in (PortState.REGISTERED, PortState.CALL_CONNECTED):
        return 1
    if view.state in (PortState.REGISTERING, PortState.CARD_DETECTED, PortState.ACCESS_NETWORK):
        return 2
    if view.state in (PortState.REGISTER_FAILED, PortState.LOCKED_BY_DEVICE, PortState.LOCKED_BY_OPERATOR):
        return 3
    return 0


def _cops(view: ModuleView) -> list[str]:
    if _creg(view) != 1 or not view.operator:
        return ["+COPS: 0"]
    name = view.operator.partition(" ")[2] or view.operator
    return [f'+COPS: 0,0,"{name}"']


def _iccid(prefix: str) -> Callable[[ModuleView], list[str]]:
    def read(view: ModuleView) -> list[str]:
        _card(view)
        return [f"{prefix}: {view.iccid}"]

    return read


def _imsi(view: ModuleView) -> list[str]:
    _card(view)
    return [view.imsi]


def _cpin(view: ModuleView) -> list[str]:
    _card(view)
    return ["+CPIN: READY"]


# (name, rest) -> answer lines before OK
_ANSWERS: dict[tuple[str, str], Callable[[ModuleView], list[str]]] = {
    ("I", ""): lambda v: ["EJOIN", "Simulated GSM module", f"Revision: ejoin {__version__}"],
    ("I", "0"): lambda v: ["EJOIN", "Simulated GSM module", f"Revision: ejoin {__version__}"],
    ("+CGSN", ""): lambda v: [v.imei],
    ("+GSN", ""): lambda v: [v.imei],
    ("+CIMI", ""): _imsi,
    ("+CCID", ""): _iccid("+CCID"),
    ("+QCCID", ""): _iccid("+QCCID"),
    ("+CSQ", ""): lambda v: [f"+CSQ: {v.signal},99"],
    ("+CREG", "?"): lambda v: [f"+CREG: 0,{_creg(v)}"],
    ("+COPS", "?"): _cops,
    ("+CPIN", "?"): _cpin,
    ("+CMGF", "?"): lambda v: ["+CMGF: 0"],
}


def _one(cmd: AtCommand, view: ModuleView) -> list[str]:
    answer = _ANSWERS.get((cmd.name, cmd.rest.strip()))
    if answer is None:
        raise _Final("ERROR")
    return answer(view)


def answer(line: str, view: ModuleView) -> str:
    """The module's raw answer to one (checked) command line, lines joined by CR LF, final result last."""
    lines: list[str] = []
    try:
        for cmd in split_at_line(line):
            lines += _one(cmd, view)
    except _Final as final:
        return "\r\n".join([*lines, str(final)])
    return "\r\n".join([*lines, "OK"])
