"""What a GSM module says on its AT port, line by line (3GPP TS 27.005 / 27.007, V.250).

``LineReader`` takes bytes as they come off the serial line, in chunks cut
anywhere, and gives events: a final result of the command in flight, the
``> `` prompt of ``AT+CMGS`` (which has no line end), an intermediate line of
the answer, an echo of the command, an unsolicited result (with the PDU line
that follows ``+CMT:`` and ``+CDS:``), known vendor noise, or garbage.
Unsolicited results may arrive in the middle of an answer; which of two lines
with the same prefix answers the command (``+CREG:`` to ``AT+CREG?``) is the
caller's knowledge, given as ``expect``.

Pure: no I/O, no clock.  Also the quoting of command arguments, so that no
quote, CR or LF of a caller's text ever reaches a module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

CTRL_Z = b"\x1a"
ESC = b"\x1b"


class FinalKind(StrEnum):
    OK = "OK"
    ERROR = "ERROR"
    CME = "+CME ERROR"  # equipment error (27.007 9.2)
    CMS = "+CMS ERROR"  # message service error (27.005 3.2.5)
    NOT_SUPPORTED = "COMMAND NOT SUPPORT"  # some Huawei and SIMCom firmwares
    NO_CARRIER = "NO CARRIER"
    BUSY = "BUSY"
    NO_ANSWER = "NO ANSWER"
    NO_DIALTONE = "NO DIALTONE"


@dataclass(frozen=True, slots=True)
class Final:
    """The command's end: ``OK`` or one of the errors; ``code`` for numeric +CME/+CMS errors."""

    kind: FinalKind
    code: int | None = None
    text: str = ""  # the verbose error text (+CME ERROR: SIM busy), or the line as it came

    @property
    def ok(self) -> bool:
        return self.kind is FinalKind.OK


@dataclass(frozen=True, slots=True)
class Prompt:
    """``> ``: the module waits for the PDU of ``AT+CMGS`` (ended by Ctrl-Z, abandoned by ESC)."""


@dataclass(frozen=True, slots=True)
class Line:
    """An intermediate line of the answer to the command in flight."""

    text: str


@dataclass(frozen=True, slots=True)
class Echo:
    """The module repeating the command (before ATE0)."""

    text: str


@dataclass(frozen=True, slots=True)
class Urc:
    """An unsolicited result: ``name`` is its prefix (``+CMTI``, ``RING``), ``args`` what follows the colon."""

    name: str
    args: str
    pdu: str = ""  # the line after +CMT: / +CDS:


@dataclass(frozen=True, slots=True)
class Noise:
    """A vendor's status line of no interest (^RSSI, +QIND, RDY ...), or bytes that are no text."""

    text: str


Event = Final | Prompt | Line | Echo | Urc | Noise

# Unsolicited results the driver acts on; those followed by a PDU line have it joined.
URCS = frozenset(
    {"+CMTI", "+CMT", "+CDS", "+CDSI", "+CREG", "+CEREG", "+CGREG", "+CUSD", "RING", "+CLIP", "+CPIN", "RDY", "+CFUN"}
)
_WITH_PDU = frozenset({"+CMT", "+CDS"})
# Lines modules print on their own that nobody needs.
NOISE_PREFIXES = (
    "^RSSI",
    "^HCSQ",
    "^BOOT",
    "^MODE",
    "^SIMST",
    "^SRVST",
    "^SYSSTART",
    "^DSFLOWRPT",
    "^CURC",
    "^STIN",
    "+QIND",
    "+QUSIM",
    "+CPSI",
    "+CSQN",
    "+SIMCARD",
    "+STIN",
    "+PACSP",
    "+CTZV",
    "+CTZE",
    "+NITZ",
    "*PSUTTZ",
    "DST:",
    "SMS DONE",
    "PB DONE",
    "Call Ready",
    "SMS Ready",
)
_FINAL_WORDS = {
    "OK": FinalKind.OK,
    "ERROR": FinalKind.ERROR,
    "NO CARRIER": FinalKind.NO_CARRIER,
    "BUSY": FinalKind.BUSY,
    "NO ANSWER": FinalKind.NO_ANSWER,
    "NO DIALTONE": FinalKind.NO_DIALTONE,
    "COMMAND NOT SUPPORT": FinalKind.NOT_SUPPORTED,
}
_PRINTABLE = re.compile(r"[\x20-\x7e\t]*")


def parse_final(text: str) -> Final | None:
    """The final result ``text`` is, or None."""
    kind = _FINAL_WORDS.get(text)
    if kind is not None:
        return Final(kind, text=text)
    for kind in (FinalKind.CME, FinalKind.CMS):
        if text.startswith(kind.value + ":"):
            detail = text[len(kind.value) + 1 :].strip()
            return Final(kind, int(detail) if detail.isdigit() else None, detail)
    return None


def prefix(text: str) -> str:
    """``+CMTI`` of ``+CMTI: "SM",3``; the whole line when it has no colon."""
    head, colon, _ = text.partition(":")
    return head.strip() if colon else text.strip()


class LineReader:
    """Bytes in, events out.  ``expect``: the prefix whose lines answer the command now in flight."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pdu_for: Urc | None = None  # a +CMT/+CDS waiting for its PDU line
        self.expect: str | frozenset[str] = ""  # a set: a line of several commands

    def feed(self, data: bytes) -> list[Event]:
        self._buf += data
        events: list[Event] = []
        while True:
            cut = self._line_end()
            if cut is None:
                if self._buf.lstrip(b"\r\n").startswith(b"> ") and self._pdu_for is None:
                    self._buf.clear()
                    events.append(Prompt())
                return events
            raw = bytes(self._buf[:cut])
            del self._buf[: cut + 1]
            event = self._classify(raw)
            if event is not None:
                events.append(event)

    def pending(self) -> bytes:
        """Bytes of a line not finished yet."""
        return bytes(self._buf)

    def reset(self) -> None:
        self._buf.clear()
        self._pdu_for = None

    def _line_end(self) -> int | None:
        for i, b in enumerate(self._buf):
            if b in (10, 13):
                return i
        return None

    def _classify(self, raw: bytes) -> Event | None:
        try:
            text = raw.decode("ascii").strip()
        except UnicodeDecodeError:
            return Noise(raw.decode("latin-1"))
        if not text:
            return None
        if not _PRINTABLE.fullmatch(text):
            return Noise(text)
        if self._pdu_for is not None:
            urc, self._pdu_for = self._pdu_for, None
            return Urc(urc.name, urc.args, text)
        final = parse_final(text)
        if final is not None:
            return final
        if text[:2].upper() == "AT":
            return Echo(text)
        name = prefix(text)
        if self.expect and (name == self.expect or (isinstance(self.expect, frozenset) and name in self.expect)):
            return Line(text)
        if name in URCS:
            urc = Urc(name, text.partition(":")[2].strip())
            if name in _WITH_PDU:
                self._pdu_for = urc
                return None
            return urc
        if text.startswith(NOISE_PREFIXES):
            return Noise(text)
        return Line(text)


# --- arguments ------------------------------------------------------------------------------------

_NUMBER = re.compile(r"\+?[0-9*#]{1,20}")


def dial_string(number: str) -> str:
    """A recipient as a module takes it: "+" and digits (also * and #), nothing else; ValueError otherwise."""
    cleaned = "".join(ch for ch in number if ch not in " -().")
    if not _NUMBER.fullmatch(cleaned):
        raise ValueError(f"{number[:32]!r} is not a phone number")
    return cleaned


def quoted(text: str) -> str:
    """A string argument of an AT command; refuses what would end it early (a quote, CR, LF, Ctrl-Z, ESC)."""
    if any(ch in text for ch in '"\r\n\x1a\x1b') or not text.isprintable():
        raise ValueError(f"{text[:32]!r} cannot be sent to a module")
    return f'"{text}"'


def split_args(args: str) -> list[str]:
    """``"SM",3`` -> ["SM", "3"]: comma-separated, quotes removed (commas inside quotes kept)."""
    out: list[str] = []
    cur: list[str] = []
    inside = False
    for ch in args:
        if ch == '"':
            inside = not inside
        elif ch == "," and not inside:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur).strip())
    return out
