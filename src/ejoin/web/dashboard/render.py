"""Templates, and what they compute from the board's views (task states as shown, the chart's geometry)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import jinja2
from aiohttp import web

from ... import __version__
from ...gateway.activity import TaskSummary
from .board import STATE_CLASSES, Minute

ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("ejoin.web.dashboard", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else ""


def _clock(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%H:%M")


def _age(seconds: float | None) -> str:
    """How long, as a person says it: 45 s, 12 min, 3 h 5 min."""
    if seconds is None:
        return ""
    s = int(seconds)
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min"


ENV.filters["when"] = _when
ENV.filters["clock"] = _clock
ENV.filters["age"] = _age
ENV.filters["thousands"] = lambda n: f"{n:,}"
ENV.globals["version"] = __version__
ENV.globals["state_classes"] = STATE_CLASSES


def render(name: str, status: int = 200, **context: Any) -> web.Response:
    html = ENV.get_template(name).render(**context)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def fragment(name: str, **context: Any) -> str:
    return ENV.get_template(name).render(**context)


class TaskRow:
    """A task summary with what the templates compute from it."""

    def __init__(self, summary: TaskSummary) -> None:
        self.s = summary

    def __getattr__(self, name: str) -> Any:
        return getattr(self.s, name)

    @property
    def shown_state(self) -> str:
        """A queued task shows "sending" once it has SMS in a module or done; "queued" is one not started."""
        if self.s.state == "queued" and (self.s.sending or self.s.sent or self.s.failed):
            return "sending"
        return self.s.state

    def _pct(self, n: int) -> float:
        return 100.0 * n / self.s.total if self.s.total else 0.0

    @property
    def sent_pct(self) -> float:
        return self._pct(self.s.sent)

    @property
    def failed_pct(self) -> float:
        return self._pct(self.s.failed)

    @property
    def can_pause(self) -> bool:
        return self.s.state == "queued"

    @property
    def can_resume(self) -> bool:
        return self.s.state == "paused"

    @property
    def can_remove(self) -> bool:
        return self.s.state in ("queued", "paused")


def task_rows(summaries: list[TaskSummary]) -> list[TaskRow]:
    return [TaskRow(s) for s in summaries]


# --- the overview's chart: SMS per minute, drawn as SVG on the server ---------------------

CHART_W, CHART_H = 720, 180
LEFT, RIGHT, TOP, BOTTOM = 40, 8, 10, 22  # margins for the axis labels


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    sent_y: float
    sent_h: float
    failed_y: float
    failed_h: float
    minute: Minute


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    top: int
    bottom: float  # y of the zero line
    slot: float  # width of one minute
    scale_max: int
    gridlines: tuple[tuple[float, int], ...]  # (y, value)
    ticks: tuple[tuple[float, str], ...]  # (x, label) under the axis
    bars: tuple[Bar, ...]
    received: str  # the polyline's points
    totals: tuple[int, int, int]  # sent, failed, received over the hour
    busiest: Minute | None


def nice_ceiling(n: int) -> int:
    """The smallest of 10, 20, 50, 100, 200, 500, ... at least ``n``: round numbers on the axis
    (and at its middle)."""
    scale = 10
    while True:
        for base in (1, 2, 5):
            if base * scale >= n:
                return base * scale
        scale *= 10


def chart(minutes: tuple[Minute, ...]) -> Chart:
    plot_w, plot_h = CHART_W - LEFT - RIGHT, CHART_H - TOP - BOTTOM
    slot = plot_w / max(1, len(minutes))
    peak = max([m.sent + m.failed for m in minutes] + [m.received for m in minutes] + [1])
    top = nice_ceiling(peak)
    zero = TOP + plot_h

    def y(value: int) -> float:
        return zero - plot_h * value / top

    bars = []
    points = []
    for i, m in enumerate(minutes):
        x = LEFT + i * slot
        sent_h, failed_h = plot_h * m.sent / top, plot_h * m.failed / top
        bars.append(Bar(x + slot * 0.15, slot * 0.7, zero - sent_h, sent_h, zero - sent_h - failed_h, failed_h, m))
        points.append(f"{x + slot / 2:.1f},{y(m.received):.1f}")
    n = len(minutes)
    ticks = tuple(
        (LEFT + (n - 1 - ago) * slot + slot / 2, "now" if ago == 0 else f"−{ago} min")
        for ago in (45, 30, 15, 0)
        if ago < n
    )
    totals = (sum(m.sent for m in minutes), sum(m.failed for m in minutes), sum(m.received for m in minutes))
    busiest = max(minutes, key=lambda m: m.sent + m.failed, default=None)
    return Chart(
        width=CHART_W,
        height=CHART_H,
        left=LEFT,
        top=TOP,
        bottom=zero,
        slot=slot,
        scale_max=top,
        gridlines=tuple((y(v), v) for v in (0, top // 2, top)),
        ticks=ticks,
        bars=tuple(bars),
        received=" ".join(points),
        totals=totals,
        busiest=busiest if busiest is not None and busiest.sent + busiest.failed else None,
    )
