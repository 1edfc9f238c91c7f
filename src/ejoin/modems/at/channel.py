"""One AT port: one command in flight at a time, unsolicited results handed on as they come.

The serial line is opened with serialx (asyncio).  Timeouts run on the device
clock like every other timer of the device, so a test on a virtual clock finds
a silent module out when it advances time.  A command that times out answers
its caller at once; whether the module still answers (plain ``AT``) is found
out in the background before the next command goes, and a module that does
not is reported lost (``on_lost``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from ...clock import Clock
from ...protocol.at import (
    CTRL_Z,
    ESC,
    NOTHING,
    Answers,
    Echo,
    Final,
    FinalKind,
    Line,
    LineReader,
    Noise,
    Prompt,
    Urc,
    answers_of,
    prefix,
)
from ..base import CommandStats, ModuleError

log = logging.getLogger(__name__)


T = TypeVar("T")


async def within(clock: Clock, fut: asyncio.Future[T], seconds: float) -> T:
    """``fut``'s result if it comes within ``seconds`` of ``clock``, else TimeoutError (``fut`` goes on)."""
    if not fut.done():
        expired: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        timer = clock.call_later(seconds, lambda: None if expired.done() else expired.set_result(None))
        try:
            await asyncio.wait((fut, expired), return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            expired.cancel()
        if not fut.done():
            raise TimeoutError
    return fut.result()


class ModuleGone(ConnectionError, ModuleError):
    """The module does not answer at all (unplugged, hung, or speaking garbage)."""

    # The command's PDU (after its prompt) had gone to the module: it may have acted on it.
    handed_over = False


class CommandTimeout(TimeoutError, ModuleError):
    """No final result in time; before the next command the channel makes sure the module still answers."""

    handed_over = False  # as ModuleGone's


class ATError(ModuleError):
    """A command ended in an error result."""

    def __init__(self, command: str, final: Final) -> None:
        super().__init__(f"{command}: {final.text or final.kind.value}")
        self.final = final


@dataclass
class Answer:
    lines: list[str]
    final: Final

    @property
    def ok(self) -> bool:
        return self.final.ok

    def raw(self) -> str:
        """The answer as the module gave it: its lines, then the final result line (if one came)."""
        last = self.final.line()
        return "\r\n".join([*self.lines, last] if last else self.lines)

    def values(self, name: str) -> list[str]:
        """What follows the colon of each line named ``name`` (``+CREG``)."""
        return [line.partition(":")[2].strip() for line in self.lines if prefix(line) == name]


@dataclass
class _Pending:
    command: str
    pdu: str | None
    answers: Answers = NOTHING
    lines: list[str] = field(default_factory=list)
    done: asyncio.Future[Final] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    at_prompt: bool = False


class LineWriter(Protocol):
    """The writing end of a serial line: an ``asyncio.StreamWriter``, or an in-memory line's."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


SerialEnds = tuple[asyncio.StreamReader, LineWriter]
Opener = Callable[[], Awaitable[SerialEnds]]  # opens the line of one module (again after a loss)


async def open_serial(device: str, baud: int) -> SerialEnds:
    import serialx  # only the AT driver needs it

    # exclusive: a second program on the same tty (ModemManager, a terminal) would steal answers
    return await serialx.open_serial_connection(device, baud, exclusive=True)


class Channel:
    timeout = 5.0  # seconds for a command's final result, unless the command says otherwise
    resync_tries, resync_wait = 3, 1.0  # plain ATs after a timeout, and how long each may take
    # After an information line that may end its answer (Answers.final_optional): how long a final
    # result may take before the line is the whole answer.  Modules that send one do so at once.
    final_grace = 0.5

    def __init__(self, name: str, on_urc: Callable[[Urc], None], clock: Clock) -> None:
        self.name = name
        self.clock = clock
        self._on_urc = on_urc
        self._reader = LineReader()
        self._lock = asyncio.Lock()
        self._pending: _Pending | None = None
        self._stream: asyncio.StreamReader | None = None
        self._writer: LineWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._resyncer: asyncio.Task[None] | None = None
        self._stale = False  # a command was abandoned: its late answer must not be taken for the next's
        self._fresh = False  # the line was just opened: who knows what the module was left doing
        self.closed = asyncio.Event()
        self.bytes_in = self.bytes_out = 0  # since attached (an emulator's test clock compares them)
        self.stats = CommandStats()  # since the start, across re-opens (metrics)
        self.on_lost: Callable[[str], None] | None = None

    @property
    def in_flight(self) -> bool:
        return self._pending is not None

    @property
    def is_open(self) -> bool:
        return self._writer is not None and not self.closed.is_set()

    def attach(self, stream: asyncio.StreamReader, writer: LineWriter) -> None:
        self._stream, self._writer = stream, writer
        self.bytes_in = self.bytes_out = 0
        self._reader.reset()
        self.closed.clear()
        # Whoever spoke to the module before (a process killed) may have left it at an SMS prompt, taking
        # every command as PDU text: the first command makes sure it answers (see _resync).
        self._stale = self._fresh = True
        self._task = asyncio.get_running_loop().create_task(self._read(), name=f"AT reader {self.name}")

    async def close(self) -> None:
        if self._resyncer is not None:
            self._resyncer.cancel()
            await asyncio.gather(self._resyncer, return_exceptions=True)
            self._resyncer = None
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._lost("closed")

    # --- reading ---------------------------------------------------------------------------------

    async def _read(self) -> None:
        assert self._stream is not None
        try:
            while True:
                data = await self._stream.read(4096)
                if not data:
                    break
                self.bytes_in += len(data)
                for event in self._reader.feed(data):
                    self._dispatch(event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.debug("%s: read failed: %s", self.name, exc)
        self._lost("the line closed")
        if self.on_lost is not None:  # unplugged: nobody needs to be talking to it to notice
            self.on_lost("the line closed")

    def _lost(self, why: str) -> None:
        self.closed.set()
        p = self._pending
        if p is not None and not p.done.done():
            p.done.set_exception(ModuleGone(f"{self.name}: {why}"))

    def _dispatch(self, event: object) -> None:
        p = self._pending
        if isinstance(event, Urc):
            try:
                self._on_urc(event)
            except Exception:
                log.exception("%s: handling %s failed", self.name, event.name)
        elif isinstance(event, Final):
            if p is not None and not p.done.done():
                p.done.set_result(event)
            else:
                log.debug("%s: a final result nobody waits for: %s", self.name, event)
        elif isinstance(event, Line):
            if p is not None:
                p.lines.append(event.text)
                if p.answers.final_optional and not p.done.done():
                    self.clock.call_later(self.final_grace, self._implied_final, p)
            else:
                log.debug("%s: unexpected line %r", self.name, event.text[:80])
        elif isinstance(event, Prompt):
            if p is not None and p.pdu is not None and not p.at_prompt:
                p.at_prompt = True
                self._write(p.pdu.encode("ascii") + CTRL_Z)
        elif isinstance(event, Noise):
            log.debug("%s: noise %r", self.name, event.text[:80])
        elif isinstance(event, Echo):
            pass

    def _implied_final(self, p: _Pending) -> None:
        """No final result followed a line that may end its answer (Wavecom's +CPIN: READY): it did."""
        if self._pending is p and not p.done.done():
            log.debug("%s: %s answered without a final result", self.name, p.command)
            p.done.set_result(Final(FinalKind.OK, implied=True))

    def _write(self, data: bytes) -> None:
        if self._writer is None:
            raise ModuleGone(f"{self.name}: not open")
        self.bytes_out += len(data)
        self._writer.write(data)

    # --- commands --------------------------------------------------------------------------------

    async def command(
        self,
        command: str,
        *,
        timeout: float | None = None,
        expect: Answers | str | frozenset[str] = NOTHING,
        pdu: str | None = None,
    ) -> Answer:
        """Send ``command`` and wait for its final result; ``expect``: what it can answer (``Answers``,
        or the prefix of its answer lines, a set of them for a line of several commands); any other
        line is unsolicited.

        ``pdu``: the command prompts (AT+CMGS) and this goes after the prompt, ended by Ctrl-Z.
        CommandTimeout when no final result comes in time, ModuleGone if the module does not answer at all."""
        async with self._lock:
            if self._stale:
                await self._resync()
            return await self._run(command, self.timeout if timeout is None else timeout, answers_of(expect), pdu)

    async def check(
        self,
        command: str,
        *,
        timeout: float | None = None,
        expect: Answers | str | frozenset[str] = NOTHING,
        pdu: str | None = None,
    ) -> Answer:
        """``command`` that must end in OK (ATError otherwise)."""
        answer = await self.command(command, timeout=timeout, expect=expect, pdu=pdu)
        if not answer.ok:
            raise ATError(command, answer.final)
        return answer

    async def _run(self, command: str, timeout: float, expect: Answers, pdu: str | None) -> Answer:
        if not self.is_open:
            raise ModuleGone(f"{self.name}: not open")
        p = _Pending(command, pdu, expect)
        self._pending = p
        self._reader.expect = expect
        self._reader.prompting = pdu is not None
        started = time.monotonic()
        self.stats.commands += 1
        try:
            self._write(command.encode("ascii") + b"\r")
            final = await within(self.clock, p.done, timeout)
            self.stats.seconds += time.monotonic() - started
            if not final.ok:
                self.stats.errors += 1
        except ModuleGone as gone:
            gone.handed_over = p.at_prompt
            raise
        except TimeoutError:
            self.stats.timeouts += 1
            self._pending = None
            if p.at_prompt or pdu is not None:
                self._write(ESC)  # leave the prompt: the module would take the next command as PDU
            self._stale = True
            self._resyncer = asyncio.get_running_loop().create_task(self._resync_soon(), name=f"AT resync {self.name}")
            silent = CommandTimeout(f"{self.name}: no answer to {command.split('=')[0]} in {timeout:g} s")
            silent.handed_over = p.at_prompt
            raise silent from None
        except asyncio.CancelledError:
            # The caller gave up (a task's tmo): the module may still answer this command.
            self._stale = True
            if p.pdu is not None and self.is_open:
                self._write(ESC)
            raise
        finally:
            if self._pending is p:
                self._pending = None
            self._reader.expect = None
            self._reader.prompting = False
            self._reader.command_done()
        return Answer(p.lines, final)

    async def _resync(self) -> None:
        """Plain ``AT`` until the module answers OK; ModuleGone if it never does."""
        if self._fresh:
            await self._resync_fresh()
            return
        wait = self.resync_wait
        for _ in range(self.resync_tries):
            if not self.is_open:
                break
            try:
                self._write(b"AT\r")
                while True:
                    p = _Pending("AT", None)
                    self._pending = p
                    self._reader.expect = NOTHING
                    final = await within(self.clock, p.done, wait)
                    if final.kind is FinalKind.OK:
                        self._stale = False
                        return
                    # Plain AT never fails: this is the abandoned command's late final result (+CMS ERROR
                    # of an aborted send). The AT's own OK is still to come; another AT now would leave
                    # one OK over, taken later for the next command's.
            except TimeoutError:
                continue
            finally:
                self._pending = None
                self._reader.expect = None
        raise ModuleGone(f"{self.name}: no answer to AT")

    async def _resync_fresh(self) -> None:
        """The first command on a line just opened: ESC (a module left at an SMS prompt leaves it, with an
        OK or nothing; one at no prompt ignores what comes before ``AT``), then ``AT+CSQ``, which every
        module answers with its own line: finals that come without that line (the ESC's, a late one of
        whoever spoke before) are not its answer, so none is left over for the next command.  Later
        tries go without the ESC, for a module that took it into the line."""
        wait = self.resync_wait
        for n in range(self.resync_tries):
            if not self.is_open:
                break
            try:
                self._write((b"" if n else ESC) + b"AT+CSQ\r")
                signal = answers_of("+CSQ")
                while True:
                    p = _Pending("AT+CSQ", None, signal)
                    self._pending = p
                    self._reader.expect = signal
                    await within(self.clock, p.done, wait)
                    if any(line.startswith("+CSQ") for line in p.lines):
                        self._stale = self._fresh = False
                        return
            except TimeoutError:
                continue
            finally:
                self._pending = None
                self._reader.expect = None
        raise ModuleGone(f"{self.name}: no answer to AT+CSQ")

    async def _resync_soon(self) -> None:
        """After a timeout: does the module still answer?  If not, it is lost even if nobody asks it more."""
        async with self._lock:
            if not self._stale or not self.is_open:
                return
            try:
                await self._resync()
            except ModuleGone as exc:
                log.debug("%s: %s", self.name, exc)
                if self.on_lost is not None:
                    self.on_lost("no answer to AT")
