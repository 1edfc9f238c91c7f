"""GET /metrics: the device in Prometheus text format.

Everything is read from memory at scrape time (the device's ports and slots,
``Gateway.activity``, the outbox's workers); a scrape never queries the store.
Labels are bounded by the device's size: port, slot, outcome, a push destination
(at most 32, then "other"), an HTTP route pattern.  Never a tid, a number or a text.
"""

from __future__ import annotations

import base64
import platform
import time
from collections.abc import Awaitable, Callable, Iterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from .. import __version__
from ..gateway.activity import Activity
from ..gateway.outbox import Outbox
from ..gateway.runtime import Gateway
from ..protocol.codes import ResultCode
from ..protocol.operations import METRICS
from .endpoint import DEVICE, ApiRequest, credentials_ok, error_response, slow_down
from .layers import LAYERS
from .route import Route, mount

REGISTRY: web.AppKey[CollectorRegistry] = web.AppKey("metrics_registry", CollectorRegistry)
BEFORE_SCRAPE: web.AppKey[Callable[[], Awaitable[None]]] = web.AppKey("before_scrape")
METHODS = frozenset({"GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"})  # anything else: "other"


class DeviceCollector(Collector):
    def __init__(self, gw: Gateway) -> None:
        self._gw = gw

    def collect(self) -> Iterator[Metric]:
        gw = self._gw
        yield InfoMetricFamily(
            "ejoin_build",
            "Version of the gateway software",
            value={
                "version": __version__,
                "python": platform.python_version(),
                "driver": gw.config.modems,  # the registry name of the driver
            },
        )
        yield GaugeMetricFamily("ejoin_start_time_seconds", "When the gateway started (unix time)", gw.activity.started)
        if not getattr(gw, "_started", False):
            return
        yield from self._ports(gw)
        yield from self._sms(gw)
        yield from self._pushes(gw)

    @staticmethod
    def _ports(gw: Gateway) -> Iterator[Metric]:
        port_state = GaugeMetricFamily(
            "ejoin_port_state", "State code (spec 4.1.4) of the port's active slot", labels=["port"]
        )
        signal = GaugeMetricFamily("ejoin_port_signal", "Signal strength of the port (0-31)", labels=["port"])
        active = GaugeMetricFamily("ejoin_port_active_slot", "The port's active slot number", labels=["port"])
        slot_state = GaugeMetricFamily(
            "ejoin_slot_state", "State code (spec 4.1.4) of each slot", labels=["port", "slot"]
        )
        locked = GaugeMetricFamily("ejoin_slot_locked", "1 if the slot is locked by the user", labels=["port", "slot"])
        present = GaugeMetricFamily("ejoin_slot_sim_present", "1 if a SIM is in the slot", labels=["port", "slot"])
        balance = GaugeMetricFamily("ejoin_slot_balance", "The SIM's balance as last known", labels=["port", "slot"])
        failing = GaugeMetricFamily(
            "ejoin_port_send_failures_in_a_row",
            "Sends the port's module failed in a row (refused recipients aside); from 2 the port pauses",
            labels=["port"],
        )
        paused = GaugeMetricFamily(
            "ejoin_port_send_paused_seconds", "Seconds before the port takes an SMS again (0: sending)", labels=["port"]
        )
        pauses = gw.sending.pauses()
        for port in gw.device.ports:
            p = str(port.number)
            pause = pauses.get(port.number)
            failing.add_metric([p], pause.failures if pause else 0)
            paused.add_metric([p], pause.left if pause else 0.0)
            port_state.add_metric([p], int(port.active.state))
            signal.add_metric([p], gw.device.signal(port.number))
            active.add_metric([p], port.record.active_slot)
            for slot in port.slots:
                labels = [p, str(slot.record.slot)]
                slot_state.add_metric(labels, int(slot.state))
                locked.add_metric(labels, int(slot.record.locked))
                present.add_metric(labels, int(slot.record.present))
                if slot.record.balance is not None:  # unknown: no sample rather than a made-up 0
                    balance.add_metric(labels, slot.record.balance)
        yield from (port_state, signal, active, slot_state, locked, present, balance, failing, paused)

    @staticmethod
    def _sms(gw: Gateway) -> Iterator[Metric]:
        act = gw.activity
        ports = [str(p.number) for p in gw.device.ports]
        for name, doc, counts in (
            ("ejoin_sms_sent", "SMS sent since start", act.sms_sent),
            ("ejoin_sms_failed", "SMS that failed since start", act.sms_failed),
            ("ejoin_sms_received", "SMS received since start", act.sms_received),
            (
                "ejoin_sms_received_raw",
                "Received messages kept as their raw PDU since start (undecodable; GET /ejoin/inbox/raw)",
                act.raw_received,
            ),
            (
                "ejoin_sms_confirmed",
                "SMS counted failed with an unknown outcome (interrupted, timed out, module lost) that a "
                "delivery report proved sent since start",
                act.sms_confirmed,
            ),
        ):
            family = CounterMetricFamily(name, doc, labels=["port"])
            for p in ports:
                family.add_metric([p], counts.get(int(p), 0))
            yield family
        reports = CounterMetricFamily(
            "ejoin_delivery_reports", "Delivery reports received since start", labels=["outcome"]
        )
        for outcome in ("delivered", "pending", "failed", "unknown"):
            reports.add_metric([outcome], act.delivery_reports.get(outcome, 0))
        yield reports
        unsent, oldest = act.queue()
        yield GaugeMetricFamily("ejoin_tasks_open", "Send tasks not finished", len(act.open))
        yield GaugeMetricFamily("ejoin_queue_unsent", "SMS waiting for a module over every open task", unsent)
        yield GaugeMetricFamily(
            "ejoin_queue_oldest_seconds", "How long the oldest task with SMS waiting has been open", oldest
        )
        yield GaugeMetricFamily("ejoin_sms_in_module", "SMS being sent right now", sum(gw.sending.in_module.values()))
        yield from DeviceCollector._commands(gw)
        yield GaugeMetricFamily(
            "ejoin_store_writable",
            "0 while the store refuses writes (a full or read-only disk): sending waits and retries",
            0 if gw.sending.store_fault.failing else 1,
        )

    @staticmethod
    def _commands(gw: Gateway) -> Iterator[Metric]:
        """AT command lines (modules that have one): counts, errors, timeouts, time to the final result."""
        stats = gw.driver.command_stats()
        if not stats:
            return
        commands = CounterMetricFamily("ejoin_at_commands", "AT commands sent to the module", labels=["port"])
        errors = CounterMetricFamily("ejoin_at_command_errors", "AT commands answered with an error", labels=["port"])
        timeouts = CounterMetricFamily("ejoin_at_command_timeouts", "AT commands never answered", labels=["port"])
        latency = SummaryMetricFamily(
            "ejoin_at_command_seconds", "Time to an AT command's final result", labels=["port"]
        )
        for port, st in sorted(stats.items()):
            label = [str(port)]
            commands.add_metric(label, st.commands)
            errors.add_metric(label, st.errors)
            timeouts.add_metric(label, st.timeouts)
            latency.add_metric(label, count_value=st.commands - st.timeouts, sum_value=st.seconds)
        yield from (commands, errors, timeouts, latency)

    @staticmethod
    def _pushes(gw: Gateway) -> Iterator[Metric]:
        yield from push_metrics(gw.activity, gw.outbox)


def push_metrics(activity: Activity, outbox: Outbox) -> Iterator[Metric]:
    """Push tries per destination (counted as they happen) and what waits or died (the outbox's memory):
    a gateway's, or a fleet's pushes to its platform."""
    attempts = CounterMetricFamily("ejoin_push_attempts", "Push deliveries tried", labels=["destination"])
    failures = CounterMetricFamily("ejoin_push_failures", "Push tries that failed", labels=["destination"])
    delivered = CounterMetricFamily("ejoin_push_delivered", "Pushes delivered (2xx)", labels=["destination"])
    last_error = GaugeMetricFamily(
        "ejoin_push_last_failure_time_seconds", "When a push to the destination last failed", labels=["destination"]
    )
    for dest, stats in activity.destinations.items():
        attempts.add_metric([dest], stats.attempts)
        failures.add_metric([dest], stats.failures)
        delivered.add_metric([dest], stats.delivered)
        last_error.add_metric([dest], stats.last_error_at)
    yield from (attempts, failures, delivered, last_error)
    queued = GaugeMetricFamily("ejoin_push_queued", "Pushes waiting to be delivered", labels=["destination"])
    dead = GaugeMetricFamily(
        "ejoin_push_dead", "Pushes in the dead-letter table (failed past the retry window)", labels=["destination"]
    )
    counts: dict[str, list[int]] = {}
    for d in outbox.destinations():
        c = counts.setdefault(activity.label(d.url), [0, 0])
        c[0] += d.queued
        c[1] += d.dead
    for label, (q, x) in counts.items():
        queued.add_metric([label], q)
        dead.add_metric([label], x)
    yield from (queued, dead)
    yield GaugeMetricFamily(
        "ejoin_push_busy_destinations",
        "Destinations with pushes waiting or being retried",
        outbox.busy_destinations,
    )


class HttpMetrics:
    """Requests answered (by route, method, status) and the time each took (by route)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._requests = Counter(
            "ejoin_http_requests", "HTTP requests answered", ["route", "method", "status"], registry=registry
        )
        self._seconds = Histogram(
            "ejoin_http_request_seconds",
            "Time to answer an HTTP request",
            ["route"],
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )
        # Each label set's child, found once: ``labels()`` costs more than the count (thousands a second).
        self._counts: dict[tuple[str, str, int], Counter] = {}
        self._times: dict[str, Histogram] = {}

    def answered(self, route: str, method: str, status: int, seconds: float | None) -> None:
        key = (route, method, status)
        count = self._counts.get(key)
        if count is None:
            count = self._counts[key] = self._requests.labels(route, method, str(status))
        count.inc()
        if seconds is not None:
            timing = self._times.get(route)
            if timing is None:
                timing = self._times[route] = self._seconds.labels(route)
            timing.observe(seconds)

    def count(self, request: web.Request, status: int, started: float) -> None:
        """``request`` answered with ``status``, ``started`` at that ``time.perf_counter()``."""
        resource = request.match_info.route.resource
        # The route's pattern, never the path: /dashboard/tasks/{id}, not one label per task.
        route = resource.canonical if resource is not None else "unmatched"
        method = request.method if len(request.method) <= 7 else "other"
        # an event stream lasts as long as the page is open: not timed
        self.answered(route, method, status, None if route == "/dashboard/events" else time.perf_counter() - started)


HTTP: web.AppKey[HttpMetrics] = web.AppKey("http_metrics", HttpMetrics)


def install(app: web.Application, collector: Collector, before: Callable[[], Awaitable[None]] | None = None) -> None:
    """``GET /metrics`` of what ``collector`` reads (a gateway's ``DeviceCollector``, a fleet's own), and
    the HTTP request counters; a registry of the app's own (several devices in one process do not mix).
    ``before``: awaited at each scrape before the collector runs (a fleet reads its ledger's figures,
    which a collector, called without an event loop's turn, cannot)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    app[REGISTRY] = registry
    if before is not None:
        app[BEFORE_SCRAPE] = before
    app[HTTP] = app[LAYERS].metrics = HttpMetrics(registry)  # each request counted: web/layers.py
    mount(app, [Route(METRICS, metrics)])


def _basic_auth(request: web.Request) -> tuple[str | None, str | None]:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("basic "):
        return None, None
    try:
        user, _, password = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8").partition(":")
    except ValueError:  # not base64 (binascii.Error), not ASCII, not UTF-8 (UnicodeDecodeError): all ValueErrors
        return None, None
    return user, password


async def metrics(request: web.Request) -> web.Response:
    """Prometheus scrapes with HTTP basic auth, or with username/password as query parameters."""
    gw = request.app[DEVICE]  # the credentials; the figures come from the collector
    user, password = _basic_auth(request)
    if user is None:
        user, password = request.query.get("username"), request.query.get("password")
    remote = request.remote or "unknown"
    if not credentials_ok(gw, user, password):
        await slow_down(gw, ApiRequest(request, b""), "wrong credentials")
        refusal = error_response(
            ResultCode.INVALID_USER,
            "metrics need the device credentials (HTTP basic auth or ?username=&password=)",
            401,
        )
        refusal.headers["WWW-Authenticate"] = 'Basic realm="ejoin"'
        return refusal
    gw.guard.succeeded(remote)
    before = request.app.get(BEFORE_SCRAPE)
    if before is not None:
        await before()
    body = generate_latest(request.app[REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
