"""The simulated module's answers to AT commands: identity and status, consistent with dev-status.

It answers what the device shows of the port (the active slot's IMEI, card,
registration, the signal last read) as a module would: ATI, AT+CGMI/CGMM/CGMR,
AT+CGSN, AT+CIMI, AT+CCID/AT+QCCID, AT+CSQ, AT+CREG?/CGREG?/CEREG?, AT+CGATT?,
AT+COPS?, AT+CPIN?, AT+CMGF? (PDU mode, as a driver sets it), AT+CSCS? (GSM);
the SIM's files as tools read them (AT+CRSM, AT+CSIM, logical channels: AT+CCHO,
AT+CGLA, AT+CCHC); the IMEI through AT+EGMR (read, and the write that follows
``op=set sim_imei``: checked, answered OK; the device's record stays what the
port shows); ``ERROR`` to the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .. import __version__
from ..protocol.at import split_args
from ..protocol.codes import PortState
from ..protocol.numbers import NumberError, imei
from ..protocol.ussd import AtCommand, split_at_line
from .uicc import CardFiles, Uicc

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
    number: str = ""


@dataclass
class ModuleMemory:
    """What a simulated module keeps between command lines: its card's channels."""

    uicc: Uicc | None = None
    _cards: dict[str, Uicc] = field(default_factory=dict)

    def card(self, view: ModuleView) -> Uicc:
        files = CardFiles.of(view.iccid, view.imsi, view.number, view.operator)
        if self.uicc is None or self.uicc.files != files:  # another card since: its channels are gone
            self.uicc = Uicc(files)
        return self.uicc


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


IDENTITY = ("EJOIN", "Simulated GSM module", f"ejoin {__version__}")
CME_NOT_ALLOWED, CME_NOT_SUPPORTED = "+CME ERROR: 3", "+CME ERROR: 4"


def _args(rest: str, count: int | None = None) -> list[str]:
    """The arguments of ``=...``; _Final(+CME ERROR: 3) unless there are ``count`` of them."""
    if not rest.startswith("="):
        raise _Final(CME_NOT_ALLOWED)
    fields = split_args(rest[1:])
    if count is not None and len(fields) != count:
        raise _Final(CME_NOT_ALLOWED)
    return fields


def _crsm(rest: str, view: ModuleView, memory: ModuleMemory) -> list[str]:
    fields = _args(rest)
    if len(fields) < 2 or not all(f.isdigit() for f in fields[:5] if f):
        raise _Final(CME_NOT_ALLOWED)
    _card(view)
    p = [int(f) if f else 0 for f in (fields + ["0"] * 5)[2:5]]
    sw1, sw2, data = memory.card(view).crsm(int(fields[0]), int(fields[1]), *p)
    return [f'+CRSM: {sw1},{sw2},"{data}"' if data else f"+CRSM: {sw1},{sw2}"]


def _csim(rest: str, view: ModuleView, memory: ModuleMemory) -> list[str]:
    length, apdu = _args(rest, 2)
    if not length.isdigit() or int(length) != len(apdu):
        raise _Final(CME_NOT_ALLOWED)
    _card(view)
    response = memory.card(view).apdu(apdu, 0)
    return [f'+CSIM: {len(response)},"{response}"']


def _ccho(rest: str, view: ModuleView, memory: ModuleMemory) -> list[str]:
    (aid,) = _args(rest, 1)
    _card(view)
    number = memory.card(view).open_channel(aid)
    if number is None:  # no such application: a plain USIM, no eUICC
        raise _Final(CME_NOT_SUPPORTED)
    return [f"+CCHO: {number}"]


def _cchc(rest: str, view: ModuleView, memory: ModuleMemory) -> list[str]:
    (number,) = _args(rest, 1)
    if not number.isdigit() or memory.uicc is None or not memory.uicc.close_channel(int(number)):
        raise _Final(CME_NOT_ALLOWED)
    return []


def _cgla(rest: str, view: ModuleView, memory: ModuleMemory) -> list[str]:
    number, length, apdu = _args(rest, 3)
    uicc = memory.uicc
    if not number.isdigit() or uicc is None or int(number) not in uicc.channels or length != str(len(apdu)):
        raise _Final(CME_NOT_ALLOWED)
    response = uicc.apdu(apdu, int(number))
    return [f'+CGLA: {len(response)},"{response}"']


def _egmr(rest: str, view: ModuleView, memory: ModuleMemory) -> list[str]:
    fields = _args(rest)
    if fields[:2] == ["0", "7"] and len(fields) == 2:
        return [f'+EGMR: "{view.imei}"']
    if fields[:2] != ["1", "7"] or len(fields) != 3:
        raise _Final(CME_NOT_ALLOWED)
    try:
        imei(fields[2])
    except NumberError:
        raise _Final(CME_NOT_ALLOWED) from None
    return []


# name -> the answer lines of its set form (=...), which reads or changes the module's memory
_SETTERS: dict[str, Callable[[str, ModuleView, ModuleMemory], list[str]]] = {
    "+CRSM": _crsm,
    "+CSIM": _csim,
    "+CCHO": _ccho,
    "+CCHC": _cchc,
    "+CGLA": _cgla,
    "+EGMR": _egmr,
}


# (name, rest) -> answer lines before OK
_ANSWERS: dict[tuple[str, str], Callable[[ModuleView], list[str]]] = {
    ("I", ""): lambda v: [IDENTITY[0], IDENTITY[1], f"Revision: {IDENTITY[2]}"],
    ("I", "0"): lambda v: [IDENTITY[0], IDENTITY[1], f"Revision: {IDENTITY[2]}"],
    ("+CGMI", ""): lambda v: [IDENTITY[0]],
    ("+CGMM", ""): lambda v: [IDENTITY[1]],
    ("+CGMR", ""): lambda v: [IDENTITY[2]],
    ("+CGSN", ""): lambda v: [v.imei],
    ("+GSN", ""): lambda v: [v.imei],
    ("+CIMI", ""): _imsi,
    ("+CCID", ""): _iccid("+CCID"),
    ("+QCCID", ""): _iccid("+QCCID"),
    ("+CSQ", ""): lambda v: [f"+CSQ: {v.signal},99"],
    ("+CREG", "?"): lambda v: [f"+CREG: 0,{_creg(v)}"],
    ("+CGREG", "?"): lambda v: [f"+CGREG: 0,{_creg(v)}"],
    ("+CEREG", "?"): lambda v: [f"+CEREG: 0,{_creg(v)}"],
    ("+CGATT", "?"): lambda v: [f"+CGATT: {1 if _creg(v) == 1 else 0}"],
    ("+CSCS", "?"): lambda v: ['+CSCS: "GSM"'],
    ("+CSCS", "=?"): lambda v: ['+CSCS: ("GSM","IRA","UCS2")'],
    ("+COPS", "?"): _cops,
    ("+CPIN", "?"): _cpin,
    ("+CMGF", "?"): lambda v: ["+CMGF: 0"],
}


def _one(cmd: AtCommand, view: ModuleView, memory: ModuleMemory) -> list[str]:
    rest = cmd.rest.strip()
    answer = _ANSWERS.get((cmd.name, rest))
    if answer is not None:
        return answer(view)
    setter = _SETTERS.get(cmd.name)
    if setter is not None and rest == "=?":
        return []
    if setter is not None:
        return setter(rest, view, memory)
    raise _Final("ERROR")


def answer(line: str, view: ModuleView, memory: ModuleMemory | None = None) -> str:
    """The module's raw answer to one (checked) command line, lines joined by CR LF, final result last."""
    memory = memory if memory is not None else ModuleMemory()
    lines: list[str] = []
    try:
        for cmd in split_at_line(line):
            lines += _one(cmd, view, memory)
    except _Final as final:
        return "\r\n".join([*lines, str(final)])
    return "\r\n".join([*lines, "OK"])
