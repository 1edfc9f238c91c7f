"""Templates, and the plain views of device state that they show."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import jinja2
from aiohttp import web

from ... import __version__
from ...gateway.activity import TaskSummary
from ...gateway.device import Port, Slot
from ...gateway.runtime import Gateway
from ...gateway.status import balance_text
from ...protocol.codes import PortState

ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("ejoin.web.dashboard", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters["when"] = lambda ts: dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else ""
ENV.globals["version"] = __version__


def render(name: str, status: int = 200, **context: Any) -> web.Response:
    html = ENV.get_template(name).render(**context)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def fragment(name: str, **context: Any) -> str:
    return ENV.get_template(name).render(**context)


def signal_bars(signal: int) -> int:
    """0-4 bars from the 0-31 signal (99: unknown), as phones show it."""
    if signal <= 0 or signal >= 99:
        return 0
    return min(4, 1 + signal // 8)


@dataclass
class SlotView:
    name: str
    number: int
    state: int
    state_text: str
    active: bool
    present: bool
    locked: bool
    iccid: str
    imsi: str
    sim_number: str
    operator: str
    balance: str


@dataclass
class PortView:
    number: int
    active_slot: int
    state: int
    state_text: str
    ok: bool
    signal: int
    bars: int
    led: bool
    driver: str
    sent_today: int
    failed_today: int
    slots: list[SlotView]
    paused: str = ""  # why the port takes no SMS for now (its sends failed in a row), or ""


def driver_name(gw: Gateway) -> str:
    return gw.config.modems  # the registry name of the driver


def slot_view(slot: Slot, active: bool) -> SlotView:
    rec = slot.record
    registered = slot.state in (PortState.REGISTERED, PortState.CALL_CONNECTED)
    return SlotView(
        name=slot.name,
        number=rec.slot,
        state=int(slot.state),
        state_text=slot.state.text,
        active=active,
        present=rec.present,
        locked=rec.locked,
        iccid=rec.iccid,
        imsi=rec.imsi,
        sim_number=rec.number,
        operator=rec.operator if registered else "",
        balance=balance_text(rec.balance),
    )


def port_view(gw: Gateway, port: Port, today: dict[tuple[int, int], dict[str, int]]) -> PortView:
    active = port.active
    signal = gw.device.signal(port.number)
    sent = sum(today.get((port.number, s.record.slot), {}).get("sent_ok", 0) for s in port.slots)
    failed = sum(today.get((port.number, s.record.slot), {}).get("sent_failed", 0) for s in port.slots)
    pause = gw.sending.pauses().get(port.number)
    paused = ""
    if pause is not None and pause.left:
        paused = (
            f"sending paused: {pause.failures} failed in a row ({pause.reason}); next try in {round(pause.left, 1):g} s"
        )
    return PortView(
        number=port.number,
        active_slot=port.record.active_slot,
        state=int(active.state),
        state_text=active.state.text,
        ok=active.state.can_send,
        signal=signal,
        bars=signal_bars(signal),
        led=port.record.led,
        driver=driver_name(gw),
        sent_today=sent,
        failed_today=failed,
        slots=[slot_view(s, s is active) for s in port.slots],
        paused=paused,
    )


async def today_counts(gw: Gateway) -> dict[tuple[int, int], dict[str, int]]:
    """SMS counted per slot since local midnight (the statistics API's type 2 window)."""
    return await gw.store.sms_counts(gw.statistics.since_minute(2))


class TaskRow:
    """A task summary with what the templates compute from it."""

    def __init__(self, summary: TaskSummary) -> None:
        self.s = summary

    def __getattr__(self, name: str) -> Any:
        return getattr(self.s, name)

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


def all_tasks(gw: Gateway) -> list[TaskRow]:
    return [TaskRow(s) for s in gw.activity.tasks()]
