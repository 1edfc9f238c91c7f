"""What a GSM module says on its AT port, line by line (3GPP TS 27.005 / 27.007, V.250).

``LineReader`` takes bytes as they come off the serial line, in chunks cut
anywhere, and gives events: a final result of the command in flight, the
``> `` prompt of ``AT+CMGS`` (which has no line end), a line of the answer, an
echo of the command, an unsolicited result (with the PDU line that follows
``+CMT:`` and ``+CDS:``), or garbage.

Which lines answer the command in flight is decided by what that command can
answer (``Answers``, given by the caller as ``expect``): its prefixes, lines
without a prefix if it has such lines (``AT+CGSN``), and the PDU line after
one of its headers (``+CMGR:``, ``+CMGL:``).  Every other line is unsolicited,
wherever it falls — between a header and its PDU line included — whether or not
anyone has heard of it (``+CIEV``, ``^NWTIME``, a vendor's next invention).  A
``+CUSD`` string that spans lines (a USSD menu with line breaks) is joined.

Pure: no I/O, no clock.  Also the quoting of command arguments, so that no
quote, CR or LF of a caller's text ever reaches a module.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

CTRL_Z = b"\x1a"
ESC = b"\x1b"


class FinalKind(StrEnum):
    OK = "OK"
    ERROR = "ERROR"
    CME = "+CME ERROR"  # equipment error (27.007 9.2)
    CMS = "+CMS ERROR"  # message service error (27.005 3.2.5)
    NOT_SUPPORTED = "COMMAND NOT SUPPORT"  # some Huawei, ZTE and SIMCom firmwares
    TOO_MANY_PARAMETERS = "TOO MANY PARAMETERS"  # some Huawei and Neoway firmwares
    MODEM_ERROR = "MODEM ERROR"  # Motorola (EZX) phones and modules: MODEM ERROR: <n>
    ABORTED = "ABORTED"  # u-blox: a command cut short by a character
    NO_CARRIER = "NO CARRIER"
    BUSY = "BUSY"
    NO_ANSWER = "NO ANSWER"
    NO_DIALTONE = "NO DIALTONE"


@dataclass(frozen=True, slots=True)
class Final:
    """The command's end: ``OK`` or one of the errors; ``code`` for numeric +CME/+CMS/MODEM errors."""

    kind: FinalKind
    code: int | None = None
    text: str = ""  # the error's detail (+CME ERROR: SIM busy), or the line as it came
    # No final result came: some firmwares end an answer with its information line (Wavecom's
    # AT+CPIN? answers "+CPIN: READY" and nothing more).  Not a line of the answer.
    implied: bool = field(default=False, compare=False)
    raw: str = field(default="", compare=False)  # the line as it came

    @property
    def ok(self) -> bool:
        return self.kind is FinalKind.OK

    def line(self) -> str:
        """The final result line as the module gave it ("" if it gave none)."""
        if self.implied:
            return ""
        if self.raw:
            return self.raw
        if self.kind in (FinalKind.CME, FinalKind.CMS, FinalKind.MODEM_ERROR):
            detail = self.text or ("" if self.code is None else str(self.code))
            return f"{self.kind.value}: {detail}"
        return self.text or self.kind.value


@dataclass(frozen=True, slots=True)
class Prompt:
    """``> ``: the module waits for the PDU of ``AT+CMGS`` (ended by Ctrl-Z, abandoned by ESC)."""


@dataclass(frozen=True, slots=True)
class Line:
    """A line of the answer to the command in flight."""

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
    pdu: str = ""  # the line after +CMT: / +CDS: ("" if none came)


@dataclass(frozen=True, slots=True)
class Noise:
    """Bytes that are no text (line noise, a module babbling while it boots)."""

    text: str


Event = Final | Prompt | Line | Echo | Urc | Noise


@dataclass(frozen=True, slots=True)
class Answers:
    """What a command can answer before its final result; any other line is unsolicited.

    ``prefixes``: its information lines (``+CSQ`` of ``AT+CSQ``).  ``bare``: it also answers lines
    without a prefix (``AT+CGSN``'s IMEI, ``ATI``).  ``with_pdu``: its headers followed by a PDU
    line (``+CMGR``, ``+CMGL``).  ``final_optional``: after one of its information lines some
    firmwares give no final result at all; the answer is then complete without one."""

    prefixes: frozenset[str] = frozenset()
    bare: bool = False
    with_pdu: frozenset[str] = frozenset()
    final_optional: bool = False

    @classmethod
    def of(cls, *prefixes: str, bare: bool = False, pdu: bool = False, final_optional: bool = False) -> Answers:
        names = frozenset(prefixes)
        return cls(names, bare, names if pdu else frozenset(), final_optional)

    def __or__(self, other: Answers) -> Answers:
        return Answers(
            self.prefixes | other.prefixes,
            self.bare or other.bare,
            self.with_pdu | other.with_pdu,
            self.final_optional or other.final_optional,
        )


NOTHING = Answers()  # a command that answers only its final result (ATE0, AT+CMGD=1)
BARE = Answers(bare=True)  # lines without a prefix (AT+CGMI)


def answers_of(expect: Answers | str | Iterable[str]) -> Answers:
    """``expect`` as ``Answers``: a prefix, or several (a line of several commands)."""
    if isinstance(expect, Answers):
        return expect
    if isinstance(expect, str):
        return Answers.of(expect) if expect else NOTHING
    return Answers.of(*expect)


_WITH_PDU = frozenset({"+CMT", "+CDS", "+CBM"})  # unsolicited results followed by a PDU line
# Lines without a prefix the driver acts on even while a command with such lines is in flight.
BARE_URCS = frozenset({"RING", "RDY"})
_FINAL_WORDS = {
    "OK": FinalKind.OK,
    "ERROR": FinalKind.ERROR,
    "NO CARRIER": FinalKind.NO_CARRIER,
    "BUSY": FinalKind.BUSY,
    "NO ANSWER": FinalKind.NO_ANSWER,
    "NO DIALTONE": FinalKind.NO_DIALTONE,
    "COMMAND NOT SUPPORT": FinalKind.NOT_SUPPORTED,
    "TOO MANY PARAMETERS": FinalKind.TOO_MANY_PARAMETERS,
    "ABORTED": FinalKind.ABORTED,
}
_CODED_ERROR = re.compile(r"\+?(CME ERROR|CMS ERROR|MODEM ERROR)\s*:\s*(.*)", re.IGNORECASE)
_CODED_KIND = {"CME ERROR": FinalKind.CME, "CMS ERROR": FinalKind.CMS, "MODEM ERROR": FinalKind.MODEM_ERROR}
_PREFIXED = re.compile(r"[+^$%*#!@&][A-Za-z0-9_]+\s*:")
_TEXT = re.compile(r"[\x20-\x7e\t\xa0-\xff]*")
_HEX = re.compile(r"[0-9A-Fa-f]+")
_JOIN_MAX_LINES, _JOIN_MAX_CHARS = 40, 4000  # an unclosed +CUSD string is cut here


def parse_final(text: str) -> Final | None:
    """The final result ``text`` is, or None."""
    kind = _FINAL_WORDS.get(text.upper())
    if kind is not None:
        return Final(kind, text=text, raw=text)
    coded = _CODED_ERROR.fullmatch(text)
    if coded is not None:
        detail = coded.group(2).strip()
        return Final(_CODED_KIND[coded.group(1).upper()], int(detail) if detail.isdigit() else None, detail, raw=text)
    return None


def prefix(text: str) -> str:
    """``+CMTI`` of ``+CMTI: "SM",3``; the whole line when it has no colon."""
    head, colon, _ = text.partition(":")
    return head.strip() if colon else text.strip()


def prefixed(text: str) -> bool:
    """The line starts with a result code's name (``+CREG:``, ``^NWTIME:``, ``*PSUTTZ:``)."""
    return _PREFIXED.match(text) is not None


def _hexness(text: str) -> float:
    return sum(ch in "0123456789ABCDEFabcdef" for ch in text) / len(text)


def pdu_line(text: str) -> bool:
    """``text`` looks like a PDU: hexadecimal digits in pairs (some firmwares quote it)."""
    body = text.strip('"')
    return len(body) % 2 == 0 and _HEX.fullmatch(body) is not None


@dataclass
class _Waiting:
    """A header whose PDU line is still to come."""

    urc: Urc | None  # +CMT/+CDS; None: a header of the command in flight
    lines: int = 0  # other lines since
    garbled: str | None = None  # a line that may be the PDU, damaged: taken if no better one comes


class LineReader:
    """Bytes in, events out.  ``expect``: what the command in flight can answer (None: none is)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pdu: _Waiting | None = None
        # A +CUSD string not closed yet: its bytes as they came, line ends included (a menu keeps its layout).
        self._open: bytearray | None = None
        self.expect: Answers | None = None
        # The command in flight prompts for a PDU (AT+CMGS): "> " is its prompt wherever it falls, even
        # with an unsolicited line after it in the same read (the module printed one while waiting).
        self.prompting = False

    def feed(self, data: bytes) -> list[Event]:
        self._buf += data
        events: list[Event] = []
        while True:
            if self._open is not None:
                closed = self._close_string()
                if closed is None:
                    return events
                events.extend(closed)
                continue
            if self.prompting and self._pdu is None and self._buf.lstrip(b"\r\n").startswith(b"> "):
                del self._buf[: self._buf.index(b"> ") + 2]
                self.prompting = False  # one prompt a command
                events.append(Prompt())
                continue
            cut = self._line_end()
            if cut is None:
                if self._buf.lstrip(b"\r\n").startswith(b"> ") and self._pdu is None and self._open is None:
                    self._buf.clear()
                    events.append(Prompt())
                return events
            raw = bytes(self._buf[:cut])
            end = bytes(self._buf[cut : cut + 1])
            del self._buf[: cut + 1]
            events.extend(self._classify(raw))
            if self._open is not None:
                # The string opened on this line: from here on its bytes are kept as they came (the
                # spaces before the line end too), the line end being its first line break.
                self._open = bytearray(raw.lstrip(b" \t")) + end

    def pending(self) -> bytes:
        """Bytes of a line not finished yet."""
        return bytes(self._buf)

    def reset(self) -> None:
        self._buf.clear()
        self._pdu = None
        self._open = None
        self.prompting = False

    def command_done(self) -> None:
        """The command in flight has its final result: a header of its own waits for no PDU any more."""
        if self._pdu is not None and self._pdu.urc is None:
            self._pdu = None

    def _line_end(self) -> int | None:
        for i, b in enumerate(self._buf):
            if b in (10, 13):
                return i
        return None

    def _classify(self, raw: bytes) -> list[Event]:
        text = raw.decode("latin-1").strip(" \t")
        if not text:
            return []
        if not _TEXT.fullmatch(text) and not prefixed(text):
            return [Noise(text)]  # a result code's line keeps what its string holds (GSM-charset bytes)
        waiting = self._pdu
        if waiting is not None:
            if pdu_line(text):
                self._pdu = None
                if waiting.urc is not None:
                    return [Urc(waiting.urc.name, waiting.urc.args, text)]
                return [*self._stray(waiting.garbled), Line(text)]
            events = self._not_the_pdu(waiting, text)
            if events is not None:
                return events
        final = parse_final(text)
        if final is not None:
            if self.expect is not None:
                self.command_done()
            return [final]
        if text[:2].upper() == "AT":
            return [Echo(text)]
        return self._line(text)

    def _not_the_pdu(self, waiting: _Waiting, text: str) -> list[Event] | None:
        """A line while a header waits for its PDU: its events if this decides them, else None (as usual).

        A header of the command in flight takes a damaged line as its PDU if no hexadecimal one comes
        before the next header or the final result (the message is then kept raw, not lost); a +CMT
        takes only a hexadecimal one, within a few lines (else the module sends it again, unacknowledged).
        """
        if waiting.urc is not None:
            waiting.lines += 1
            if waiting.lines <= 4:
                return None
            self._pdu = None
            return [waiting.urc, *self._classify(text.encode("latin-1"))]  # given up: its PDU is ""
        ends = parse_final(text) is not None or (
            self.expect is not None and prefixed(text) and prefix(text) in self.expect.with_pdu
        )
        if ends:
            self._pdu = None
            events = [Line(waiting.garbled)] if waiting.garbled is not None else []
            return [*events, *self._classify(text.encode("latin-1"))]
        if not prefixed(text) and parse_final(text) is None and _hexness(text) >= 0.5:
            # A damaged PDU is still mostly hexadecimal ("SMS DONE" is not); of two, the more so.
            if waiting.garbled is None or _hexness(text) > _hexness(waiting.garbled):
                stray, waiting.garbled = waiting.garbled, text
                return self._stray(stray)
            return self._stray(text)
        return None

    def _stray(self, line: str | None) -> list[Event]:
        return [] if line is None else [Urc(prefix(line), "")]

    def _line(self, text: str) -> list[Event]:
        expect = self.expect
        if prefixed(text):
            name = prefix(text)
            if expect is not None and name in expect.prefixes:
                if name in expect.with_pdu:
                    self._pdu = _Waiting(None)
                return [Line(text)]
            args = text.partition(":")[2].strip(" \t")
            if name == "+CUSD" and args.count('"') % 2:
                self._open = bytearray(text.encode("latin-1"))
                return []
            if name in _WITH_PDU:
                self._pdu = _Waiting(Urc(name, args))
                return []
            return [Urc(name, args)]
        if expect is not None and expect.bare and text not in BARE_URCS:
            return [Line(text)]
        if expect is not None and prefix(text) in expect.prefixes:  # "Manufacturer: ..." of a bare answer
            return [Line(text)]
        return [Urc(prefix(text), text.partition(":")[2].strip() if ":" in text else "")]

    def _close_string(self) -> list[Event] | None:
        """The rest of an open +CUSD string once its closing quote and that line's end have come (None:
        not yet).  The string keeps its line breaks and spaces as they came; one that never closes is
        cut after so many lines or characters and taken as it is."""
        assert self._open is not None
        quote = self._buf.find(b'"')
        end = None
        if quote >= 0:
            for i in range(quote, len(self._buf)):
                if self._buf[i] in (10, 13):
                    end = i
                    break
        if end is None:
            pending = len(self._open) + len(self._buf)
            lines = self._open.count(b"\n") + self._buf.count(b"\n")
            if quote < 0 and (pending >= _JOIN_MAX_CHARS or lines >= _JOIN_MAX_LINES):
                end = len(self._buf)  # never closed: cut here
            else:
                return None
        self._open += self._buf[:end]
        del self._buf[: end + 1]
        joined, self._open = self._open.decode("latin-1"), None
        return [Urc("+CUSD", joined.partition(":")[2].strip(" \t"))]


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
    """``"SM",3`` -> ["SM", "3"]: comma-separated, quotes removed (commas inside quotes kept).  Spaces
    around a field go; what is inside quotes stays as it is (a USSD menu's trailing space, its lines)."""
    out: list[str] = []
    cur: list[str] = []
    kept: list[str] = []  # the field's quoted text, kept whole
    inside = False

    def field() -> str:
        return "".join(kept) + "".join(cur).strip()

    for ch in args:
        if ch == '"':
            inside = not inside
            if inside:
                kept.extend("".join(cur).strip())  # anything before the quote, trimmed
                cur = []
        elif ch == "," and not inside:
            out.append(field())
            cur, kept = [], []
        elif inside:
            kept.append(ch)
        else:
            cur.append(ch)
    out.append(field())
    return out
