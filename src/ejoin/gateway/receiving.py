"""Receiving (spec 7, 8): the inbox, concatenated SMS, recv-sms pushes.

An SMS is acknowledged to the network once it is in the store; pushes to
``sms_url`` wait in a cache flushed at ``sms_cnt`` SMS or ``sms_prd`` seconds
(every SMS at once when ``sms_cnt`` <= 1), and a flush marks its SMS as pushed
in the same commit that queues it in the outbox — so after a crash exactly the
unpushed ones are pushed.  Parts of a long SMS are kept on disk until the last
one arrives, or ``concat_timeout`` passes: then what arrived is delivered,
marked incomplete.

Delivery reports name the port, the message reference (TP-MR) of a part and
the recipient; the device pairs them with the SMS it sent by those three, so
a report is stored under the slot that sent the SMS (even after a switch) and
once per SMS, when every part has been reported.  A report that pairs with no
SMS seen sent may prove an SMS of unknown outcome sent (interrupted by a
restart, timed out, its module lost): the send engine corrects it
(``confirm``).  A report read twice (a module read again before its copy was
deleted) is kept once, by what it is.

A message a module received that is neither (a PDU that cannot be decoded, an
outgoing message found in the module's storage) is kept raw: its hex, the
slot, the time and why (``/ejoin/inbox/raw``), so that the module may delete it
and nothing received is lost.  Raw messages are not pushed: the spec's rows
have no place for them.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from ..clock import Clock, Timer
from ..logs import ThrottledLog
from ..protocol.messages import encode
from ..protocol.ports import PortAddress
from ..store.base import InboxRecord, InboxStore, PartRecord, PushMarks, RawRecord
from .device import Device
from .outbox import Outbox
from .settings import DeviceSettings

log = logging.getLogger(__name__)
# A line per message for the person watching (never the text), throttled at high rates.
_received = ThrottledLog(log, "received SMS and report")

SMS, DELIVERY_REPORT = 0, 1


class RecvSms(msgspec.Struct):
    type: str
    sms_num: int
    sms: list[list[Any]]


def row_of(rec: InboxRecord, mark_incomplete: bool = False) -> list[Any]:
    """``[flag, port, ts, sender, recipient, content]``; with ``mark_incomplete`` (the device setting
    ``sms_incomplete_mark``) an incomplete SMS adds ``"2/3"``: strict six-element parsers break on it."""
    row: list[Any] = [rec.flag, rec.port, rec.ts, rec.sender, rec.recipient, rec.content]
    if rec.incomplete and mark_incomplete:
        row.append(rec.incomplete)
    return row


def scts(ts: float) -> str:
    """The service centre time stamp as modems print it: ``yy/MM/dd,hh:mm:ss+zz`` (UTC)."""
    return time.strftime("%y/%m/%d,%H:%M:%S+00", time.gmtime(ts))


@dataclass
class _Sent:
    """An SMS sent with a delivery report asked for: its reports still to come."""

    slot: str  # the name of the slot that sent it
    recipient: str  # as the task gave it
    waiting: set[int]  # refs of its parts not reported yet
    status: int = 0  # the first failure of its parts, or 0
    unnamed: int = 0  # reports still to come whose refs nobody knows (an SMS proven sent by a report)


MAX_AWAITED = 100_000  # SMS awaiting reports that are remembered; the oldest are forgotten
MAX_SEEN = 100_000  # delivery reports remembered to keep a copy read again once (a hash each)
RECENT_REPORTS = 1_000  # reports stored before a start that a copy read again after it is checked against


def _done() -> asyncio.Future[None]:
    """What completes at once: the device has the report (in memory, or stored before)."""
    fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    fut.set_result(None)
    return fut


def _digits(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())


def _port_of(slot: str) -> int:
    """3 from "3.01"."""
    head = slot.split(".", 1)[0]
    return int(head) if head.isdigit() else 0


@dataclass
class _Waiting:
    total: int
    parts: dict[int, str] = field(default_factory=dict)
    ts: float = 0.0
    timer: Timer | None = None


class Inbox:
    def __init__(
        self,
        device: Device,
        store: InboxStore,
        clock: Clock,
        outbox: Outbox,
        settings: DeviceSettings,
        concat_timeout: float,
    ) -> None:
        self._device = device
        self._store = store
        self._clock = clock
        self._outbox = outbox
        self._settings = settings
        self._concat_timeout = concat_timeout
        self._waiting: dict[tuple[str, str, int], _Waiting] = {}
        self._cache: list[InboxRecord] = []
        self._cache_timer: Timer | None = None
        self._awaited: OrderedDict[tuple[int, int, str], _Sent] = OrderedDict()  # (port, ref, digits)
        # (port, digits): the rest of the reports of an SMS of unknown outcome that a report proved sent
        self._late: OrderedDict[tuple[int, str], _Sent] = OrderedDict()
        self.received = 0
        self.observers: list[Callable[[InboxRecord], None]] = []  # told of every SMS or report stored
        self.raw_observers: list[Callable[[RawRecord], None]] = []  # told of every raw message stored
        # A report that pairs with no SMS seen sent is offered here (port, recipient): the send engine
        # answers for an SMS of unknown outcome it proves sent (the slot that had it, its recipient as
        # given, its parts), or None.
        self.confirm: Callable[[int, str], tuple[str, str, int] | None] | None = None
        # Each report handled (a hash of port, ref, recipient, status, service centre time) and what
        # completes once the device has it: a module read again before its copy was deleted gives the
        # same report twice.
        self._reports_seen: OrderedDict[int, Any] = OrderedDict()
        # (port, recipient digits, content) of the last reports stored before this start: a module may
        # hold one still that it is read again (a crash between storing it and deleting it there).
        self._stored_before: set[tuple[int, str, str]] = set()

    # --- life cycle --------------------------------------------------------

    async def recover(self) -> None:
        for rec in await self._store.inbox_recent_reports(RECENT_REPORTS):
            self._stored_before.add((_port_of(rec.port), _digits(rec.recipient), rec.content))
        for part in await self._store.parts_waiting():
            self._hold(part)
        unpushed = await self._store.inbox_unpushed()
        if unpushed:
            log.info("%d received SMS were not pushed yet; pushing them", len(unpushed))
            for rec in unpushed:
                self._to_push(rec)

    def stop(self) -> None:
        for w in self._waiting.values():
            if w.timer is not None:
                w.timer.cancel()
        if self._cache_timer is not None:
            self._cache_timer.cancel()
            self._cache_timer = None

    # --- what the modules report ----------------------------------------------

    def sms_part(self, slot: PortAddress, sender: str, text: str, ts: float, ref: int, total: int, seq: int) -> Any:
        """Store a part (or a whole SMS); returns the store future of the part, or of the SMS it completed
        (its ids, as ``deliver``'s)."""
        if total <= 1:
            return self.deliver(self.make_sms(slot, sender, text, ts))
        stored, whole = self.add_part(slot, sender, text, ts, ref, total, seq)
        return stored if whole is None else whole

    def make_sms(self, slot: PortAddress, sender: str, text: str, ts: float) -> InboxRecord:
        return self._sms(self._device.slot(slot).name, sender, text, ts)

    def add_part(
        self, slot: PortAddress, sender: str, text: str, ts: float, ref: int, total: int, seq: int
    ) -> tuple[Any, Any | None]:
        """Keep a part (on disk) until its SMS is whole.

        Returns the part's store future, and the whole SMS's (``deliver``) if this part completed it."""
        part = PartRecord(self._device.slot(slot).name, sender, ref, total, seq, text, ts)
        fut = self._store.part_add(part)
        return fut, self._hold(part)

    def expect_reports(self, port: int, slot: str, recipient: str, refs: tuple[int, ...]) -> None:
        """``slot`` (of ``port``) sent an SMS to ``recipient`` as parts ``refs``, asking for delivery reports."""
        if not refs:
            return
        sent = _Sent(slot, recipient, set(refs))
        for ref in refs:
            key = (port, ref, _digits(recipient))
            self._awaited.pop(key, None)  # a reference used again: the older SMS's report is not coming
            self._awaited[key] = sent
        while len(self._awaited) > MAX_AWAITED:
            self._awaited.popitem(last=False)

    def delivery_report(
        self, port: int, ref: int, recipient: str, status: int, ts: float, smsc: str, smsc_ts: float | None = None
    ) -> Any:
        """Store the report (or keep it in mind until every part of its SMS is reported); returns what
        completes once the device has it.  A report read twice is kept once."""
        when = ts if smsc_ts is None else smsc_ts
        seen = hash((port, ref, _digits(recipient), status, int(when)))
        taken = self._reports_seen.get(seen)
        if taken is not None:
            _received.info("port %d: the delivery report for %s came again; kept once", port, recipient)
            return taken  # the first copy's: once it is stored, this one may go too
        taken = self._report(port, ref, recipient, status, ts, smsc, when)
        self._reports_seen[seen] = taken
        while len(self._reports_seen) > MAX_SEEN:
            self._reports_seen.popitem(last=False)
        return taken

    def _report(self, port: int, ref: int, recipient: str, status: int, ts: float, smsc: str, when: float) -> Any:
        sent = self._paired(port, ref, recipient)
        if sent is None:  # not ours, or forgotten: stored under the port's active slot as it came
            slot, number = self._device.port(port).active.name, recipient
        else:
            sent.status = sent.status or status
            if sent.waiting or sent.unnamed:
                # One report per SMS, once all its parts are reported: this part's status is in the
                # pairing (in memory, as the pairing itself is), nothing to store yet.
                return _done()
            slot, number, status = sent.slot, sent.recipient, sent.status
        content = f"{status} {scts(when)}"
        if (port, _digits(number), content) in self._stored_before:
            _received.info("port %d: the delivery report for %s was stored before the restart; kept once", port, number)
            return _done()
        return self.deliver(InboxRecord(DELIVERY_REPORT, slot, int(ts), smsc, number, content))

    def _paired(self, port: int, ref: int, recipient: str) -> _Sent | None:
        """The SMS this report (of one part) is about, with this part counted as reported."""
        digits = _digits(recipient)
        sent = self._awaited.pop((port, ref, digits), None)
        if sent is not None:
            sent.waiting.discard(ref)
            return sent
        sent = self._late.get((port, digits))
        if sent is not None:  # another part of an SMS proven sent by an earlier report
            sent.unnamed -= 1
            if sent.unnamed <= 0:
                del self._late[(port, digits)]
            return sent
        found = self.confirm(port, recipient) if self.confirm is not None else None
        if found is None:
            return None
        slot, number, parts = found
        sent = _Sent(slot, number, set(), unnamed=parts - 1)
        if sent.unnamed:
            self._late[(port, digits)] = sent
            while len(self._late) > MAX_AWAITED:
                self._late.popitem(last=False)
        return sent

    def raw_pdu(self, slot: PortAddress, pdu: str, ts: float, reason: str) -> Any:
        """Keep a received message as its raw PDU; returns the store future (its id)."""
        rec = RawRecord(self._device.slot(slot).name, int(ts), pdu, reason)
        log.warning("%s: a received message is kept raw (%s): GET /ejoin/inbox/raw", rec.port, reason)
        fut = self._store.raw_add(rec)

        def stored(f: Any) -> None:
            if f.cancelled() or f.exception() is not None:
                log.error("a raw received message could not be stored: %s", None if f.cancelled() else f.exception())
                return
            rec.id = f.result()
            for observer in self.raw_observers:
                try:
                    observer(rec)
                except Exception:
                    log.exception("a raw inbox observer failed")

        fut.add_done_callback(stored)
        return fut

    async def raw_page(self, first_id: int, limit: int) -> tuple[list[RawRecord], int]:
        return await self._store.raw_page(first_id, limit)

    async def raw_drop(self, ids: list[int] | None) -> int:
        return await self._store.raw_drop(ids)

    def _sms(self, port: str, sender: str, text: str, ts: float, incomplete: str = "") -> InboxRecord:
        recipient = self._recipient_of(port)
        content = base64.b64encode(text.encode("utf-8")).decode("ascii")
        return InboxRecord(SMS, port, int(ts), sender, recipient, content, incomplete)

    def _recipient_of(self, port: str) -> str:
        try:
            return self._device.slot(PortAddress.parse(port, self._device.size)).record.number
        except ValueError:
            return ""

    # --- concatenated SMS ------------------------------------------------------

    def _hold(self, part: PartRecord) -> Any | None:
        """Keep a part in memory; the store future of the whole SMS if it is now complete."""
        key = (part.port, part.sender, part.ref)
        waiting = self._waiting.get(key)
        if waiting is None:
            waiting = self._waiting[key] = _Waiting(part.total, ts=part.ts)
            remaining = max(0.0, part.ts + self._concat_timeout - self._clock.time())
            waiting.timer = self._clock.call_later(remaining, self._expire, key)
        waiting.parts[part.seq] = part.text
        if len(waiting.parts) >= waiting.total:
            return self._join(key, complete=True)
        return None

    def _expire(self, key: tuple[str, str, int]) -> None:
        if key in self._waiting:
            self._join(key, complete=False)

    def _join(self, key: tuple[str, str, int], *, complete: bool) -> Any:
        waiting = self._waiting.pop(key)
        if waiting.timer is not None:
            waiting.timer.cancel()
        port, sender, ref = key
        text = "".join(waiting.parts[s] for s in sorted(waiting.parts))
        incomplete = "" if complete else f"{len(waiting.parts)}/{waiting.total}"
        if incomplete:
            log.warning("SMS from %s on %s: only %s parts arrived", sender, port, incomplete)
        return self.deliver(self._sms(port, sender, text, waiting.ts, incomplete), joined=(port, sender, ref))

    # --- storing and pushing ---------------------------------------------------

    def deliver(self, rec: InboxRecord, joined: tuple[str, str, int] | None = None) -> Any:
        """Store a received SMS (acknowledged once stored), then push it. Returns the store future."""
        if rec.flag == DELIVERY_REPORT:
            _received.info("%s: delivery report for %s: %s", rec.port, rec.recipient, rec.content.split(" ", 1)[0])
        else:
            _received.info("%s: SMS received from %s", rec.port, rec.sender)
        fut = self._store.inbox_add([rec], [joined] if joined else [])

        def stored(f: Any) -> None:
            if f.cancelled() or f.exception() is not None:
                log.error("a received SMS could not be stored: %s", None if f.cancelled() else f.exception())
                return
            rec.id = f.result()[0]
            self.received += 1
            for observer in self.observers:
                try:
                    observer(rec)
                except Exception:  # counting must never cost the push
                    log.exception("an inbox observer failed")
            self._to_push(rec)

        fut.add_done_callback(stored)
        return fut

    def _to_push(self, rec: InboxRecord) -> None:
        self._cache.append(rec)
        count = self._settings["sms_cnt"]
        if count <= 1 or len(self._cache) >= count:
            self._flush()
        elif self._cache_timer is None:
            self._cache_timer = self._clock.call_later(max(0, self._settings["sms_prd"]), self._flush)

    def _flush(self) -> None:
        if self._cache_timer is not None:
            self._cache_timer.cancel()
            self._cache_timer = None
        records, self._cache = self._cache, []
        if not records:
            return
        ids = [r.id for r in records]
        url = self._settings["sms_url"]
        if not url:
            # Nowhere to push: they stay in the inbox for goip_get_sms.
            self._store.inbox_mark_pushed(ids)
            return
        mark = bool(self._settings["sms_incomplete_mark"])
        body = encode(RecvSms(type="recv-sms", sms_num=len(records), sms=[row_of(r, mark) for r in records]))
        self._outbox.push(url, "recv-sms", body, marks=PushMarks(inbox=ids))

    # --- goip_get_sms -----------------------------------------------------------

    async def page(self, first_id: int, limit: int, delete: bool) -> tuple[list[InboxRecord], int]:
        return await self._store.inbox_page(first_id, limit, delete)
