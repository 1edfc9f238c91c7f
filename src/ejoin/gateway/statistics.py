"""SMS and call statistics (spec 9, 10) over time windows of per-minute buckets.

Windows are whole minutes (DECISIONS.md "Statistics"): type 0 is the current
minute and the 59 before it, type 1 the current and 119 before, type 2 from
local midnight, type 3 everything since the statistics were created (a running
total, so it costs the same whatever the history).  A query reads at most the
buckets of its window, whatever the traffic was.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from ..clock import Clock
from ..protocol.answers import CallStat, SmsStat
from ..store.base import StatsStore
from .device import Device
from .sending.engine import SendEngine

KEEP_MINUTES = 3 * 24 * 60  # buckets older than this are pruned (today never needs more than 24 h)


class Statistics:
    def __init__(
        self, device: Device, store: StatsStore, clock: Clock, sending: SendEngine, timezone: str = ""
    ) -> None:
        self._device = device
        self._store = store
        self._clock = clock
        self._sending = sending
        self._tz = ZoneInfo(timezone) if timezone else None

    def since_minute(self, kind: int) -> int | None:
        now = self._clock.time()
        minute = int(now // 60)
        if kind == 0:
            return minute - 59
        if kind == 1:
            return minute - 119
        if kind == 2:
            local = (
                dt.datetime.fromtimestamp(now, self._tz) if self._tz else dt.datetime.fromtimestamp(now).astimezone()
            )
            midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
            return int(midnight.timestamp() // 60)
        return None

    def selection(self, ports: list[int] | None, slots: list[int] | None, current: bool) -> list[tuple[int, int]]:
        size = self._device.size
        out = []
        for p in ports or range(1, size.ports + 1):
            if current:
                out.append((p, self._device.port(p).record.active_slot))
            else:
                out.extend((p, s) for s in (slots or range(1, size.slots + 1)))
        return out

    async def sms(self, keys: list[tuple[int, int]], kind: int) -> list[SmsStat]:
        counts = await self._store.sms_counts(self.since_minute(kind))
        waiting = self._sending.unsent_by_slot()
        out = []
        for port, slot in keys:
            c = counts.get((port, slot), {})
            ok, failed = c.get("sent_ok", 0), c.get("sent_failed", 0)
            out.append(
                SmsStat(
                    port=port,
                    slot=slot,
                    received=c.get("received", 0),
                    sent=ok + failed,
                    sent_ok=ok,
                    sent_failed=failed,
                    con_failed=self._sending.con_failed.get((port, slot), 0),
                    unsent=waiting.get((port, slot), 0),
                    sending=self._sending.in_module.get((port, slot), 0),
                )
            )
        return out

    async def calls(self, keys: list[tuple[int, int]], kind: int) -> list[CallStat]:
        counts = await self._store.call_counts(self.since_minute(kind))
        out = []
        for port, slot in keys:
            c = counts.get((port, slot), {})
            calls, connected = int(c.get("calls", 0)), int(c.get("connected", 0))
            duration = int(c.get("duration", 0))
            out.append(
                CallStat(
                    port=port,
                    slot=slot,
                    calls=calls,
                    alerted=int(c.get("alerted", 0)),
                    connected=connected,
                    con_failed=int(c.get("failed", 0)),
                    nc=f"{connected}/{calls}",
                    pdd=round(c.get("pdd_sum", 0) / calls) if calls else 0,
                    acd=round(duration / connected) if connected else 0,
                    asr=round(100 * connected / calls) if calls else 0,
                    tcd=int(c.get("billed", 0)),
                    act_tcd=duration,
                )
            )
        return out

    def prune(self) -> None:
        self._store.stats_prune(int(self._clock.time() // 60) - KEEP_MINUTES)
