"""The AT driver: one ``Module`` per port, each on its own serial line.

A module that is unplugged, hangs or answers garbage is reported lost (its
port shows 16) and tried again with back-off in the background; the other
ports and the API never wait for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ...clock import Clock
from ...protocol.codes import PortState
from ...protocol.text import Segmented
from ..base import CardInfo, CommandStats, ModemDriver, SendResult, UssdReply
from .channel import CommandTimeout, ModuleGone, Opener, open_serial
from .module import BalanceRule, ModemConfig, Module
from .profiles import profile

log = logging.getLogger(__name__)

RETRY_FIRST, RETRY_MAX = 1.0, 60.0  # back-off between attempts to reach a lost module (device clock)
SWEEP_PERIOD = 300.0  # seconds between AT+CMGL sweeps of a module's storage

LineOpener = Callable[[ModemConfig], Opener]  # the opener of each module's line (serial, or in memory)


def serial_opener(config: ModemConfig) -> Opener:
    return lambda: open_serial(config.device, config.baud)


class ATDriver(ModemDriver):
    def __init__(
        self,
        modems: list[ModemConfig],
        clock: Clock,
        opener: LineOpener = serial_opener,
        balance: list[BalanceRule] | None = None,
    ) -> None:
        self.clock = clock
        self.modules: dict[int, Module] = {}
        for cfg in modems:
            module = Module(cfg, profile(cfg.profile), clock, lambda: self.events, opener(cfg), balance)
            module.channel.on_lost = lambda why, port=cfg.port: self._lose(port, why)
            self.modules[cfg.port] = module
        # Dual-SIM modules switch slots by command; a single-SIM one refuses a switch with a reason.
        self.can_switch_slots = bool(modems) and all(m.profile.slot_command for m in self.modules.values())
        self._lost: set[int] = set()
        self._retry: dict[int, asyncio.Task[None]] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self.retry_first = RETRY_FIRST
        self.sweep_period = SWEEP_PERIOD

    def module(self, port: int) -> Module:
        module = self.modules.get(port)
        if module is None:
            raise ModuleGone(f"no module is configured for port {port}")
        return module

    async def stop(self) -> None:
        tasks = list(self._retry.values())
        if self._sweeper is not None:
            tasks.append(self._sweeper)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(m.close() for m in self.modules.values()), return_exceptions=True)

    def start_sweeps(self) -> None:
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_loop(), name="AT sweeps")

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_period)
            for port, module in self.modules.items():
                if port not in self._lost and module.ready:
                    try:
                        await module.sweep()
                    except Exception as exc:
                        log.debug("port %d: sweep failed: %s", port, exc)

    def command_stats(self) -> dict[int, CommandStats]:
        return {port: module.channel.stats for port, module in self.modules.items()}

    # --- a module's fate ---------------------------------------------------------------------------

    async def _call(self, port: int, work: Callable[[Module], Awaitable], *, bring_up: bool = False):
        """Run ``work`` on the module of ``port``, opening it first; a module that is gone is reported lost.

        ``bring_up``: the module's own commands (restart, card, registration), which a module that
        answers always answers: no answer in time means it is gone."""
        module = self.module(port)
        try:
            if not module.ready or not module.channel.is_open:
                await module.open()
            return await work(module)
        except CommandTimeout as exc:
            if not bring_up:
                raise  # the network (or a pass-through command) was slow: the module itself may still answer
            self._lose(port, str(exc))
            raise ModuleGone(str(exc)) from None
        except TimeoutError:
            raise
        except (ModuleGone, OSError) as exc:  # (TimeoutError is an OSError too: caught above)
            self._lose(port, str(exc))
            raise ModuleGone(str(exc)) from None

    def _lose(self, port: int, why: str) -> None:
        if port in self._lost:
            return
        log.warning("port %d: the module is lost (%s); trying it again in the background", port, why)
        self._lost.add(port)
        module = self.modules[port]
        module.ready = False
        if self.events is not None:
            self.events.module_lost(port)
        self._retry[port] = asyncio.get_running_loop().create_task(self._come_back(port), name=f"AT retry {port}")

    async def _come_back(self, port: int) -> None:
        module = self.modules[port]
        delay = self.retry_first
        while True:
            await self.clock.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)
            try:
                await module.channel.close()
                await module.open()
            except Exception as exc:
                log.debug("port %d: still lost: %s", port, exc)
                continue
            break
        log.info("port %d: the module answers again", port)
        self._lost.discard(port)
        self._retry.pop(port, None)
        if self.events is not None:
            self.events.module_back(port)

    # --- ModemDriver -------------------------------------------------------------------------------

    async def restart_module(self, port: int) -> None:
        await self._call(port, lambda m: m.restart(), bring_up=True)

    async def detect_card(self, port: int, slot: int) -> CardInfo:
        return await self._call(port, lambda m: m.detect_card(slot), bring_up=True)

    async def register(self, port: int, slot: int) -> PortState:
        try:
            return await self._call(port, lambda m: m.register(), bring_up=True)
        except ModuleGone:
            return PortState.MODULE_TIMEOUT

    async def signal(self, port: int) -> int:
        if port in self._lost:
            return 0
        module = self.module(port)
        if module.channel.is_open and not module.ready:  # restarting or being set up: not to be disturbed
            return module.signal_level
        return await self._call(port, lambda m: m.signal())

    async def send_sms(
        self, port: int, slot: int, number: str, text: Segmented, smsc: str, report: bool = False
    ) -> SendResult:
        return await self._call(port, lambda m: m.send(number, text, report, smsc))

    async def _silent(self, port: int, timeout: float) -> None:
        """A lost module is left to its retries: the caller gets what a silent module gives, no answer."""
        await self.clock.sleep(timeout)
        raise TimeoutError(f"port {port}: the module does not answer")

    async def ussd(self, port: int, code: str, timeout: float) -> UssdReply:
        if port in self._lost:
            await self._silent(port, timeout)
        return await self._call(port, lambda m: m.ussd(code, timeout))

    async def ussd_cancel(self, port: int) -> None:
        await self._call(port, lambda m: m.ussd_cancel())

    async def at_command(self, port: int, line: str, timeout: float) -> str:
        if port in self._lost:
            await self._silent(port, timeout)
        return await self._call(port, lambda m: m.at_command(line, timeout))
