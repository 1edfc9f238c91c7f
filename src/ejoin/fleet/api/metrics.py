"""``GET /metrics`` of the fleet: its members, its ledger, its pushes and, with replicas, its leases.

Behind the fleet's credentials, as a device's (web/metrics.py serves it: the same handler, the same
HTTP request counters).  What this process sees is read from memory at scrape time: each member as
this replica sees it (up, why not, its answer times), the pushes it made, its leases.  What the
ledger holds — open tasks, their units by state, dispatches in flight — is one query, and the outbox
to the platform's totals another, each kept for ``FIGURES_EVERY`` seconds (runtime.Fleet), read
before the collector runs; every replica reports the same figures for them (aggregate them with max,
not sum).  Labels are bounded: a member's
name, a state, a problem's kind, a push destination (32, then "other").
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Iterator

from aiohttp import web
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from ... import __version__
from ...web import metrics
from ...web.dashboard.board import STATE_CLASSES, state_class
from ..engine.members import ANSWER_BUCKETS, KINDS
from ..engine.runtime import Fleet
from ..engine.status import member_entries
from ..ledger import Figures

log = logging.getLogger(__name__)


class FleetCollector(Collector):
    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet
        self.figures: Figures | None = None  # None: the ledger did not answer the last scrape
        self.stored: tuple[int, int, float] | None = None  # the outbox's pushes waiting, dead, oldest age

    async def read_ledger(self) -> None:
        try:
            self.figures = await self._fleet.figures()
            self.stored = await self._fleet.pushes_stored()
        except Exception:  # the scrape still answers, saying the ledger does not (ejoin_fleet_ledger_up 0)
            log.warning("the ledger's figures could not be read for a metrics scrape", exc_info=True)
            self.figures = self.stored = None

    def collect(self) -> Iterator[Metric]:
        fleet = self._fleet
        store = "postgresql" if fleet.db is not None else "sqlite"
        yield InfoMetricFamily(
            "ejoin_fleet_build",
            "Version of the fleet software",
            value={"version": __version__, "python": platform.python_version(), "store": store},
        )
        yield GaugeMetricFamily(
            "ejoin_fleet_start_time_seconds", "When the fleet started (unix time)", fleet.activity.started
        )
        yield from self._members(fleet)
        yield from self._ledger()
        yield from self._replica(fleet)
        yield from metrics.push_metrics(fleet.activity, fleet.outbox)

    @staticmethod
    def _members(fleet: Fleet) -> Iterator[Metric]:
        up = GaugeMetricFamily("ejoin_fleet_member_up", "1 if the member answers this replica", labels=["member"])
        problem = GaugeMetricFamily(
            "ejoin_fleet_member_problem",
            "1 for why a member that is down is: no_answer, credentials, not_ejoin, no_status",
            labels=["member", "problem"],
        )
        ports = GaugeMetricFamily("ejoin_fleet_member_ports", "Fleet ports the member occupies", labels=["member"])
        registered = GaugeMetricFamily(
            "ejoin_fleet_member_registered_ports", "The member's ports registered now", labels=["member"]
        )
        requests = CounterMetricFamily(
            "ejoin_fleet_member_requests",
            "Requests to the member: answered (JSON, a refusal too), error (no JSON), no_answer",
            labels=["member", "outcome"],
        )
        seconds = HistogramMetricFamily(
            "ejoin_fleet_member_request_seconds", "Time to the member's answer of each HTTP request", labels=["member"]
        )
        by_class = dict.fromkeys((c.key for c in STATE_CLASSES), 0)
        for link in sorted(fleet.links.values(), key=lambda link: link.config.first):
            name = [link.name]
            up.add_metric(name, 1 if link.up else 0)
            for kind in KINDS:
                problem.add_metric(
                    [link.name, kind], 1 if link.problem is not None and link.problem.kind == kind else 0
                )
            ports.add_metric(name, link.config.last - link.config.first + 1)
            registered.add_metric(name, len(link.registered()))
            a = link.answers
            for outcome, n in (("answered", a.answered), ("error", a.errors), ("no_answer", a.silent)):
                requests.add_metric([link.name, outcome], n)
            cumulative, buckets = 0, []
            for bound, n in zip((*ANSWER_BUCKETS, float("inf")), a.buckets, strict=True):
                cumulative += n
                buckets.append(("+Inf" if bound == float("inf") else f"{bound:g}", cumulative))
            seconds.add_metric(name, buckets, a.seconds)
            for entry in member_entries(link, fleet.ports):
                key = state_class(entry.st).key
                by_class[key] = by_class.get(key, 0) + 1
        yield from (up, problem, ports, registered, requests, seconds)
        states = GaugeMetricFamily(
            "ejoin_fleet_ports", "Fleet ports by the state of their active slot (a member down: lost)", labels=["state"]
        )
        for key, n in by_class.items():
            states.add_metric([key], n)
        yield states
        twice = CounterMetricFamily(
            "ejoin_fleet_sent_twice",
            "SMS a member sent after a failover or its forced removal had given them to another member",
            labels=["member"],
        )
        counted = {name: 0 for name in fleet.links} | fleet.reports.sent_twice  # 0 from the start: rates work
        for member, n in sorted(counted.items()):
            twice.add_metric([member], n)
        yield twice
        yield GaugeMetricFamily(
            "ejoin_fleet_reports_waiting",
            "Task reports waiting in a cache to be pushed together",
            fleet.reports.waiting,
        )

    def _ledger(self) -> Iterator[Metric]:
        figures = self.figures
        yield GaugeMetricFamily(
            "ejoin_fleet_ledger_up", "1 if the ledger answered this scrape", 0 if figures is None else 1
        )
        if figures is None:
            return
        yield GaugeMetricFamily(
            "ejoin_fleet_tasks_open", "Send tasks not finished (the whole fleet)", figures.tasks_open
        )
        units = GaugeMetricFamily(
            "ejoin_fleet_units", "SMS of open tasks by state: pending, dispatched, sent, failed", labels=["state"]
        )
        for state, n in figures.units.items():
            units.add_metric([state], n)
        yield units
        yield GaugeMetricFamily(
            "ejoin_fleet_dispatches_in_flight",
            "Sub-tasks given to members with SMS of them not done yet",
            figures.dispatches_in_flight,
        )
        if self.stored is not None:
            waiting, dead, oldest = self.stored
            yield GaugeMetricFamily(
                "ejoin_fleet_pushes_waiting", "Pushes to the platform waiting in the outbox (every replica's)", waiting
            )
            yield GaugeMetricFamily(
                "ejoin_fleet_pushes_dead", "Pushes to the platform that gave up after the retry window", dead
            )
            yield GaugeMetricFamily(
                "ejoin_fleet_pushes_oldest_seconds", "How long the oldest push waiting has waited", oldest
            )

    @staticmethod
    def _replica(fleet: Fleet) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "ejoin_fleet_replicas", "Replicas alive on the ledger (1: the embedded store)", fleet.replicas
        )
        yield GaugeMetricFamily(
            "ejoin_fleet_tasks_owned", "Open tasks this replica holds the lease of", len(fleet.owned)
        )
        yield GaugeMetricFamily(
            "ejoin_fleet_status_role",
            "1 if this replica holds the status role (the periodic dev-status, received SMS batched, pruning)",
            1 if fleet.status_push.leading else 0,
        )
        if fleet.db is not None and fleet.renewed_at is not None:
            yield GaugeMetricFamily(
                "ejoin_fleet_lease_seconds",
                "A lease: how long a replica's tasks wait for it once it stops renewing",
                fleet.ledger.lease,
            )
            yield GaugeMetricFamily(
                "ejoin_fleet_lease_age_seconds",
                "Seconds since this replica last renewed its leases (renewed every third of a lease)",
                time.monotonic() - fleet.renewed_at,
            )


def install(app: web.Application, fleet: Fleet) -> None:
    collector = FleetCollector(fleet)
    metrics.install(app, collector, collector.read_ledger)
