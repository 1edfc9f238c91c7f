"""Device status: what goip_get_status answers, and the pushes of spec 4.

Port-status is pushed for every change of a slot, dev-status every
``status_period`` seconds (and once when a URL is given), both through the
durable outbox.
"""

from __future__ import annotations

import asyncio
import logging

from ..clock import Clock, Timer
from ..protocol.codes import PortState
from ..protocol.messages import DevStatus, PortStatusEntry, PortStatusPush, encode
from .device import Device, Slot
from .outbox import Outbox
from .settings import DeviceSettings

log = logging.getLogger(__name__)

MIN_PERIOD = 60


def balance_text(balance: float | None) -> str:
    """``bal`` as the spec's samples write it ("12.30"); "" while nobody has read it (docs/decisions.md)."""
    return "" if balance is None else f"{balance:.2f}"


def status_entry(device: Device, slot: Slot) -> PortStatusEntry:
    rec = slot.record
    port = device.port(rec.port)
    active = port.record.active_slot == rec.slot
    registered = slot.state in (PortState.REGISTERED, PortState.CALL_CONNECTED)
    return PortStatusEntry(
        port=slot.name,
        sim="",
        seq=rec.seq,
        st=int(slot.state),
        status=slot.state.label,
        imei=rec.imei,
        iccid=rec.iccid,
        imsi=rec.imsi,
        sn=rec.number,
        opr=rec.operator if registered else "",
        bal=balance_text(rec.balance),
        sig=device.signal(rec.port) if active else 0,
        active=int(active),
        inserted=int(rec.present),
        slot_active=int(not rec.locked),
        led=int(port.record.led),
    )


class StatusReporter:
    def __init__(self, device: Device, settings: DeviceSettings, outbox: Outbox, clock: Clock) -> None:
        self._device = device
        self._settings = settings
        self._outbox = outbox
        self._clock = clock
        self._seq = 0
        self._timer: Timer | None = None

    def start(self) -> None:
        self._device.add_listener(self._on_slot_change)
        self._schedule()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def dev_status(self, *, all_sims: bool = False, all_slots: bool = False) -> DevStatus:
        device = self._device
        if all_slots:
            slots = list(device.slots())
        elif all_sims:
            slots = [s for s in device.slots() if s.present]
        else:
            slots = [p.active for p in device.ports]
        self._seq += 1
        ident = device.identity
        return DevStatus(
            type="dev-status",
            seq=self._seq,
            expires=self._settings["status_period"],
            mac=ident.mac,
            ip=ident.ip,
            ver=ident.sw_ver,
            max_ports=device.size.ports,
            max_slot=device.size.slots,
            max_slots=device.size.slots,
            status=[status_entry(device, s) for s in slots],
        )

    def configure(self, url: str | None = None, period: int | None = None) -> asyncio.Future[None]:
        """Set the push URL and/or period; a given URL gets a dev-status at once."""
        changes: dict[str, object] = {}
        if url is not None:
            changes["status_url"] = url
        if period is not None:
            changes["status_period"] = 0 if period <= 0 else max(MIN_PERIOD, period)
        saved = self._settings.update(**changes)
        self._schedule()
        if url:
            self._push_dev_status()
        return saved

    def _schedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        period = self._settings["status_period"]
        if period > 0 and self._settings["status_url"]:
            self._timer = self._clock.call_later(period, self._tick)

    def _tick(self) -> None:
        self._timer = None
        self._push_dev_status()
        self._schedule()

    def _push_dev_status(self) -> None:
        url = self._settings["status_url"]
        if url:
            self._outbox.push(url, "dev-status", encode(self.dev_status()))

    def _on_slot_change(self, slot: Slot) -> None:
        url = self._settings["status_url"]
        if not url:
            return
        entry = status_entry(self._device, slot)
        self._outbox.push(url, "port-status", encode(PortStatusPush.of(entry)))
