"""A port whose module fails its sends in a row pauses, longer each time: its recipients go to the others.

A module that fails every SMS at once (a network out of order, a SIM that is
busy, a module half gone) would otherwise take recipients as fast as it can
fail them, hundreds a second, while healthy ports send a few: most of a task
would fail on it.  What counts is a failure of the module or its network: no
answer in time, a module error, a refusal the network gives whatever the
recipient.  A refusal of one recipient (an unassigned or unknown number) says
nothing about the module, and neither counts nor clears the run; a sent SMS
clears it.

From the ``AFTER``-th failure in a row the port takes no SMS for ``FIRST``
seconds, doubling at each further failure up to ``CAP``: a failing port tries
one recipient per pause, never faster than a healthy port sends.  A new card
in the port (a switch, the module back or registered anew) starts it afresh.
"""

from __future__ import annotations

from dataclasses import dataclass

AFTER = 2  # failures in a row before the first pause (one failure alone is the network's bad moment)
FIRST = 1.0  # seconds of the first pause
CAP = 60.0  # the longest pause


@dataclass(frozen=True)
class Pause:
    """A port's run of failures, as status, metrics and the dashboard show it."""

    failures: int  # module failures in a row
    left: float  # seconds before the port takes an SMS again (0: it sends)
    reason: str  # the last failure's


class PortBackoff:
    def __init__(self) -> None:
        self.failures = 0
        self.until: float | None = None
        self.reason = ""

    def failed(self, now: float, reason: str) -> float | None:
        """A failure of the module: the pause it starts (seconds), or None if the port goes on at once."""
        self.failures += 1
        self.reason = reason
        if self.failures < AFTER:
            return None
        pause = min(CAP, FIRST * 2 ** (self.failures - AFTER))
        self.until = now + pause
        return pause

    def sent(self) -> int:
        """The module sent one: the run is over; how many failures it had."""
        had, self.failures, self.until, self.reason = self.failures, 0, None, ""
        return had

    def paused(self, now: float) -> bool:
        return self.until is not None and now < self.until

    def view(self, now: float) -> Pause:
        left = self.until - now if self.until is not None and self.paused(now) else 0.0
        return Pause(self.failures, left, self.reason)
