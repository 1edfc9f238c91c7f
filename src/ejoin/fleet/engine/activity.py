"""What went through this fleet process since it started, in memory, for the dashboard.

SMS outcomes the fleet applied (members' reports, refusals, removals) and SMS it took in, per minute
over the last hour and 24 hours of failure reasons; each fleet port they concern is told to the
listeners (the dashboard's live rows).  Fed where the work is recorded (``ReportMerger``,
``InboundPushes``); read by the fleet's board.  With replicas each one counts what went through it:
a member's report lands on any of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ...clock import Clock

KEEP_MINUTES = 24 * 60


def _port(name: Any) -> int:
    digits = str(name).split(".", 1)[0]
    return int(digits) if digits.isdigit() else 0


class FleetActivity:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.started = clock.time()
        self.per_minute: dict[int, list[int]] = {}  # minute -> [sent, failed, received]
        self.failures: dict[int, dict[str, int]] = {}  # minute -> reason -> SMS
        self.listeners: list[Callable[[int], None]] = []  # told the fleet port of each outcome and SMS taken in

    def _minute(self) -> list[int]:
        minute = int(self._clock.time() // 60)
        counts = self.per_minute.get(minute)
        if counts is None:
            counts = self.per_minute[minute] = [0, 0, 0]
            for old in [m for m in self.per_minute if m < minute - KEEP_MINUTES]:
                del self.per_minute[old]
                self.failures.pop(old, None)
        return counts

    def outcomes(self, rows: Iterable[list[Any]]) -> None:
        """Report rows applied: ``[idx, number, port, ts]`` sent, ``[..., reason, detail]`` failed."""
        counts = self._minute()
        minute = int(self._clock.time() // 60)
        ports = set()
        for row in rows:
            if len(row) > 4:
                counts[1] += 1
                # the carrier's words where the member gave them (detail), else its status
                reason = str(row[5] if len(row) > 5 and row[5] else row[4])
                by_reason = self.failures.setdefault(minute, {})
                by_reason[reason] = by_reason.get(reason, 0) + 1
            else:
                counts[0] += 1
            ports.add(_port(row[2]) if len(row) > 2 else 0)
        self._tell(ports)

    def received(self, rows: Iterable[list[Any]]) -> None:
        """Inbox rows new to the fleet: ``[flag, port, ts, sender, recipient, content]``."""
        counts = self._minute()
        ports = set()
        for row in rows:
            if row and row[0] == 0:  # an SMS (1: a delivery report)
                counts[2] += 1
            ports.add(_port(row[1]) if len(row) > 1 else 0)
        self._tell(ports)

    def _tell(self, ports: set[int]) -> None:
        for port in sorted(ports - {0}):
            for listener in self.listeners:
                listener(port)

    def failures_since(self, minute: int) -> dict[str, int]:
        """Failed SMS per reason since ``minute``, most frequent first."""
        total: dict[str, int] = {}
        for m, reasons in self.failures.items():
            if m >= minute:
                for reason, n in reasons.items():
                    total[reason] = total.get(reason, 0) + n
        return dict(sorted(total.items(), key=lambda kv: (-kv[1], kv[0])))
