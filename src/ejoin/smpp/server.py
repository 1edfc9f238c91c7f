"""The SMPP server: binds, submit_sm into send tasks, receipts and received SMS as deliver_sm.

Accepted means durable: a submit_sm is answered with its message_id only once it is in the SMPP
store and the device has committed its task (``SmppDevice.accept``).  Submissions of every
session wait together while the previous batch is being stored, so one commit serves many of
them.  The device's tid of an SMS is ``TID_BASE`` + its number in the SMPP store, so a restart
between the two commits is settled by asking the device whether it holds that tid.

Receipts: SMPP tasks report to ``REPORTS_URL`` through the device's outbox (written first, retried
until a 2xx, kept across kill -9), which hands pushes to that URL to this server in the process
(``gateway/attached.py``, ``LocalPushes``); the report's outcome becomes receipts in ``outq``, and
the push is answered 2xx only then.
Received SMS are read from the device's inbox by id (a cursor kept with what they made), woken
by the inbox and by a poll.  Whatever waits in ``outq`` goes out as deliver_sm to the bound
receivers and transceivers, in turn, and is deleted at its deliver_sm_resp.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import msgspec

from ..clock import Clock, Timer
from ..config.server import SmppAccount
from ..gateway.attached import LocalPushes
from ..protocol.codes import TaskStatus
from ..protocol.messages import WireError, decode_lenient
from ..protocol.smpp import (
    CancelSm,
    Command,
    Empty,
    MessageState,
    Pdu,
    QuerySm,
    QuerySmResp,
    ShortMessage,
    SmResp,
    Status,
)
from ..protocol.smpp_sm import SmError, Submission, failure_state, read_submit, reason_code, smpp_time, sms_pdu
from ..protocol.sms import SendSmsRequest
from .accounts import Account
from .device import SMS, SmppDevice
from .session import Session
from .store import ENROUTE, FINAL, NEW, TID_BASE, WAITING, Queued, SmppStore, SmsToSend

log = logging.getLogger(__name__)

# Where SMPP tasks report.  The host is under ``.invalid`` (RFC 6761): should the SMPP server be turned
# off while reports are owed, they fail as pushes to a name that never resolves.
REPORTS_URL = "http://smpp.ejoin.invalid/reports"

SYSTEM_ID = "ejoin"
MAX_WAITING = 20_000  # submissions waiting to be stored; more are answered ESME_RTHROTTLED
CONCAT_TIMEOUT = 300.0  # seconds the parts of a long SMS may take to all come
CONCAT_ERR = 100  # err of a long SMS rejected because parts never came
KEEP = 3 * 86400.0  # seconds a finished message is kept for query_sm
INBOX_POLL = 2.0  # seconds between reads of the device's inbox (an SMS may come in another way)
RETRY_AFTER = 10.0  # seconds before a deliver_sm refused for now is sent again
INBOX_PAGE = 500
# Batches of submissions in the pipeline at once: while one waits for the device's commit, the next is
# being stored (one at a time, a window of 10 spent most of its time waiting on the two disks' threads).
TAKERS = 4

# What a refused task tells the platform.
_REFUSED = {
    TaskStatus.TO_EXPECTED: Status.ESME_RINVDSTADR,
    TaskStatus.SMS_EXPECTED: Status.ESME_RINVMSGLEN,
    TaskStatus.INVALID_CMD: Status.ESME_RINVMSGLEN,  # longer than 255 parts
    TaskStatus.TOO_MANY_TASK: Status.ESME_RTHROTTLED,  # the queue is full: try again later
    TaskStatus.SERVER_ERROR: Status.ESME_RSYSERR,
}


@dataclass(slots=True)
class _Waiting:
    session: Session
    submission: Submission
    sequence: int
    answered: bool = False

    def reply(self, answer: Pdu) -> None:
        if not self.answered:
            self.answered = True
            self.session.reply(answer)


class _Report(msgspec.Struct):
    tid: Any = None
    sdr: list[list[Any]] | None = None
    fdr: list[list[Any]] | None = None


class _StatusReport(msgspec.Struct):
    rpts: list[_Report] | None = None


@dataclass
class Deliveries:
    """deliver_sm waiting for a receiver: an account's receipts, and received SMS for anyone."""

    server: SmppServer
    by_account: dict[str, deque[Queued]] = field(default_factory=dict)
    anyone: deque[Queued] = field(default_factory=deque)
    receivers: list[Session] = field(default_factory=list)
    _done: list[int] = field(default_factory=list)
    _pumping: bool = False

    def add(self, items: list[Queued]) -> None:
        for item in items:
            (self.by_account.setdefault(item.account, deque()) if item.account else self.anyone).append(item)
        self.pump()

    @property
    def waiting(self) -> int:
        return len(self.anyone) + sum(len(q) for q in self.by_account.values())

    def pump(self) -> None:
        """Hand what waits to receivers with room in their window, in turn."""
        if self._pumping:
            return
        self._pumping = True
        try:
            while self._pump_one():
                pass
        finally:
            self._pumping = False

    def _pump_one(self) -> bool:
        """One deliver_sm to the first receiver in turn that has room and something for it; that receiver
        goes to the end of the turn (whatever else happens meanwhile: answers, binds)."""
        for i, session in enumerate(self.receivers):
            if not session.receives or len(session.sent) >= self.server.window:
                continue
            own = self.by_account.get(session.account.system_id) if session.account else None
            queue = own if own else self.anyone
            if queue:
                session.deliver(queue.popleft())
                self.receivers.append(self.receivers.pop(i))
                return True
        return False

    def answered(self, session: Session, item: Queued, status: int) -> None:
        if status in (Status.ESME_ROK, Status.ESME_RX_P_APPN):
            if status:
                log.warning("SMPP %s refused a deliver_sm for good (ESME_RX_P_APPN): dropped", session.peer)
            self._done.append(item.id)
            if len(self._done) == 1:
                asyncio.get_running_loop().call_soon(self._flush)
            self.pump()
        else:
            self.server.clock.call_later(RETRY_AFTER, self._again, item)

    def _again(self, item: Queued) -> None:
        (self.by_account.setdefault(item.account, deque()) if item.account else self.anyone).appendleft(item)
        self.pump()

    def _flush(self) -> None:
        done, self._done = self._done, []
        if done and self.server.store_open:
            self.server.store.delivered(done)

    def lost(self, session: Session) -> None:
        """A session closed: what it had unanswered goes to the others."""
        if session in self.receivers:
            self.receivers.remove(session)
        for item, timer in sorted(session.sent.values(), key=lambda held: -held[0].id):
            timer.cancel()
            (self.by_account.setdefault(item.account, deque()) if item.account else self.anyone).appendleft(item)
        session.sent.clear()
        self.pump()


class SmppServer:
    def __init__(
        self,
        device: SmppDevice,
        store: SmppStore,
        clock: Clock,
        pushes: LocalPushes,
        *,
        host: str,
        port: int,
        window: int,
        accounts: list[SmppAccount],
        device_credentials: tuple[str, str],
    ) -> None:
        self.device = device
        self.store = store
        self.clock = clock
        self.host, self.port = host, port
        self.window = window
        self.system_id = SYSTEM_ID
        user, password = device_credentials
        self._accounts = {user: Account(user, password, 0.0)}
        for a in accounts:
            self._accounts[a.system_id] = Account(a.system_id, a.password, float(a.throughput))
        self.deliveries = Deliveries(self)
        self.sessions: set[Session] = set()
        self._waiting: list[_Waiting] = []
        self._enroute: list[int] = []  # SMS the device took, to be marked en route in the SMPP store
        self._takers: set[asyncio.Task[None]] = set()
        self._server: asyncio.AbstractServer | None = None
        self._timers: list[Timer] = []
        self._inbox_cursor = 0
        self._inbox_reading: asyncio.Task[None] | None = None
        self._inbox_again = False
        self._ready = False
        self.store_open = False
        self._pushes = pushes
        pushes.route(REPORTS_URL, self._reports)
        self.submitted = 0  # submit_sm accepted since the start

    # --- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        await self.store.open()
        self.store_open = True
        self.deliveries.add(await self.store.queued())
        await self._settle_unsent()
        cursor = await self.store.cursor()
        if cursor is None:  # first start: what the inbox holds already was the platform's business before
            cursor = await _inbox_end(self.device)
            await self.store.received([], cursor, self.clock.time())
        self._inbox_cursor = cursor
        self.device.on_received(self.wake_inbox)
        self._ready = True
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: Session(self), self.host or None, self.port, backlog=128)
        self.port = self._server.sockets[0].getsockname()[1]
        self._every(INBOX_POLL, self.wake_inbox)
        self._every(30.0, self._expire_parts)
        self._every(3600.0, self._prune)
        self.wake_inbox()
        log.info("SMPP server listening on %s:%d", self.host or "*", self.port)

    def _every(self, period: float, fn: Any) -> None:
        def tick() -> None:
            fn()
            self._timers.append(self.clock.call_later(period, tick))

        self._timers.append(self.clock.call_later(period, tick))

    async def stop(self) -> None:
        self._ready = False
        for timer in self._timers:
            timer.cancel()
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions):
            if session.kind is not None:
                session.unbind()
            session.close()
        for task in (*self._takers, self._inbox_reading):
            if task is not None:
                await asyncio.gather(task, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        self._pushes.route(REPORTS_URL, None)
        self._mark_enroute()
        self.deliveries._flush()
        self.store_open = False
        await self.store.close()

    async def _settle_unsent(self) -> None:
        """SMS being handed to the device at a stop: held by it (en route), or given again if any of
        their parts was acknowledged; an SMS of one part never acknowledged is forgotten."""
        unsent = await self.store.unsent()
        if not unsent:
            return
        held = await self.device.holds([sms.tid for sms, _ in unsent])
        await self.store.accepted([sms.sms for sms, _ in unsent if sms.tid in held])
        again = [sms for sms, parts in unsent if sms.tid not in held and parts > 1]
        for sms, parts in unsent:
            if sms.tid not in held and parts <= 1:
                await self.store.refused(sms.sms, 0, self.clock.time())
        if again:
            statuses = await self._hand_over(again)
            await self._settle([(sms, status) for sms, status in zip(again, statuses, strict=True)])
            self._mark_enroute()

    # --- binds -----------------------------------------------------------------------------

    def authenticate(self, system_id: str, password: str, peer: str) -> tuple[Account | None, Status]:
        account = self._accounts.get(system_id)
        if account is None:
            log.warning("SMPP %s: bind refused: unknown system_id %r", peer, system_id[:16])
            return None, Status.ESME_RINVSYSID
        if not hmac.compare_digest(password.encode("latin-1"), account.password.encode("latin-1", "replace")):
            log.warning("SMPP %s: bind refused: wrong password for %s", peer, system_id)
            return None, Status.ESME_RINVPASWD
        return account, Status.ESME_ROK

    def opened(self, session: Session) -> None:
        self.sessions.add(session)
        if not self._ready:
            session.close()

    def bound(self, session: Session) -> None:
        if session.receives:
            self.deliveries.receivers.append(session)
            self.deliveries.pump()

    def closed(self, session: Session) -> None:
        self.sessions.discard(session)
        self.deliveries.lost(session)

    def answered(self, session: Session, item: Queued, status: int) -> None:
        self.deliveries.answered(session, item, status)

    # --- submit_sm -------------------------------------------------------------------------

    def submit(self, session: Session, pdu: ShortMessage) -> None:
        resp = Command.SUBMIT_SM_RESP
        account = session.account
        assert account is not None
        try:
            submission = read_submit(pdu)
        except SmError as exc:
            log.info("submit_sm of %s refused: %s", account.system_id, exc.why)
            session.reply(Empty(resp, pdu.sequence, exc.status))
            return
        if len(self._waiting) >= MAX_WAITING or not account.take_token(self.clock.time()):
            session.reply(Empty(resp, pdu.sequence, Status.ESME_RTHROTTLED))
            return
        self._waiting.append(_Waiting(session, submission, pdu.sequence))
        if len(self._takers) < TAKERS:
            taker = asyncio.ensure_future(self._take())
            self._takers.add(taker)
            taker.add_done_callback(self._takers.discard)

    async def _take(self) -> None:
        await asyncio.sleep(0)  # the submissions of this turn of the loop go in one batch
        while self._waiting and self.store_open:
            batch, self._waiting = self._waiting, []
            try:
                await self._take_batch(batch)
            except Exception:
                log.exception("submit_sm could not be stored")
                for w in batch:
                    w.reply(Empty(Command.SUBMIT_SM_RESP, w.sequence, Status.ESME_RSYSERR))
        if self._enroute and not self._takers - {asyncio.current_task()}:
            self._mark_enroute()  # the last taker: nothing to ride with

    async def _take_batch(self, batch: list[_Waiting]) -> None:
        now = self.clock.time()
        enroute, self._enroute = self._enroute, []  # marks of earlier batches ride with this one
        taken = await self.store.take([(w.session.account_id, w.submission) for w in batch], now, enroute)
        ready = [t.ready for t in taken if t.ready is not None]
        statuses = dict(zip([s.sms for s in ready], await self._hand_over(ready), strict=True)) if ready else {}
        await self._settle([(s, statuses[s.sms]) for s in ready])
        for w, t in zip(batch, taken, strict=True):
            status = statuses.get(t.sms, TaskStatus.OK) if t.ready is not None else TaskStatus.OK
            if status == TaskStatus.OK:
                self.submitted += 1
                w.reply(SmResp(Command.SUBMIT_SM_RESP, w.sequence, Status.ESME_ROK, str(t.message_id)))
            else:
                w.reply(Empty(Command.SUBMIT_SM_RESP, w.sequence, _REFUSED.get(status, Status.ESME_RSUBMITFAIL)))

    def _mark_enroute(self) -> None:
        enroute, self._enroute = self._enroute, []
        if enroute and self.store_open:
            self.store.accepted(enroute)

    async def _hand_over(self, ready: list[SmsToSend]) -> list[TaskStatus]:
        """Post SMS to the device as tasks of one recipient each; a status per SMS."""
        tasks = [
            msgspec.Raw(
                msgspec.json.encode(
                    {
                        "tid": s.tid,
                        "to": s.destination,
                        "sms": s.text,
                        "coding": 1 if s.ucs2 else 0,
                        "sdr": 1,
                        "fdr": 1,
                        "sr_prd": 0,
                    }
                )
            )
            for s in ready
        ]
        request = SendSmsRequest(type="send-sms", tasks=tasks, sr_url=REPORTS_URL, sr_cnt=100, sr_prd=1)
        try:
            results = await self.device.accept(request)
        except Exception:
            log.exception("the device could not take SMPP messages")
            return [TaskStatus.SERVER_ERROR] * len(ready)
        by_tid = {r[0]: r[1] for r in results}
        return [by_tid.get(s.tid, TaskStatus.SERVER_ERROR) for s in ready]

    async def _settle(self, outcomes: list[tuple[SmsToSend, TaskStatus]]) -> None:
        # En route: written with the next batch (or by the last taker), not awaited: a restart asks the device
        self._enroute += [s.sms for s, status in outcomes if status == TaskStatus.OK]
        now = self.clock.time()
        for s, status in outcomes:
            if status != TaskStatus.OK:
                log.info("the device refused SMPP message %d: %s", s.sms, status.label)
                self.deliveries.add(await self.store.refused(s.sms, int(status), now))

    # --- query_sm, cancel_sm -----------------------------------------------------------------

    async def _status(self, account: Account, message_id: str) -> Any:
        if not message_id.isdigit() or len(message_id) > 18:
            return None
        return await self.store.status(account.system_id, int(message_id))

    async def query(self, account: Account, pdu: QuerySm) -> Pdu:
        found = await self._status(account, pdu.message_id)
        if found is None:
            return Empty(Command.QUERY_SM_RESP, pdu.sequence, Status.ESME_RQUERYFAIL)
        if found.state == FINAL and found.outcome is not None:
            state, final, err = found.outcome, smpp_time(found.done), found.err
        else:
            state, final, err = (MessageState.ACCEPTED if found.state == WAITING else MessageState.ENROUTE), "", 0
        return QuerySmResp(Command.QUERY_SM_RESP, pdu.sequence, 0, pdu.message_id, final, state, min(err, 255))

    async def cancel(self, account: Account, pdu: CancelSm) -> Pdu:
        resp = Command.CANCEL_SM_RESP
        found = await self._status(account, pdu.message_id)
        if found is None or found.state not in (NEW, ENROUTE):  # NEW: its en route mark not written yet
            return Empty(resp, pdu.sequence, Status.ESME_RCANCELFAIL)
        if not await self.device.cancel(TID_BASE + found.sms):
            return Empty(resp, pdu.sequence, Status.ESME_RCANCELFAIL)
        return Empty(resp, pdu.sequence, Status.ESME_ROK)

    # --- receipts ----------------------------------------------------------------------------

    async def _reports(self, body: bytes) -> int:
        """A status-report of SMPP tasks (the device's outbox): 200 once its receipts are stored."""
        if not self.store_open:
            return 503
        try:
            report = decode_lenient(body, _StatusReport)
        except WireError:
            log.error("an unreadable report of SMPP tasks was dropped")
            return 200
        done: list[tuple[int, MessageState, int, float]] = []
        for rpt in report.rpts or []:
            try:
                sms = int(rpt.tid) - TID_BASE
            except (TypeError, ValueError):
                continue
            if sms <= 0:
                continue
            for row in rpt.sdr or []:
                done.append((sms, MessageState.DELIVERED, 0, _ts(row)))
            for row in rpt.fdr or []:
                reason = str(row[4]) if len(row) > 4 else ""
                done.append((sms, failure_state(reason), reason_code(reason), _ts(row)))
        if done:
            try:
                self.deliveries.add(await self.store.outcomes(done))
            except Exception:
                log.exception("receipts could not be stored; the device reports them again")
                return 503
        return 200

    # --- received SMS ------------------------------------------------------------------------

    def wake_inbox(self) -> None:
        if not self._ready:
            return
        if self._inbox_reading is not None and not self._inbox_reading.done():
            self._inbox_again = True
            return
        self._inbox_reading = asyncio.ensure_future(self._read_inbox())

    async def _read_inbox(self) -> None:
        try:
            while True:
                self._inbox_again = False
                rows, next_id = await self.device.inbox(self._inbox_cursor, INBOX_PAGE)
                if next_id != self._inbox_cursor or rows:
                    pdus = [sms_pdu(r.sender, r.recipient or r.port, r.text).encode() for r in rows if r.flag == SMS]
                    self.deliveries.add(await self.store.received(pdus, next_id, self.clock.time()))
                    self._inbox_cursor = next_id
                if len(rows) < INBOX_PAGE and not self._inbox_again:
                    return
        except Exception:
            log.exception("reading the inbox for SMPP failed; the next poll tries again")

    # --- housekeeping --------------------------------------------------------------------------

    def _expire_parts(self) -> None:
        now = self.clock.time()
        fut = self.store.expire(now - CONCAT_TIMEOUT, CONCAT_ERR, now)
        fut.add_done_callback(lambda f: None if f.exception() else self.deliveries.add(f.result()))

    def _prune(self) -> None:
        self.store.prune(self.clock.time() - KEEP)


def _ts(row: list[Any]) -> float:
    try:
        return float(row[3])
    except (IndexError, TypeError, ValueError):
        return time.time()


async def _inbox_end(device: SmppDevice) -> int:
    """The next id of the device's inbox (only ids and emptiness are asked: a few small reads)."""
    rows, nxt = await device.inbox(1, 1)
    if not rows:
        return nxt
    lo, hi = nxt, nxt * 2
    while True:
        rows, n = await device.inbox(hi, 1)
        if not rows:
            break
        lo, hi = n, n * 2
    while lo < hi:  # no row from hi on; the first id with none after it is in (lo, hi]
        mid = (lo + hi) // 2
        rows, n = await device.inbox(mid, 1)
        if rows:
            lo = n
        else:
            hi = mid
    return (await device.inbox(lo, 1))[1]
