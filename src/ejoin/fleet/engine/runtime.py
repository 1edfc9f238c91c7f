"""The fleet process: members, ledger, dispatcher, report merger and the outbox to the platform.

Its record is the embedded SQLite ledger, or PostgreSQL (``db = "postgresql://..."``) shared by
any number of replicas: each replica owns the tasks it holds leases on (renewed every third of
a lease; a dead replica's tasks are taken over when its leases expire), dispatches and reports
only those, and is woken by the others' notifications (a member's outcomes, pushes queued).

It offers what the shared endpoint machinery (``web/endpoint.py``) reads of a device —
``config`` (credentials, body limits), ``guard``, ``sessions``, ``clock`` — so the device's
own authentication, spec 3 sessions and error answers serve the fleet unchanged.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...clock import Clock, SystemClock
from ...config import ConfigError
from ...gateway.activity import Activity, MeteredTransport
from ...gateway.attached import Attached, LocalPushes
from ...gateway.outbox import AiohttpTransport, Outbox, RetryPolicy
from ...gateway.security import LoginGuard, SessionTable
from ...protocol import operations as op
from ...protocol.messages import DevStatus
from ...protocol.operations import REMOVE_SMS
from ...protocol.ports import DeviceSize
from ...store.sqlite import SQLiteStore
from ..config import FleetConfig, MemberConfig, check_new_member, member_of
from ..ledger import PRUNE_BATCH, Figures, Ledger, SqliteLedger, TaskRow
from .activity import FleetActivity
from .control import TaskControl
from .inbound import InboundPushes
from .members import MemberDown, MemberLink, Problem
from .numbering import PortMap
from .reports import ReportMerger
from .sending import Dispatcher
from .status import dev_status
from .status_push import MEMBER_PERIOD, StatusPusher

if TYPE_CHECKING:
    from ..ledger.pgdb import PgDatabase
    from ..ledger.pgoutbox import PgOutboxStore

log = logging.getLogger(__name__)

PRUNE_EVERY = 3600.0  # seconds between prunes of the ledger, as a device prunes hourly
FIGURES_EVERY = 5.0  # seconds the ledger's figures are kept for the scrapes and pages that read them


class MemberBusy(Exception):
    def __init__(self, name: str, units: int) -> None:
        super().__init__(
            f"member {name} holds {units} unsent SMS of open tasks; remove it with force to send them "
            "through the other members (as a failover; those a task bound to its ports fail), "
            "or wait until they are done"
        )
        self.units = units


def fleet_mac(secret: str) -> str:
    """The fleet's MAC in its dev-status: stable across restarts, the same for every replica (from the
    ledger's secret, one-way), locally administered (02-…) so that it is no vendor's address."""
    digest = hashlib.sha256(f"mac:{secret}".encode()).digest()
    return "02-" + "-".join(f"{b:02x}" for b in digest[:5])


class MemberUnfit(Exception):
    """A member to add that does not answer its status with the credentials given."""

    def __init__(self, member: MemberConfig, problem: Problem) -> None:
        super().__init__(
            f"member {member.name} was not added: at {member.url} {problem.words}; check its URL and account, "
            'or add it offline (--offline; "offline": 1), as down until it answers'
        )
        self.problem = problem


class Fleet:
    def __init__(self, config: FleetConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        data = Path(config.data)
        self.ledger: Ledger
        self.store: SQLiteStore | PgOutboxStore
        self.db: PgDatabase | None = None  # the PostgreSQL database, when shared
        self._shared_outbox: PgOutboxStore | None = None
        if config.db.startswith(("postgresql://", "postgres://")):
            from ..ledger.pgdb import PgDatabase
            from ..ledger.pgoutbox import PgOutboxStore
            from ..ledger.postgres import PgLedger

            self.db = PgDatabase(config.db, lease=config.lease)
            self.ledger = PgLedger(self.db)
            self.store = self._shared_outbox = PgOutboxStore(self.db)
        else:
            self.ledger = SqliteLedger(config.db.removeprefix("sqlite:") if config.db else data / "fleet.sqlite3")
            self.store = SQLiteStore(data / "outbox.sqlite3")
        # push tries per destination, counted as a gateway counts them (metrics, the dashboard)
        self.activity = Activity(self.clock)
        # Pushes to a receiver in this process (an attached part's: the SMPP server's reports) stay in it.
        self.pushes = LocalPushes(
            MeteredTransport(AiohttpTransport(timeout=config.push_timeout), self.activity, self.clock)
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
            random.Random(),
        )
        self.sessions = SessionTable(self.clock, config.username, config.password, config.max_sessions)
        self.guard = LoginGuard(self.clock, cap=config.login_delay_cap)
        # Members change at run time (add_member, remove_member): these three are changed in place,
        # never replaced, as the dispatcher, the merger and the handlers hold them.
        self.ports = PortMap(config.members)
        self.members: dict[str, MemberConfig] = {m.name: m for m in config.members}
        self.links = {m.name: MemberLink(m, self.clock, config.member_timeout) for m in config.members}
        self._membership = asyncio.Lock()
        self.public_url = config.public_url.rstrip("/")
        self._secret = ""
        self.dispatcher = Dispatcher(
            self.ledger,
            self.links,
            self.ports,
            lambda: self.size,
            self.report_url,
            config.max_recipients,
            self.clock,
            (config.sim_hour_quota, config.sim_day_quota),
            config.policy,
        )
        self.reports = ReportMerger(self.ledger, self.outbox, self.clock, self.ports, self.members)
        self.owned: set[int] = set()  # open tasks this replica holds the lease of
        self.first_seen: dict[int, float] = {}  # owned task -> when this process accepted or took it
        self.reports.owns = self.dispatcher.owns = self.owned.__contains__
        self.control = TaskControl(self.ledger, self.links, self.dispatcher, self.reports)
        self.status_push = StatusPusher(self.ledger, self.outbox, self.clock, self.ports, self.dev_status)
        # the holder of the status role batches received SMS for the platform too (one batcher for all)
        self.inbound = InboundPushes(self.ledger, self.outbox, self.ports, self.clock, lambda: self.status_push.leading)
        self.activity.configured = lambda: (self.status_push.url, self.inbound.url)
        # what went through this process (the dashboard): outcomes and SMS taken in, per minute
        self.traffic = FleetActivity(self.clock)
        self.reports.on_outcomes = self.traffic.outcomes
        self.inbound.on_received = self.traffic.received
        self.dispatcher.on_accepted = self._accepted
        self.dispatcher.on_failed = self.reports.outcomes
        self.status_seq = 0
        self.mac = "00-00-00-00-00-00"  # the fleet's own, from its ledger's secret once it starts
        # Like a device, a new synchronisation source of its inbox at every start (spec 8.1).
        self.ssrc = secrets.token_hex(8)
        self._work: set[asyncio.Task[Any]] = set()
        self._poller: asyncio.Task[None] | None = None
        self._holder: asyncio.Task[None] | None = None
        self._stopping = False
        self._progressed: set[int] = set()  # tasks another replica recorded outcomes of
        self._next_prune = 0.0  # on the fleet's clock: the first poll round prunes
        self._pruning = asyncio.Lock()
        self._syncing = False  # members being read again from the ledger
        self._unused: set[str] = set()  # recorded members not used (their ports another's), as said
        # Parts put beside the fleet where the program is put together (the SMPP server): started after
        # every part of it, stopped before any.
        self.attached: list[Attached] = []
        # Replicas: when this one last renewed its leases (monotonic seconds: leases are real time), and
        # how many replicas were alive then.
        self.renewed_at: float | None = None
        self.replicas = 1
        self._figures: tuple[float, Figures] | None = None
        self._stored: tuple[float, tuple[int, int, float]] | None = None

    @property
    def size(self) -> DeviceSize:
        return self.ports.size(self.config.slots)

    @property
    def settings(self) -> dict[str, str]:
        """The platform's push URLs (as a device's settings name them): the push queue's endpoints read them."""
        return {"sms_url": self.inbound.url, "status_url": self.status_push.url, "sr_url": "", "mms_url": ""}

    def report_url(self, member: str) -> str:
        return self.public_url + op.MEMBER_REPORTS.filled(member=member, secret=self._secret)

    def dev_status(self, period: int = 0, answers: dict[str, dict[str, Any]] | None = None) -> DevStatus:
        """The fleet's dev-status; ``answers``: members' own answers to show (``all_sims``/``all_slots``)."""
        self.status_seq += 1
        return dev_status(
            list(self.links.values()),
            self.ports,
            mac=self.mac,
            ip=self.config.host,
            ver="ejoin-fleet",
            slots=self.config.slots,
            seq=self.status_seq,
            expires=period,
            answers=answers,
        )

    async def refresh(self, links: list[MemberLink] | None = None) -> None:
        """Members' status now (all, or ``links``); each subscribed to push its status to the fleet."""
        links = list(self.links.values()) if links is None else links
        for link in links:
            # known only once the fleet serves (tests set public_url then)
            ready = bool(self.public_url and self._secret)
            link.push_path = op.MEMBER_STATUS.filled(member=link.name, secret=self._secret) if ready else ""
            link.push_url = self.public_url + link.push_path if ready else ""
            sms_path = op.MEMBER_SMS.filled(member=link.name, secret=self._secret)
            link.sms_url = self.public_url + sms_path if ready else ""
            link.period = MEMBER_PERIOD
        await self.status_push.refresh(links)

    def secret_ok(self, given: str) -> bool:
        import hmac

        return hmac.compare_digest(given.encode(), self._secret.encode())

    async def start(self) -> None:
        await self.ledger.open()
        await self.store.open()
        await self.outbox.start()
        self._secret = await self.ledger.secret()
        self.mac = fleet_mac(self._secret)
        if self.db is not None:
            # Replicas answer goip_get_sms from one inbox whose ids never restart: one ssrc for all,
            # derived from the shared secret (one-way, so it gives nothing of it away).
            self.ssrc = hashlib.sha256(f"ssrc:{self._secret}".encode()).hexdigest()[:16]
        await self._load_members()
        if self.db is not None:
            self.status_push.leading = await self.ledger.lead("status")
            await self._agree_on_public_url()
        await self.status_push.start()
        await self.inbound.start()
        await self.refresh()
        # Tasks accepted before a restart (or by a replica gone): reconciled, reported and dispatched
        # again where they stopped.
        await self._claim()
        self.renewed_at = time.monotonic()  # its leases taken: renewed every third of a lease from here
        if self.db is not None:
            self.db.on_notify(self._notified)
            self._holder = asyncio.ensure_future(self._hold())
        self._poller = asyncio.ensure_future(self._poll())
        for part in self.attached:
            await part.start()

    async def _agree_on_public_url(self) -> None:
        """Replicas subscribe members to one address, the load balancer's: one that differs is said."""
        if not self.public_url:
            return
        recorded = await self.ledger.setting("public_url")
        if recorded is not None and recorded != self.public_url:
            log.warning(
                "public_url %s differs from %s, another replica's: members push to whichever subscribed them "
                "last; give every replica the load balancer's address",
                self.public_url,
                recorded,
            )
        if recorded != self.public_url:
            await self.ledger.set_setting("public_url", self.public_url)

    async def _load_members(self) -> None:
        """The ledger's members: the file seeds it, what was added or removed at run time stays so."""
        recorded = await self.ledger.seed_members([m.settings() for m in self.config.members])
        for name in list(self.links):
            self._detach(name)
        for i, settings in enumerate(recorded):  # oldest first: a member there first keeps its ports
            member = self._usable(settings, i)
            if member is not None:
                self._attach(member)
        if not self.links:
            log.warning("the fleet has no members yet: add them with `ejoin fleet member add`")

    def _usable(self, settings: dict[str, Any], index: int) -> MemberConfig | None:
        """A recorded member, unless its ports are another's (a file member added since whose ports a
        member added at run time holds): said once, not at each reading of the ledger."""
        try:
            member = member_of(settings, index)
            check_new_member(list(self.members.values()), member)
        except ConfigError as exc:
            said = json.dumps(settings, sort_keys=True)
            if said not in self._unused:
                self._unused.add(said)
                log.error("member %s is not used: %s", settings.get("name"), exc)
            return None
        return member

    def _attach(self, member: MemberConfig) -> MemberLink:
        link = MemberLink(member, self.clock, self.config.member_timeout)
        link.settle = self.config.status_poll
        self.ports.add(member)
        self.members[member.name] = member
        self.links[member.name] = link
        return link

    def _detach(self, name: str) -> MemberLink:
        self.ports.remove(name)
        self.members.pop(name, None)
        return self.links.pop(name)

    async def add_member(self, member: MemberConfig, offline: bool = False) -> MemberLink:
        """A member added at run time (recorded first, so it survives a restart); ``ConfigError`` says
        why not (its name taken, its ports another member's), ``MemberUnfit`` that it does not answer its
        status with its credentials (unless ``offline``: then it is down until it does)."""
        check_new_member(list(self.members.values()), member)  # before asking it; again under the locks
        if not offline:
            candidate = MemberLink(member, self.clock, self.config.member_timeout)
            candidate.announce = False
            try:
                problem = await candidate.probe()
            finally:
                await candidate.close()
            if problem is not None:
                raise MemberUnfit(member, problem)
        async with self._membership, self.ledger.members_lock():
            if self.db is not None:
                await self._follow_members()  # one added through another replica a moment ago counts
            check_new_member(list(self.members.values()), member)
            await self.ledger.add_member(member.settings())  # the other replicas attach it (NOTIFY "m")
            link = self._attach(member)
            log.info("member %s added: fleet ports %s", member.name, member.ports)
        await self.refresh([link])
        # units waiting for a registered port (or for these very ports) may go now
        for row in await self.ledger.open_tasks():
            self._spawn(self.dispatcher.dispatch(row.id))
        return link

    async def remove_member(self, name: str, force: bool = False) -> int:
        """Remove a member; the number of its unsent units sent elsewhere.  ``KeyError``: no such member;
        ``MemberBusy``: it holds unsent units and ``force`` is not given."""
        async with self._membership, self.ledger.members_lock():
            if self.db is not None:
                await self._follow_members()
            if name not in self.links:
                raise KeyError(name)
            member = self.members[name]
            load = await self.ledger.member_load(name, (member.first, member.last))
            if load and not force:
                raise MemberBusy(name, load)
            link = self._detach(name)  # no new dispatch reaches it from here on
            await self.ledger.remove_member(name)  # the other replicas detach it too (NOTIFY "m")
            tasks = await self._let_go(link)
            log.info("member %s removed; %d unsent SMS of %d tasks go to other members", name, load, len(tasks))
        for task_id in tasks:
            self._spawn(self.dispatcher.dispatch(task_id))
        return load

    async def _let_go(self, link: MemberLink) -> list[int]:
        """A member detached: as a failover, what it holds without an outcome goes to other members; what
        it still queues is removed on it when it answers (reports of a withdrawn dispatch are ignored);
        units a task bound to its ports fail.  The tasks whose units were withdrawn.

        Each step takes only what is still to take in the ledger, so replicas detaching the member
        after the one that removed it find nothing left, or only what they dispatched to it meanwhile."""
        member = link.config
        tasks = await self.ledger.withdraw(member.name)
        await self._remove_withdrawn(link)
        await link.close()
        await self.reports.ports_gone(
            (member.first, member.last), f"ports {member.ports} left the fleet with member {member.name}"
        )
        return tasks

    async def _sync_members(self) -> None:
        """Replicas: members added or removed through another replica, attached or detached here too."""
        self._syncing = True
        try:
            async with self._membership:
                added, gone = await self._follow_members()
        finally:
            self._syncing = False
        if added:
            await self.refresh(added)
        if added or gone:  # withdrawn units, or units waiting for these ports: their owners dispatch
            for task_id in sorted(self.owned):
                self._spawn(self.dispatcher.dispatch(task_id))

    async def _follow_members(self) -> tuple[list[MemberLink], list[str]]:
        """This replica's members made the ledger's (under ``_membership``): (links attached, names gone)."""
        recorded = await self.ledger.seed_members([])
        names = {settings["name"]: settings for settings in recorded}
        gone = [n for n in list(self.links) if names.get(n) != self.members[n].settings()]
        for name in gone:
            removed = name not in names
            link = self._detach(name)
            if removed:  # not changed (removed and added again): the ports stay the fleet's
                await self._let_go(link)
            else:
                await link.close()
            log.info("member %s %s through another replica", name, "removed" if removed else "changed")
        added = []
        for i, settings in enumerate(recorded):
            if settings["name"] in self.links:
                continue
            member = self._usable(settings, i)
            if member is None:
                continue
            added.append(self._attach(member))
            log.info("member %s added through another replica: fleet ports %s", member.name, member.ports)
        return added, gone

    async def _claim(self) -> None:
        before = set(self.owned)  # a task accepted while the claim runs is this replica's, claimed or not
        owned, taken = await self.ledger.claim()
        for task_id in before - set(owned):
            self.owned.discard(task_id)
            self.reports.forget(task_id)  # finished, or (a lease not renewed in time) another replica's now
        self.owned.update(owned)
        now = self.clock.time()
        for task_id in owned:
            self.first_seen.setdefault(task_id, now)
        for task_id in set(self.first_seen) - self.owned:
            del self.first_seen[task_id]
        for task_id in taken:
            self._spawn(self._take_over(task_id))

    async def _take_over(self, task_id: int) -> None:
        await self.dispatcher.reconcile(task_id)
        await self.reports.resume(task_id)
        await self.dispatcher.dispatch(task_id)

    async def _hold(self) -> None:
        """Replicas: renew leases (and take expired ones) every third of a lease; waiting pushes looked at."""
        assert self._shared_outbox is not None
        while True:
            try:
                await self._claim()
                await self._shared_outbox.renew()
                await self._roles()
                self.replicas = await self.ledger.beat()
                self.renewed_at = time.monotonic()
                # the role's holder batches what any replica took in (the fallback of NOTIFY "i")
                await self.inbound.sweep()
                # the fallback of the notifications "m" and "s" (a listener reconnecting misses some);
                # not waited for: detaching a member may wait for it to answer, and leases must not
                if not self._syncing:
                    self._spawn(self._sync_members())
                await self.status_push.load()
                for summary in await self.store.outbox_summary():
                    if summary.queued:
                        self.outbox.poke(summary.dest)  # a destination whose sender died
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("renewing the fleet's leases failed; trying again")
            await asyncio.sleep(self.ledger.lease / 3)  # leases are on the database's clock: real time

    async def figures(self) -> Figures:
        """The ledger at a glance (open tasks, units by state, dispatches in flight): read at most every
        ``FIGURES_EVERY`` seconds, whoever asks (metrics scrapes, dashboard pages)."""
        now = time.monotonic()
        if self._figures is None or now - self._figures[0] >= FIGURES_EVERY:
            self._figures = (now, await self.ledger.figures())
        return self._figures[1]

    async def pushes_stored(self) -> tuple[int, int, float]:
        """The whole outbox to the platform (every replica's, on PostgreSQL): pushes waiting, dead, and
        the age in seconds of the oldest waiting one; read at most every ``FIGURES_EVERY`` seconds."""
        now = time.monotonic()
        if self._stored is None or now - self._stored[0] >= FIGURES_EVERY:
            rows = await self.outbox.summary()
            oldest = min((r.oldest_queued for r in rows if r.oldest_queued is not None), default=None)
            age = 0.0 if oldest is None else max(0.0, self.clock.time() - oldest)
            self._stored = (now, (sum(r.queued for r in rows), sum(r.dead for r in rows), age))
        return self._stored[1]

    async def _roles(self) -> None:
        """The status role (the periodic dev-status to the platform): renewed, or taken when free."""
        leading = await self.ledger.lead("status")
        was, self.status_push.leading = self.status_push.leading, leading
        if was and not leading:
            self.inbound.drop()  # the next holder batches what waited here (unforwarded in the ledger)
        elif leading and not was:
            await self.inbound.sweep()  # what the last holder's batch held, and what waited for a holder

    def _notified(self, payload: str) -> None:
        if payload == "m":  # a member added or removed through some replica
            self._spawn(self._sync_members())
        elif payload == "s":  # the platform's URLs or period set through some replica
            self._spawn(self.status_push.load())
            self._spawn(self.inbound.sweep())  # sms_cnt lowered: a batch as large goes now
        elif payload == "i":  # SMS taken in by some replica: the batcher (the status role's holder) takes them
            self._spawn(self.inbound.sweep())
        elif payload.startswith("t"):  # a member's outcomes, recorded by some replica
            task_id = int(payload[1:])
            if task_id in self.owned and task_id not in self._progressed:
                self._progressed.add(task_id)
                self._spawn(self._progress(task_id))
        elif payload.startswith("d"):  # paused, resumed or removed on some replica
            task_id = int(payload[1:])
            if task_id in self.owned:
                self._spawn(self.dispatcher.dispatch(task_id))
        elif payload.startswith("p"):
            self.outbox.poke(payload[1:])
        else:  # "claim" (a replica stopped) or "*" (this listener reconnected: anything may have been missed)
            self._spawn(self._claim())
            self._spawn(self._roles())
            if payload == "*":
                self._spawn(self._sync_members())
                self._spawn(self.status_push.load())
                for task_id in list(self.owned):
                    self._spawn(self.reports.progress(task_id))

    async def _progress(self, task_id: int) -> None:
        self._progressed.discard(task_id)  # notifications arriving from now on run again
        await self.reports.progress(task_id)

    def _accepted(self, task_id: int, row: TaskRow | None = None) -> None:
        self.owned.add(task_id)  # the replica that accepted a task holds its lease
        self.first_seen[task_id] = self.clock.time()
        self._spawn(self._open_task(task_id, row))

    async def _open_task(self, task_id: int, row: TaskRow | None = None) -> None:
        await self.reports.track(task_id, row)
        await self.dispatcher.dispatch(task_id, row)

    def _spawn(self, coro: Any) -> None:
        if self._stopping:
            coro.close()  # a notification arriving while the fleet stops: the next replica's work now
            return
        task = asyncio.ensure_future(coro)
        self._work.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._work.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("fleet work failed", exc_info=task.exception())

    async def _poll(self) -> None:
        while True:
            await self.clock.sleep(self.config.status_poll)
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database away for a moment: the next round tries again
                log.exception("a round of the fleet's poll failed")

    async def tick(self) -> None:
        """One round: members' status, failover of members down too long, pending units dispatched."""
        await self.refresh()
        now = self.clock.time()
        for link in self.links.values():
            if link.down_since is not None and now - link.down_since >= self.config.failover_after:
                link.failed_over = True  # (also when another replica withdrew its units first)
                for task_id in await self.ledger.withdraw(link.name):
                    log.warning(
                        "member %s down for %.0f s: task %d re-dispatched", link.name, now - link.down_since, task_id
                    )
            elif link.up:
                await self._remove_withdrawn(link)
        # Received SMS recorded and never batched (a push to the outbox that failed) are batched now.
        await self.inbound.sweep()
        # Units that found no registered port earlier, or were withdrawn, may find one now.
        await self._claim()
        self.dispatcher.unreconciled &= self.owned  # finished, or another replica's now (it reconciles)
        for task_id in sorted(self.dispatcher.unreconciled):
            await self.dispatcher.reconcile(task_id)  # posts that got no answer: the member asked again
        for task_id in sorted(self.owned):
            await self.dispatcher.dispatch(task_id)
        await self._prune()

    async def _prune(self) -> None:
        """Hourly, by one replica (the status role's holder): finished tasks past task_retention and the
        merged inbox past inbox_max, as a device prunes its own; the ledger would grow without end."""
        async with self._pruning:  # a round that comes meanwhile (the poll's, a test's) finds it done
            await self._prune_now()

    async def _prune_now(self) -> None:
        now = self.clock.time()
        if not self.status_push.leading or now < self._next_prune:
            return
        self._next_prune = now + PRUNE_EVERY
        # quotas count what SIMs sent from the units of finished tasks too: kept for the quotas' window
        window = 86400.0 if self.config.sim_day_quota else 3600.0 if self.config.sim_hour_quota else 0.0
        before = now - max(self.config.task_retention, window)
        tasks = sms = 0
        while True:
            pruned, gone = await self.ledger.prune(before, self.config.inbox_max, not self.inbound.url)
            tasks, sms = tasks + pruned, sms + gone
            if pruned < PRUNE_BATCH:
                break
        if tasks or sms:
            log.info("pruned %d finished tasks and %d received SMS from the ledger", tasks, sms)

    async def _remove_withdrawn(self, link: MemberLink) -> None:
        """A member back after a failover: what it still holds of withdrawn dispatches must not go out."""
        tids = await self.ledger.withdrawn(link.name)
        if not tids:
            return
        try:
            answer = await link.call(REMOVE_SMS.path, body={"tids": tids})
        except MemberDown:
            return
        if isinstance(answer, dict) and answer.get("code") in (0, 200):
            await self.ledger.removed(link.name, tids)

    async def idle(self) -> None:
        """Until every accepted task has been dispatched as far as it can be (tests)."""
        while self._work:
            await asyncio.gather(*list(self._work), return_exceptions=True)

    async def stop(self) -> None:
        for part in reversed(self.attached):
            await part.stop()
        self._stopping = True
        for loop in (self._poller, self._holder):
            if loop is not None:
                loop.cancel()
                await asyncio.gather(loop, return_exceptions=True)
        for task in list(self._work):
            task.cancel()
        await asyncio.gather(*list(self._work), return_exceptions=True)
        await self.dispatcher.close()
        await self.reports.stop()
        self.status_push.stop()
        self.inbound.stop()
        await self.outbox.stop()
        if self._shared_outbox is not None:  # the other replicas take over at once, not after the leases
            try:
                await self.ledger.release()
                await self._shared_outbox.release()
            except Exception:
                log.exception("could not release the fleet's leases; they expire in %.0f s", self.ledger.lease)
        for link in self.links.values():
            await link.close()
        await self.store.close()
        await self.ledger.close()
