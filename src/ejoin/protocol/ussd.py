"""USSD codes and AT command lines as the passthrough endpoints take them: what may reach a module.

Pure checks, no I/O.  A USSD string is what a phone's keypad can dial (3GPP TS
22.030: digits, ``*``, ``#``, and ``+`` inside numbers), at most 182 characters
(the longest a GSM-7 USSD string can be).  An AT line is one command line: it
starts with ``AT``, holds printable ASCII only (a CR, LF, Ctrl-Z or ESC inside
would end the line early, or end an SMS prompt, on the module), and none of its
commands may change what the driver relies on (echo, result codes, message
format, indications, storage, character set, power) or touch the messages
stored on the module before the driver has them (delete, read, acknowledge).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

USSD_MAX = 182
USSD_ALPHABET = frozenset("0123456789*#+")
BLANKS = " \t"  # dropped around a code or line; any other control character refuses it
AT_MAX = 512  # below every module's command line buffer (556 on most)


class PassthroughError(ValueError):
    """A code or line that must not reach a module; ``str()`` says why, for a person."""


def check_ussd(code: str) -> str:
    """The code as sent to the network (surrounding blanks dropped); PassthroughError if unusable.

    An empty code is the caller's to handle (it answers 3 USSD Expected without a detail)."""
    text = code.strip(BLANKS)
    if len(text) > USSD_MAX:
        raise PassthroughError(f"a USSD string has at most {USSD_MAX} characters, this one {len(text)}")
    bad = sorted({ch for ch in text if ch not in USSD_ALPHABET})
    if bad:
        shown = ", ".join(repr(ch) for ch in bad[:5])
        raise PassthroughError(f"a USSD string holds only digits, *, # and + (not {shown})")
    return text


# --- AT command lines ------------------------------------------------------------

_CONTROL_NAMES = {"\r": "CR", "\n": "LF", "\x1a": "Ctrl-Z", "\x1b": "ESC"}
_EXTENDED_PREFIXES = "+^$%*#!@"


@dataclass(frozen=True)
class AtCommand:
    """One command of a line: ``name`` in capitals (``+CMGF``, ``E``, ``&F``, ``S0``) and the rest
    as written (``=1``, ``?``, ``=?``, ``1``)."""

    name: str
    rest: str

    @property
    def is_query(self) -> bool:
        """A read (``?``) or a test (``=?``): changes nothing."""
        r = self.rest.strip()
        return r == "?" or r.startswith("=?")

    def __str__(self) -> str:
        return f"AT{self.name}{self.rest}"


def split_at_line(line: str) -> list[AtCommand]:
    """The commands of one AT line (V.250: basic commands run together, extended ones
    separated by ``;``).  The line is checked for the ``AT`` prefix already."""
    body = line[2:]
    out: list[AtCommand] = []
    i, n = 0, len(body)
    while i < n:
        ch = body[i]
        if ch in "; ":
            i += 1
            continue
        if ch in _EXTENDED_PREFIXES:
            j = i + 1
            while j < n and (body[j].isalnum() or body[j] in "_."):
                j += 1
            k = j
            quoted = False
            while k < n and (quoted or body[k] != ";"):
                quoted ^= body[k] == '"'
                k += 1
            out.append(AtCommand(body[i:j].upper(), body[j:k]))
            i = k
        elif ch.upper() == "D":  # dial: the rest of the line is its dial string
            out.append(AtCommand("D", body[i + 1 :]))
            break
        elif ch == "&" or ch.isalpha():
            j = i + (2 if ch == "&" else 1)
            name = body[i:j].upper()
            if name == "S":  # S-register: S<n>=<v> or S<n>?
                while j < n and body[j].isdigit():
                    j += 1
                name = body[i:j].upper()
            k = j
            while k < n and (body[k].isdigit() or body[k] in "=?"):
                k += 1
            out.append(AtCommand(name, body[j:k]))
            i = k
        else:
            out.append(AtCommand(ch, ""))
            i += 1
    return out


# What each refused command would break, by name; only its setting forms are refused
# (a read ``?`` or test ``=?`` changes nothing) unless the name is in ALWAYS.
REFUSED: dict[str, str] = {
    "E": "would turn command echo on or off, which the driver relies on",
    "V": "would change the result code format the driver reads",
    "Q": "would silence the result codes the driver waits for",
    "Z": "would reset the module's settings (echo, formats) under the driver",
    "&F": "would restore factory settings (echo, formats) under the driver",
    "+CMGF": "would change the message format the driver relies on",
    "+CSDH": "would change the message format the driver relies on",
    "+CNMI": "would change how new messages are indicated to the driver",
    "+CPMS": "would change the message storage the driver uses",
    "+CSCS": "would change the character set the driver decodes",
    "+CMEE": "would change the error format the driver reads",
    "+IPR": "would change the serial speed the driver talks at",
    "+IFC": "would change the flow control the driver uses",
    "+CREG": "would change the registration indications the driver reads",
    "+CGREG": "would change the registration indications the driver reads",
    "+CEREG": "would change the registration indications the driver reads",
    "+CFUN": "would switch the module's radio or power off under the driver",
    "+CPOWD": "would power the module off",
    "+QPOWD": "would power the module off",
    "+CMGS": "sends an SMS through a prompt; send SMS with goip_post_sms.html",
    "+CMGW": "writes an SMS through a prompt the passthrough cannot answer",
    "+CMGC": "sends a command through a prompt the passthrough cannot answer",
    "+CUSD": "would interfere with the device's USSD sessions; use goip_send_ussd.html",
    # Messages stored on the module are the driver's until it has them in the inbox: it reads each
    # one, stores it, and only then deletes it.  Anything that deletes, marks or acknowledges them
    # first can lose a received SMS (a one-time code) or a delivery report.
    "+CMGD": "would delete stored messages the device may not have read yet; read them with goip_get_sms.html",
    "+CMGR": "would mark an unread stored message read under the driver; read received SMS with goip_get_sms.html",
    "+CMGL": "would mark unread stored messages read under the driver; read received SMS with goip_get_sms.html",
    "+CNMA": "would acknowledge a message to the network before the device has stored it",
    "+CMSS": "would send a stored SMS outside the device's queue; send SMS with goip_post_sms.html",
    "+CSMP": "would change the SMS parameters the driver sets (delivery report requests, validity)",
    "+CSMS": "would change the message service the driver's acknowledgements rely on",
    "+CRES": "would restore stored SMS settings (indications, parameters) under the driver",
}
ALWAYS = frozenset({"E", "V", "Q", "Z", "&F", "+CMGS", "+CMGW", "+CMGC"})

_PREFIX = re.compile(r"^AT", re.I)


def check_at_line(line: str) -> str:
    """The line as written to the module (surrounding blanks dropped); PassthroughError naming
    the character or the command that must not reach it."""
    for ch, name in _CONTROL_NAMES.items():
        if ch in line:
            raise PassthroughError(f"the AT line holds a {name}; one command line without control characters")
    text = line.strip(BLANKS)
    if not text:
        raise PassthroughError("give at=, one AT command line like AT+CSQ")
    if len(text) > AT_MAX:
        raise PassthroughError(f"an AT line has at most {AT_MAX} characters, this one {len(text)}")
    if any(not " " <= ch <= "~" for ch in text):
        raise PassthroughError("an AT line holds printable ASCII characters only")
    if not _PREFIX.match(text):
        raise PassthroughError(f"an AT command line starts with AT, not {text[:10]!r}")
    for cmd in split_at_line(text):
        why = REFUSED.get(cmd.name)
        if why is not None and (cmd.name in ALWAYS or not cmd.is_query):
            raise PassthroughError(f"{cmd} {why}")
    return text
