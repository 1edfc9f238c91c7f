"""USSD and AT passthrough: what the device does whatever the driver (DECISIONS "USSD and AT passthrough").

The driver only speaks to the module.  Here: one USSD at a time per port
(4 Pending USSD), only from a registered slot (5 SIM Unregistered), the
session a network left open (it ends when the network says so, on
``cancel``, after ``session_idle`` seconds of silence on the device clock, or
when the port's module starts over), and the checks that keep a bad code or
AT line from ever reaching a module (protocol/ussd.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from ..clock import Clock, Timer
from ..modems.base import ModemDriver, module_failure
from ..protocol.codes import PortState, TaskStatus
from ..protocol.errors import DeviceError
from ..protocol.ports import DeviceSize, PortAddress, PortSpecError
from ..protocol.requests import MAX_TIMEOUT
from ..protocol.ussd import BLANKS, PassthroughError, check_at_line, check_ussd
from .device import Device, Slot

log = logging.getLogger(__name__)
T = TypeVar("T")

SESSION_IDLE = 60.0  # a network drops a menu left unanswered about this long
CANCEL_TIMEOUT = 5.0
# After the driver's own timeout, this much longer before the device gives up on it.
GRACE = 2.0
USABLE = (PortState.REGISTERED, PortState.CALL_CONNECTED)


class PassthroughRefused(DeviceError):
    """A refusal with its code (DECISIONS: the task code table; 15 for AT lines) and reason."""

    def __init__(self, code: int, detail: str = "") -> None:
        label = TaskStatus(code).label
        super().__init__(code, f"{label}: {detail}" if detail else label)


@dataclass(frozen=True)
class UssdAnswer:
    port: str  # the slot that spoke, as the device names it
    text: str
    session_open: bool


@dataclass(frozen=True)
class AtAnswer:
    port: str
    text: str


def parse_timeout(value: str | float | None, default: float) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"timeout is a number of seconds, not {str(value)[:20]!r}") from None
    if not 1 <= seconds <= MAX_TIMEOUT:  # NaN fails this too
        raise ValueError(f"timeout is 1 to {MAX_TIMEOUT:g} seconds")
    return seconds


def checked_ussd(code: str | None, cancel: bool = False) -> str:
    """The USSD string as sent to the network ("" only with ``cancel``), or the device's refusal (3).
    What a device checks of the code itself: a fleet checks it too before it asks a member."""
    text = (code or "").strip(BLANKS)
    if not text and not cancel:
        raise PassthroughRefused(TaskStatus.USSD_EXPECTED)
    if text:
        try:
            text = check_ussd(text)
        except PassthroughError as exc:
            raise PassthroughRefused(TaskStatus.USSD_EXPECTED, str(exc)) from None
    return text


def checked_at_line(line: str | None) -> str:
    """The AT line as written to the module, or the device's refusal (15 Invalid CMD, naming why)."""
    try:
        return check_at_line(line or "")
    except PassthroughError as exc:
        raise PassthroughRefused(TaskStatus.INVALID_CMD, str(exc)) from None


class Passthrough:
    def __init__(self, device: Device, driver: ModemDriver, clock: Clock, session_idle: float = SESSION_IDLE) -> None:
        self._device = device
        self._driver = driver
        self._clock = clock
        self._idle = session_idle
        self._busy: set[int] = set()  # ports with a USSD in flight
        self._sessions: dict[int, tuple[Slot, Timer]] = {}  # port -> the slot whose session is open
        device.add_listener(self._slot_changed)

    # --- addressing --------------------------------------------------------------

    def _address(self, text: str | int | None, size: DeviceSize) -> PortAddress:
        if text is None or (isinstance(text, str) and not text.strip()):
            raise PassthroughRefused(TaskStatus.INVALID_PORT, "give port=, one port like 1 or 1.02")
        try:
            return PortAddress.parse(text, size)
        except PortSpecError as exc:
            raise PassthroughRefused(TaskStatus.INVALID_PORT, str(exc)) from None

    def _active(self, addr: PortAddress, not_active: int) -> Slot:
        port = self._device.port(addr.port)
        if addr.slot is not None and addr.slot != port.record.active_slot:
            active = self._device.name(port.active.address)
            raise PassthroughRefused(
                not_active, f"{self._device.name(addr)} is not the active slot of port {addr.port} ({active} is)"
            )
        return port.active

    # --- USSD ------------------------------------------------------------------------

    def has_session(self, port: int) -> bool:
        return port in self._sessions

    def busy(self, port: int) -> bool:
        return port in self._busy

    async def ussd(
        self, port_text: str | int | None, code: str | None, timeout: float, cancel: bool = False
    ) -> UssdAnswer:
        addr = self._address(port_text, self._device.size)
        code = checked_ussd(code, cancel)
        slot = self._active(addr, TaskStatus.SIM_UNREGISTERED)
        name = self._device.name(slot.address)
        number = addr.port
        if number in self._busy:
            raise PassthroughRefused(TaskStatus.PENDING_USSD, f"another USSD is running on port {number}")
        if cancel:
            self._busy.add(number)
            try:
                await self._end_session(number)
            finally:
                self._busy.discard(number)
            if not code:
                return UssdAnswer(name, "", False)
        if slot.state not in USABLE:
            raise PassthroughRefused(TaskStatus.SIM_UNREGISTERED, f"{name} is in state {slot.state.label}")
        self._busy.add(number)
        try:
            self._stop_idle_timer(number)
            reply = await self._ask_module(
                number,
                "USSD",
                "the network",
                timeout,
                lambda: self._driver.ussd(number, code, timeout),
                on_failure=lambda: self._end_session(number),
            )
            if reply.session_open and slot.state in USABLE and self._device.is_active(slot):
                self._sessions[number] = (slot, self._clock.call_later(self._idle, self._expire, number))
            else:
                self._sessions.pop(number, None)
            return UssdAnswer(name, reply.text, reply.session_open)
        finally:
            self._busy.discard(number)

    def _stop_idle_timer(self, port: int) -> None:
        held = self._sessions.get(port)
        if held is not None:
            held[1].cancel()

    async def _end_session(self, port: int) -> None:
        """The module's session ends (whether or not the device knew it was open)."""
        held = self._sessions.pop(port, None)
        if held is not None:
            held[1].cancel()
        try:
            async with _deadline(self._clock, CANCEL_TIMEOUT):
                await self._driver.ussd_cancel(port)
        except Exception as exc:
            log.warning(
                "port %d: the module did not end its USSD session: %s", port, exc, exc_info=not module_failure(exc)
            )

    def _expire(self, port: int) -> None:
        if port in self._sessions and port not in self._busy:
            log.info("port %d: USSD session idle for %g s, ended", port, self._idle)
            task = asyncio.get_running_loop().create_task(self._end_session(port), name=f"ussd end {port}")
            task.add_done_callback(lambda t: None if t.cancelled() else t.exception())

    def _slot_changed(self, slot: Slot) -> None:
        # The module started over (switch, reset, lost, deregistered): its session is gone with it.
        held = self._sessions.get(slot.record.port)
        if held is not None and (not self._device.is_active(held[0]) or held[0].state not in USABLE):
            held[1].cancel()
            del self._sessions[slot.record.port]

    # --- AT ----------------------------------------------------------------------------

    async def at(self, port_text: str | int | None, line: str | None, timeout: float) -> AtAnswer:
        addr = self._address(port_text, self._device.size)
        text = checked_at_line(line)
        slot = self._active(addr, TaskStatus.INVALID_PORT)
        name = self._device.name(slot.address)
        answer = await self._ask_module(
            addr.port, "AT command", "the module", timeout, lambda: self._driver.at_command(addr.port, text, timeout)
        )
        return AtAnswer(name, answer)

    async def _ask_module(
        self,
        port: int,
        what: str,
        who: str,
        timeout: float,
        ask: Callable[[], Awaitable[T]],
        on_failure: Callable[[], Awaitable[None]] | None = None,
    ) -> T:
        """``ask()``'s answer within ``timeout`` (and a grace) on the device clock; a failure becomes the
        device's code, after ``on_failure`` (what the module may have left open)."""
        try:
            async with _deadline(self._clock, timeout + GRACE):
                return await ask()
        except NotImplementedError as exc:
            raise PassthroughRefused(TaskStatus.INVALID_CMD, str(exc)) from None
        except TimeoutError:
            status, why = TaskStatus.TIMEOUT, f"{who} did not answer within {timeout:g} seconds"
        except Exception as exc:
            expected = module_failure(exc)  # a traceback only for a bug
            level = logging.WARNING if expected else logging.ERROR
            log.log(level, "port %d: %s failed in the module: %s", port, what, exc, exc_info=not expected)
            status, why = TaskStatus.SERVER_ERROR, "the module failed; the device logged why"
        if on_failure is not None:
            await on_failure()
        raise PassthroughRefused(status, why)


class _deadline:
    """``async with``: cancel the body after ``seconds`` on the device clock, raising TimeoutError."""

    def __init__(self, clock: Clock, seconds: float) -> None:
        self._clock = clock
        self._seconds = seconds
        self._timer: Timer | None = None
        self._fired = False
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> None:
        self._task = asyncio.current_task()
        self._timer = self._clock.call_later(self._seconds, self._fire)

    def _fire(self) -> None:
        self._fired = True
        if self._task is not None:
            self._task.cancel()

    async def __aexit__(self, exc_type, exc, tb) -> bool:
        if self._timer is not None:
            self._timer.cancel()
        if self._fired and exc_type is asyncio.CancelledError:
            assert self._task is not None
            self._task.uncancel()
            raise TimeoutError
        return False
