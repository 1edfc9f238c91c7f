"""The one small interface between the device and its GSM modules.

The device's state machine decides *when* things happen (which slot is
active, what is locked) and keeps what it learns in its own records; a driver
does the module's part and says how it went.  A driver never writes into the
device's records: it answers with values (``CardInfo``, ``SendResult``) and
reports what happens on its own through ``ModemEvents``.

Drivers are registered by name in ``ejoin.drivers`` (the simulated network is
the default).  This package imports nothing of the gateway.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from ..protocol.codes import PortState
from ..protocol.ports import PortAddress
from ..protocol.text import Segmented


@dataclass(frozen=True)
class CardInfo:
    """What a module read of the card in a slot."""

    present: bool
    error: bool = False  # a card is there but cannot be used (damaged, unreadable): status 9
    # A card is there and waits (for a PIN or PUK, or still busy): status 11 until the driver reports it
    # ready (``ModemEvents.module_state`` with 11).
    waiting: bool = False
    iccid: str = ""
    imsi: str = ""
    number: str = ""  # "" when the card does not know its own number
    operator: str = ""  # "<PLMN> <name>", as the status shows it
    balance: float | None = None  # None: unknown, the device keeps what it had (unknown for a new card)
    imei: str = ""  # the module's IMEI as it says it; "": the device keeps what it had
    # An eSIM profile of the module's eUICC: its activation code, confirmation code, SM-DP+.
    esim: bool = False
    esim_ac: str = ""
    esim_cc: str = ""
    esim_provider: str = ""


NO_CARD = CardInfo(present=False)


@dataclass(frozen=True)
class UssdReply:
    """The network's answer to a USSD code or menu reply, decoded to plain text."""

    text: str
    session_open: bool  # the network awaits a reply (+CUSD: 1); False: it ended the session (0/2)


@dataclass
class CommandStats:
    """What a module's command line did since the start (AT drivers): for metrics, read from memory."""

    commands: int = 0
    errors: int = 0  # answered with an error (ERROR, +CME/+CMS ERROR, ...)
    timeouts: int = 0  # no final result in time
    seconds: float = 0.0  # time to the final result, summed over the commands


class ModuleError(Exception):
    """A failure a module is expected to have now and then (it went away, fell silent, answered an
    error): the device logs it as one line with its reason.  Anything else a driver raises is a bug."""


def module_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is what modules do now and then (a ``ModuleError``, a timeout, a line that
    closed) rather than a bug: worth one line in the log, not a traceback."""
    return isinstance(exc, ModuleError | TimeoutError | ConnectionError)


@dataclass(frozen=True)
class SendResult:
    ok: bool
    carrier: str = ""  # the network's "code description" when it failed
    cost: float = 0.0  # taken from the SIM's balance
    no_balance: bool = False  # the SIM cannot pay: the slot goes to 5
    # TP-MR (0-255) of each part as the network took it, in order; delivery reports name these.
    refs: tuple[int, ...] = ()
    # Not ok, and nobody knows whether it went out: the module took the SMS (or a part of it) and then
    # gave no answer (it went away or fell silent).  ``carrier`` says what happened.
    unknown: bool = False
    # Not ok because of the recipient: the network refused this number (unassigned, unknown, rejected).
    # Any other failure counts against the module: a port whose module fails in a row pauses.
    recipient_refused: bool = False


class ModemEvents(ABC):
    """What modules report on their own; the device implements it (``driver.events``)."""

    @abstractmethod
    def sms_part(
        self, slot: PortAddress, sender: str, text: str, ts: float, ref: int, total: int, seq: int
    ) -> Awaitable[Any] | None:
        """One part (``seq`` of ``total``, 1-based) of an SMS that arrived at ``slot``; ``total`` 1: a whole SMS.

        ``ref`` is the concatenation reference the parts of one SMS share.  Returns what completes
        once the part is stored durably (a driver deletes it from the module only then), or None: the
        device did not take it, and the module keeps it."""

    @abstractmethod
    def delivery_report(
        self, port: int, ref: int, recipient: str, status: int, ts: float, smsc: str, smsc_ts: float | None = None
    ) -> Awaitable[Any] | None:
        """The network's report (TP-Status ``status``, 0: delivered) on the part with TP-MR ``ref`` that
        ``port`` sent to ``recipient``, received at ``ts``.  The device pairs it with the SMS by (port, ref,
        recipient).  ``smsc_ts``: the service centre's own time in the report (when it delivered the SMS,
        or last tried), None if it has none; a report read twice from a module carries the same one, and
        the device keeps it once.

        Returns what completes once the device has taken it for good (a driver deletes it from the
        module only then), or None."""

    @abstractmethod
    def raw_pdu(self, slot: PortAddress, pdu: str, ts: float, reason: str) -> Awaitable[Any] | None:
        """A message ``slot`` received that cannot be delivered as an SMS or a report: a PDU that cannot
        be decoded, or an outgoing message found in the module's storage.  ``pdu`` is its hex as the
        module gave it, ``reason`` why it is kept raw.  Returns what completes once it is stored
        durably (a driver deletes it from the module only then), or None."""

    @abstractmethod
    def balance(self, port: int, value: float) -> None:
        """The module read the balance of the card in the active slot of ``port`` (a USSD answer)."""

    @abstractmethod
    def module_lost(self, port: int) -> None:
        """The module of ``port`` stopped answering: its active slot goes to 16 until ``module_back``."""

    @abstractmethod
    def module_back(self, port: int) -> None:
        """The module of ``port`` answers again: the device reads its card and registers anew."""

    @abstractmethod
    def module_state(self, port: int, state: PortState) -> None:
        """What the module of ``port`` says on its own of its active slot once the device brought it up:
        the network dropped, took back, refused or roams the card (2, 3, 6); the card waiting for a PIN is
        ready now (11) or the module restarted by itself (15): the device reads the card and registers
        anew.  A bring-up the device runs is its own authority: reports meanwhile are not applied."""


class ModemDriver(ABC):
    events: ModemEvents | None = None  # set by the gateway before the modules start
    # False: each module holds one SIM (a USB modem); a switch is refused with a reason.
    can_switch_slots: bool = True
    # Seconds between the device's signal reads (it reads every port at whole multiples of this).
    signal_period: float = 30.0

    @abstractmethod
    async def restart_module(self, port: int) -> None:
        """Power-cycle the module of ``port``; returns when it answers again (raises if it never does)."""

    @abstractmethod
    async def detect_card(self, port: int, slot: int) -> CardInfo:
        """Select ``slot`` on the module of ``port`` and read its card; ``NO_CARD`` if the slot is empty.

        An empty slot should be answered at once: the device shows nothing in between."""

    @abstractmethod
    async def register(self, port: int, slot: int) -> PortState:
        """Register the card just detected in ``slot``; the state it ends in (3 on success, else 5-9, 16)."""

    @abstractmethod
    async def signal(self, port: int) -> int:
        """Signal quality of the module, 0-31 (as AT+CSQ; 99 unknown is answered 0)."""

    @abstractmethod
    async def send_sms(
        self, port: int, slot: int, number: str, text: Segmented, smsc: str, report: bool = False
    ) -> SendResult:
        """Send one SMS (all its parts) from ``slot``, the active one; may never return (the caller times out).

        With ``report`` the network's delivery reports come later through ``events``, one per ref of
        the result."""

    # USSD and AT passthrough.  The device validates, serialises and times sessions out; a driver
    # only speaks to the module.  Drivers whose modules cannot do it keep these defaults.

    def command_stats(self) -> dict[int, CommandStats]:
        """Per port, what its module's command line did (AT drivers); none for modules without one."""
        return {}

    async def ussd(self, port: int, code: str, timeout: float) -> UssdReply:
        """Send ``code`` (a code, or a reply while the port's session is open) from the active slot;
        the network's answer.  Raises TimeoutError when the network does not answer within ``timeout``."""
        raise NotImplementedError("these modules do not do USSD")

    async def ussd_cancel(self, port: int) -> None:
        """End the port's USSD session, if one is open (AT+CUSD=2)."""
        return None  # modules without USSD have no session to end

    async def at_command(self, port: int, line: str, timeout: float) -> str:
        """Write one AT command line (already checked by the device) to the module of ``port``; its raw
        answer lines joined by ``\\r\\n``, the final result included.  Raises TimeoutError when none comes."""
        raise NotImplementedError("these modules take no AT commands")
