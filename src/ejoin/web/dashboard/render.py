"""Templates, and the plain views of device state that they show."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import jinja2
from aiohttp import web

from ... import __version__
from ...gateway.device import Port, Slot
from ...gateway.runtime import Gateway
from ...gateway.sending import PAUSED, QUEUED, REMOVED, Task
from ...modems.simulated import SimulatedModems
from ...protocol.codes import PortState

ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("ejoin.web.dashboard", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters["when"] = lambda ts: dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else ""
ENV.globals["version"] = __version__

TASK_STATES = {QUEUED: "queued", PAUSED: "paused", REMOVED: "removed"}


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


def driver_name(gw: Gateway) -> str:
    return "simulated" if isinstance(gw.driver, SimulatedModems) else type(gw.driver).__name__


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
        balance=f"{rec.balance:.2f}",
    )


def port_view(gw: Gateway, port: Port, today: dict[tuple[int, int], dict[str, int]]) -> PortView:
    active = port.active
    signal = gw.device.signal(port.number)
    sent = sum(today.get((port.number, s.record.slot), {}).get("sent_ok", 0) for s in port.slots)
    failed = sum(today.get((port.number, s.record.slot), {}).get("sent_failed", 0) for s in port.slots)
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
    )


async def today_counts(gw: Gateway) -> dict[tuple[int, int], dict[str, int]]:
    """SMS counted per slot since local midnight (the statistics API's type 2 window)."""
    return await gw.store.sms_counts(gw.statistics.since_minute(2))


@dataclass
class TaskView:
    id: int
    tid: Any
    ports: str
    total: int
    sent: int
    failed: int
    sending: int
    unsent: int
    state: str
    text: str

    @property
    def sent_pct(self) -> float:
        return 100.0 * self.sent / self.total if self.total else 0.0

    @property
    def failed_pct(self) -> float:
        return 100.0 * self.failed / self.total if self.total else 0.0

    @property
    def can_pause(self) -> bool:
        return self.state == "queued"

    @property
    def can_resume(self) -> bool:
        return self.state == "paused"

    @property
    def can_remove(self) -> bool:
        return self.state in ("queued", "paused")


def task_view(task: Task) -> TaskView:
    ports = sorted({name for lane in task.lanes for name in lane.spec.ports})
    state = TASK_STATES.get(task.state, "finished")
    return TaskView(
        id=task.id,
        tid=task.spec.tid_echo,
        ports=",".join(ports) or "any",
        total=task.total,
        sent=task.sent,
        failed=task.failed,
        sending=task.sending,
        unsent=task.unsent,
        state=state,
        text=task.spec.text[:80],
    )


def all_tasks(gw: Gateway) -> list[TaskView]:
    """Open tasks and the most recently finished ones, newest first."""
    tasks = {**gw.activity.recent, **gw.activity.open}
    return [task_view(t) for _, t in sorted(tasks.items(), reverse=True)]
