"""The gateway: the parts of the device wired together and run.

Owns the life cycle (open store, load or generate the inventory, start the
outbox, the reporter and the modules; stop in reverse) and nothing else.
"""

from __future__ import annotations

import gc
import logging
import random
import secrets
import socket
from pathlib import Path

from ..clock import Clock, SystemClock, Timer
from ..credentials import open_door
from ..modems.base import ModemDriver
from ..protocol import crypt
from ..protocol.ports import DeviceSize, PortAddress, PortNameStyle, all_slots
from ..store.base import PortRecord, SlotRecord, Store
from ..store.sqlite import SQLiteStore
from .activity import Activity, MeteredTransport
from .attached import Attached, LocalPushes
from .config import GatewayConfig
from .device import Device, DeviceIdentity
from .esim import Euicc, NoEuicc
from .events import DeviceEvents
from .outbox import AiohttpTransport, Outbox, PushTransport, RetryPolicy
from .parameters import Parameters
from .plugin import DriverKind, Modems
from .receiving import Inbox
from .reports import TaskReports
from .security import LoginGuard, SessionTable
from .sending.engine import SendEngine
from .settings import PUSH_URLS, DeviceSettings
from .statistics import Statistics
from .status import StatusReporter
from .ussd import Passthrough

log = logging.getLogger(__name__)


def tune_gc_for_server() -> None:
    """Fewer, cheaper collections for a long-running server.

    Everything loaded at start is frozen out of collection, and the young
    generation is collected after 5,000 allocations instead of 700: intake of
    a thousand tasks allocates far more than 700 objects, and full passes over
    a large queue were the main source of latency spikes (benchmarks/).  Not
    more: a young generation of 50,000 took 5 ms on average to collect and up to
    90 ms under load, the longest stalls of the event loop under one task per
    request (goip_get_status p99 45 ms; 5,000: pauses p99 7 ms, less GC time in
    all; benchmarks/bench_transactional.py).
    """
    gc.freeze()
    gc.set_threshold(5_000, 20, 100)


def _mac(seed: int) -> str:
    r = random.Random(f"mac:{seed}")
    return "00-30-f1-" + "-".join(f"{r.randrange(256):02x}" for _ in range(3))


def _ip(config: GatewayConfig) -> str:
    if config.ip:
        return config.ip
    if config.host not in ("", "0.0.0.0", "::"):
        return config.host
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


class Gateway:
    def __init__(
        self,
        config: GatewayConfig,
        *,
        clock: Clock | None = None,
        store: Store | None = None,
        transport: PushTransport | None = None,
        driver: ModemDriver | None = None,
    ) -> None:
        """``driver``: these modules instead of the configured driver's (nothing else of it runs)."""
        self.config = config
        self.clock = clock or SystemClock()
        self.store = store or SQLiteStore(Path(config.data) / "ejoin.sqlite3", synchronous=config.sqlite_sync)
        self.size = DeviceSize(config.ports, config.slots)
        if driver is not None:
            self.modems = Modems(driver)
        elif isinstance(config.kind, DriverKind):
            self.modems = config.kind.create(config, self.clock, self.store)
        else:
            raise ValueError("the config names no driver kind: load it with load_config(..., drivers=...)")
        self.driver = self.modems.driver
        self.activity = Activity(self.clock)
        # Pushes to a receiver in this process (an attached part's: the SMPP server's reports) stay in it.
        self.pushes = LocalPushes(
            MeteredTransport(transport or AiohttpTransport(timeout=config.push_timeout), self.activity, self.clock)
        )
        self.outbox = Outbox(
            self.store,
            self.clock,
            self.pushes,
            RetryPolicy(
                base=config.push_retry_base,
                cap=config.push_retry_cap,
                window=config.push_retry_window,
                dead_keep=config.push_dead_keep,
            ),
            random.Random(f"outbox:{config.seed}"),
        )
        self.device = Device(
            self.size,
            DeviceIdentity(mac=config.mac or _mac(config.seed), ip=_ip(config), sw_ver=config.sw_ver),
            self.clock,
            self.store,
            self.driver,
            PortNameStyle(config.port_names),
        )
        # Why anyone who reaches the device could use it (a reachable address, credentials anyone would
        # try), or None: logged at start and shown on every dashboard page.
        self.open_door = open_door(config.host, config.username, config.password)
        self.sessions = SessionTable(self.clock, config.username, config.password, config.max_sessions)
        self.guard = LoginGuard(self.clock, cap=config.login_delay_cap)
        # A new synchronisation source at every start (spec 8.1).
        self.ssrc = secrets.token_hex(8)
        # Every part exists from here on; start() only reads the disk and sets them going.
        self.settings = DeviceSettings(self.store)
        self.activity.configured = lambda: (self.settings[k] for k in PUSH_URLS)
        self.outbox.signer = self._sign
        self.reporter = StatusReporter(self.device, self.settings, self.outbox, self.clock)
        self.parameters = Parameters(self.device, self.settings, self.reporter)
        reports = TaskReports(self.outbox, self.store, self.clock, self.settings)
        reports.observer = self.activity
        self.passthrough = Passthrough(self.device, self.driver, self.clock)
        self.sending = SendEngine(
            self.device,
            self.store,
            self.clock,
            reports,
            max_tasks=config.max_queued_tasks,
            max_recipients=config.max_recipients,
            max_per_request=config.max_tasks_per_request,
            retention=config.task_retention,
            settings=self.settings,
        )
        self.inbox = Inbox(self.device, self.store, self.clock, self.outbox, self.settings, config.concat_timeout)
        self.inbox.observers.append(self.activity.received)
        self.inbox.raw_observers.append(self.activity.received_raw)
        self.sending.expect_reports = self.inbox.expect_reports
        self.inbox.confirm = self.sending.confirm_sent
        self.driver.events = DeviceEvents(self.device, self.inbox)
        self.statistics = Statistics(self.device, self.store, self.clock, self.sending, config.timezone)
        # Parts put beside the device where the program is put together (the SMPP server): started after
        # every part of it, stopped before any.
        self.attached: list[Attached] = []
        self._no_euicc = NoEuicc(self.size.ports)
        self._stats_timer: Timer | None = None
        self._started = False

    @property
    def esim(self) -> Euicc:
        """The modules' eUICC (the driver's), or none."""
        return self.modems.euicc or self._no_euicc

    async def start(self) -> None:
        await self.store.open()
        self.settings.load(await self.store.load_settings())
        slots, ports = await self._inventory()
        self.device.attach(slots, ports)
        await self.modems.attach(self)
        await self.outbox.start()
        await self.inbox.recover()
        await self.sending.recover()
        await self.device.read_signals()
        self.reporter.start()
        self.device.start()
        self.sending.start()
        self.modems.start()
        self._prune_statistics()
        self._started = True
        for part in self.attached:
            await part.start()

    def _prune_statistics(self) -> None:
        """Hourly housekeeping: old statistics buckets, and the inbox beyond ``inbox_max``."""
        self.statistics.prune()
        self.store.inbox_prune(self.config.inbox_max)
        self._stats_timer = self.clock.call_later(3600, self._prune_statistics)

    def _sign(self, body: bytes) -> dict[str, str]:
        secret = self.settings["push_secret"]
        if not secret:
            return {}
        ts = int(self.clock.time())
        return {"X-Ejoin-Timestamp": str(ts), "X-Ejoin-Signature": crypt.sign_push(secret, ts, body)}

    async def _inventory(self) -> tuple[list[SlotRecord], list[PortRecord]]:
        """The stored inventory; slots never stored come from the driver (and are stored)."""
        stored = {PortAddress(r.port, r.slot): r for r in await self.store.load_slots()}
        missing = [addr for addr in all_slots(self.size) if addr not in stored]
        fresh = {PortAddress(r.port, r.slot): r for r in self.modems.new_slots(missing)} if missing else {}
        for record in fresh.values():
            self.store.save_slot(record)
        records = {**stored, **fresh}
        ports = {r.port: r for r in await self.store.load_ports()}
        for p in range(1, self.size.ports + 1):
            if p not in ports:
                ports[p] = PortRecord(port=p)
                self.store.save_port(ports[p])
        return list(records.values()), list(ports.values())

    async def stop(self) -> None:
        for part in reversed(self.attached):
            await part.stop()
        if self._started:
            if self._stats_timer is not None:
                self._stats_timer.cancel()
            await self.modems.stop()
            await self.sending.stop(self.config.shutdown_grace)
            self.inbox.stop()
            self.reporter.stop()
            await self.device.stop()
            await self.outbox.stop()
            self._started = False
        await self.store.close()

    def reboot(self) -> None:
        """``op=reboot``: every module re-registers and the inbox gets a new ssrc."""
        self.ssrc = secrets.token_hex(8)
        self.device.reboot()

    def save(self) -> None:
        """``op=save``: everything is written through already; this only flushes the log."""
        log.info("save requested; settings and SIM data are already on disk")
