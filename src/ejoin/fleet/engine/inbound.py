"""Received SMS pushed both ways (spec 7.2): members push theirs to the fleet, the fleet to the platform.

Each member is given ``sms_url`` (a URL of its own on the fleet, the ledger's secret in the path,
``sms_cnt`` 1) whenever the fleet subscribes it to its status.  What it pushes goes into the merged
inbox (fleet ids, fleet ports) unless the inbox pull took that SMS already, and the reverse: the
ledger matches the two by the row.  Every SMS new to the fleet, by either way, is pushed once to
the platform's ``sms_url`` as a ``recv-sms``, through the durable outbox, batched as a device
batches them: a push every ``sms_cnt`` SMS, or ``sms_prd`` seconds after the first one waiting
(each SMS at once when ``sms_cnt`` <= 1).  The URL, count and period are the platform's, kept in
the ledger, set as on a device (``goip_send_cmd op=set``, or a send request's).

The ledger is the queue: an SMS taken in is recorded unforwarded, and only the batcher reads the
unforwarded ones, batches them in memory and marks them forwarded once the outbox holds their
push.  A batch lost with its process (crash, restart, a replica killed) is still unforwarded in
the ledger and is read again: at start, at each poll, and with replicas by the one batcher.
With replicas the batcher is the holder of the status role (one for all, so a batch of
``sms_cnt`` counts every replica's SMS, as one device's would): the others only record what they
take in, which notifies the holder; a replica that loses the role drops its batch to the next
holder.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ...clock import Clock, Timer
from ...gateway.outbox import Outbox
from ...gateway.receiving import RecvSms
from ...gateway.settings import DEFAULTS
from ...protocol.messages import encode
from ..ledger import Ledger
from .members import MemberLink
from .numbering import PortMap

log = logging.getLogger(__name__)


class InboundPushes:
    def __init__(
        self,
        ledger: Ledger,
        outbox: Outbox,
        ports: PortMap,
        clock: Clock,
        leading: Callable[[], bool] = lambda: True,
    ) -> None:
        self._ledger = ledger
        self._outbox = outbox
        self._ports = ports
        self._clock = clock
        self._leading = leading  # whether this process batches (one process: always; replicas: the role's)
        self.url = ""
        self._batch: dict[int, list[Any]] = {}  # fleet id -> row, waiting for sms_cnt or sms_prd
        self._timer: Timer | None = None
        self._lock = asyncio.Lock()  # a read of the unforwarded and a push marked forwarded never overlap
        self._queued = False  # a take() waits for the lock: it will read what any later one would
        self._flushes: set[asyncio.Task[None]] = set()

    @property
    def waiting(self) -> int:
        """SMS waiting in this process's batch."""
        return len(self._batch)

    async def start(self) -> None:
        """SMS taken in and never handed over (a crash, a batch lost at a restart): batched again now."""
        self.url = await self._ledger.setting("sms_url") or ""
        await self.take()

    def stop(self) -> None:
        self.drop()
        for task in list(self._flushes):
            task.cancel()

    def drop(self) -> None:
        """This process batches no more (a replica that lost the status role): what waits stays
        unforwarded in the ledger, and the next holder batches it."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._batch.clear()

    async def set_url(self, url: str) -> None:
        if url != self.url:
            self.url = url
            await self._ledger.set_setting("sms_url", url)

    async def count_and_period(self) -> tuple[int, int]:
        """``sms_cnt`` and ``sms_prd`` as the ledger has them (the platform may have set them through
        another replica a moment ago); a device's defaults until set."""
        cnt = await self._ledger.setting("sms_cnt")
        prd = await self._ledger.setting("sms_prd")
        return (
            int(cnt) if cnt is not None else DEFAULTS["sms_cnt"],
            int(prd) if prd is not None else DEFAULTS["sms_prd"],
        )

    async def set_batching(self, count: int | None, period: int | None) -> None:
        if count is not None:
            await self._ledger.set_setting("sms_cnt", str(count))
        if period is not None:
            await self._ledger.set_setting("sms_prd", str(period))
        await self.sweep()  # a batch as large as the new count goes now

    async def member_push(self, link: MemberLink, body: Any) -> None:
        rows = body.get("sms") if isinstance(body, dict) and body.get("type") == "recv-sms" else None
        if not isinstance(rows, list):
            return
        renamed = [
            [r[0], self._ports.rename(link.config, str(r[1])), *r[2:]]
            for r in rows
            if isinstance(r, list) and len(r) >= 2
        ]
        await self.forward(await self._ledger.inbox_pushed(link.name, renamed))

    async def forward(self, new: list[tuple[int, list[Any]]]) -> None:
        """SMS new to the fleet, recorded unforwarded in the ledger: batched (by the batcher)."""
        if not new:
            return
        # They are recorded: if batching fails, the next poll batches them.  Failing the member's push
        # would make it push them again, and a push the ledger cannot match is a new SMS.
        await self.sweep()

    async def sweep(self) -> None:
        """``take``, its failure logged (the poll and the lease loop go on with their other work)."""
        try:
            await self.take()
        except Exception:
            log.exception("received SMS could not be batched; the next poll tries again")

    async def take(self) -> None:
        """The ledger's unforwarded SMS into the batch; pushed if ``sms_cnt`` are waiting."""
        if not self._leading() or self._queued:
            return
        self._queued = True
        async with self._lock:
            self._queued = False
            if not self._leading():
                return
            count, period = await self.count_and_period()
            for fleet_id, row in await self._ledger.inbox_unforwarded():
                self._batch.setdefault(fleet_id, row)
            self._arm(period)  # with no wait between: the period counts from the first SMS waiting
            while self._batch and (count <= 1 or len(self._batch) >= count):
                await self._push(max(count, 1))
                self._arm(period)

    def _arm(self, period: int) -> None:
        if self._batch and self._timer is None:
            self._timer = self._clock.call_later(max(0, period), self._due)

    def _due(self) -> None:
        self._timer = None
        task = asyncio.ensure_future(self._push_waiting())
        self._flushes.add(task)
        task.add_done_callback(self._pushed)

    def _pushed(self, task: asyncio.Task[None]) -> None:
        self._flushes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("received SMS could not be pushed; the next poll tries again", exc_info=task.exception())

    async def _push_waiting(self) -> None:
        """``sms_prd`` passed since the first SMS waiting: what waits goes, fewer than ``sms_cnt`` or not."""
        async with self._lock:
            while self._batch:
                await self._push(max((await self.count_and_period())[0], 1))

    async def _push(self, most: int) -> None:
        """The oldest ``most`` waiting SMS in one push; marked forwarded once the outbox holds it.  If
        either step fails they stay unforwarded in the ledger, and a later read batches them again."""
        ids = sorted(self._batch)[:most]
        rows = [self._batch.pop(i) for i in ids]
        if self._timer is not None:  # as a device's: a push restarts the period (for what waits after it)
            self._timer.cancel()
            self._timer = None
        # the ledger's URL, not this process's: with replicas the platform may have set it on another
        self.url = await self._ledger.setting("sms_url") or ""
        if self.url:  # nowhere to push: they stay in the inbox for goip_get_sms, as on a device
            await self._outbox.push(self.url, "recv-sms", encode(RecvSms(type="recv-sms", sms_num=len(rows), sms=rows)))
        await self._ledger.inbox_forwarded(ids)
