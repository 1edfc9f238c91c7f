"""SMS of unknown outcome that a delivery report may still prove sent.

An SMS interrupted by a restart, timed out, or taken by a module that then went
away is reported failed (fdr ``6``, ``7`` or ``9``), but it may have left.  When
its task asked for delivery reports, the network's report is the proof: the SMS
was sent after all.  Nobody saw the message reference of such an SMS, so a
report that pairs with no SMS the device saw sent is matched by the port that
had it and the recipient, oldest first.  Kept in memory, rebuilt from the store
at every start, at most ``MAX`` of them (the oldest are forgotten).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

MAX = 100_000


@dataclass(slots=True)
class Unconfirmed:
    task_id: int
    lane: int
    idx: int
    number: str  # as the task gave it
    slot: str  # the name of the slot whose module had it
    ts: int  # when it was counted failed
    parts: int  # delivery reports to expect, one per part
    taken: bool = False


def _digits(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())


def _port_of(slot: str) -> int:
    head = slot.split(".", 1)[0]
    digits = ""
    for ch in head:
        if not ch.isdigit():
            break
        digits += ch
    return int(digits) if digits else 0


class UnconfirmedSms:
    def __init__(self, most: int = MAX) -> None:
        self._most = most
        self._by_recipient: dict[tuple[int, str], deque[Unconfirmed]] = {}
        self._order: deque[Unconfirmed] = deque()  # oldest first, to forget

    def add(self, sms: Unconfirmed) -> None:
        key = (_port_of(sms.slot), _digits(sms.number))
        self._by_recipient.setdefault(key, deque()).append(sms)
        self._order.append(sms)
        while len(self._order) > self._most:
            old = self._order.popleft()
            if not old.taken:
                self._drop(old)

    def take(self, port: int, recipient: str) -> Unconfirmed | None:
        """The oldest SMS of unknown outcome that ``port`` had for ``recipient``; no longer kept."""
        key = (port, _digits(recipient))
        waiting = self._by_recipient.get(key)
        if not waiting:
            return None
        sms = waiting.popleft()
        if not waiting:
            del self._by_recipient[key]
        sms.taken = True
        return sms

    def _drop(self, sms: Unconfirmed) -> None:
        key = (_port_of(sms.slot), _digits(sms.number))
        waiting = self._by_recipient.get(key)
        if waiting is None:
            return
        try:
            waiting.remove(sms)
        except ValueError:
            return
        if not waiting:
            del self._by_recipient[key]
