"""The per-port senders: the one place the engine calls into a modem driver.

Every port runs one sender that sends one SMS at a time: it claims the next
job, has its job row committed ("in a module"), hands it to the driver, and
passes the outcome on.  Per SMS there is no task, no timer and no store write
of its own:

- ``StartBatcher``: the job rows of every port's claims made in one turn of
  the event loop go to the store in one write, awaited by each port, with
  those ports' outcomes still waiting (what a port finished is on disk no
  later than its next SMS is "in a module");
- ``Deadlines``: one clock timer, set at the earliest ``tmo`` deadline of the
  SMS in modules, cancels a sender whose SMS outlived it (as ``asyncio.timeout``
  does, but on the device clock).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from ...clock import Clock, Timer
from ...logs import ThrottledLog
from ...modems.base import SendResult, module_failure
from ...protocol.codes import PortState, SendFailure
from ...protocol.ports import PortAddress
from ...protocol.task_states import JobState
from ...store.base import JobRecord, TaskStore
from ..device import Device, Port, Slot
from ..outcomes import OutcomeWriter, StoreFault
from .backoff import AFTER, PortBackoff
from .tasks import Claim, Lane, Task

log = logging.getLogger(__name__)
# A line per SMS for the person watching (never the text), throttled at high rates.
_outcomes = ThrottledLog(log, "SMS outcome")


class Work(Protocol):
    """What a sender needs from the engine."""

    # told of every SMS sent with a delivery report asked for: (port, slot name, recipient, part refs)
    expect_reports: Callable[[int, str, str, tuple[int, ...]], None] | None

    def claim(self, addr: PortAddress) -> tuple[Claim | None, float | None]: ...

    def unclaim(self, task: Task, lane: Lane, idx: int) -> None: ...

    def finish(self, task: Task, job: JobRecord, slot: tuple[int, int]) -> None: ...


class StartBatcher:
    """Job rows committed before their SMS reach a module, every port's of one loop turn in one write."""

    def __init__(self, store: TaskStore, most: int, outcomes: OutcomeWriter | None = None) -> None:
        self._store = store
        # The starting ports' waiting outcomes go in the same write: what a port finished is never
        # behind its next "in a module".
        self._outcomes = outcomes
        # At most this many per write, so that the store commits one group of ports while the
        # event loop runs the next: the two overlap instead of taking turns.
        self._most = max(1, most)
        self._jobs: list[JobRecord] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._scheduled = False

    def start(self, job: JobRecord) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._jobs.append(job)
        self._waiters.append(fut)
        if len(self._jobs) >= self._most:
            self._flush()
        elif not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return fut

    def _flush(self) -> None:
        self._scheduled = False
        if not self._jobs:
            return
        jobs, waiters = self._jobs, self._waiters
        self._jobs, self._waiters = [], []
        riding = None
        if self._outcomes is not None:
            riding = self._outcomes.ride({int(j.port.split(".", 1)[0]) for j in jobs})
        finished, settle_finished = riding if riding is not None else (None, None)

        def settle(exc: BaseException | None) -> None:
            if settle_finished is not None:
                settle_finished(exc)
            _settle(waiters, exc)

        try:
            written = self._store.jobs_start(jobs, finished)
        except Exception as exc:  # the store is closed: nothing of the batch was written
            settle(exc)
            return
        written.add_done_callback(lambda f: settle(asyncio.CancelledError() if f.cancelled() else f.exception()))


def _settle(waiters: list[asyncio.Future[None]], exc: BaseException | None) -> None:
    for fut in waiters:
        if fut.done():  # that port was stopped meanwhile
            continue
        if exc is None:
            fut.set_result(None)
        else:
            fut.set_exception(exc)


class Deadlines:
    """One clock timer for every SMS in a module: at the earliest deadline, expire what is due."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._senders: list[PortSender] = []
        self._timer: Timer | None = None
        self._at: float | None = None

    def add(self, sender: PortSender) -> None:
        self._senders.append(sender)

    def watch(self, deadline: float) -> None:
        if self._at is None or deadline < self._at:
            self._arm(deadline)

    def _arm(self, at: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._at = at
        self._timer = self._clock.call_later(at - self._clock.time(), self._fire)

    def _fire(self) -> None:
        self._timer = self._at = None
        now = self._clock.time()
        following: float | None = None
        for sender in self._senders:
            due = sender.deadline
            if due is None:
                continue
            if due <= now:
                sender.expire()
            elif following is None or due < following:
                following = due
        if following is not None:
            self._arm(following)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._at = None


class PortSender:
    def __init__(
        self,
        port: Port,
        device: Device,
        clock: Clock,
        work: Work,
        starts: StartBatcher,
        deadlines: Deadlines,
        fault: StoreFault,
        in_module: dict[tuple[int, int], int],
        waiting: dict[PortSender, None] | None = None,
    ) -> None:
        self.port = port
        self.wake = asyncio.Event()
        self.deadline: float | None = None  # while an SMS is in the module: when it times out
        self._expired = False
        self._worker: asyncio.Task | None = None
        self._device = device
        self._clock = clock
        self._work = work
        self._starts = starts
        self._deadlines = deadlines
        self._fault = fault
        self._in_module = in_module
        # the senders waiting for work, longest first: new work wakes them, not every sender once per task
        self._waiting = waiting if waiting is not None else {}
        self.backoff = PortBackoff()
        self._could_send = False
        deadlines.add(self)

    def start(self, stopping: Callable[[], bool]) -> asyncio.Task:
        self._worker = asyncio.get_running_loop().create_task(self._run(stopping), name=f"sender {self.port.number}")
        return self._worker

    def slot_changed(self, slot: Slot) -> None:
        """A change of one of the port's slots: wake up; a card that can send now (a switch, the module
        back, registered anew) ends a run of failures."""
        if slot.record.slot == self.port.record.active_slot:
            could = slot.state.can_send and not slot.record.locked
            if could and not self._could_send and self.backoff.failures:
                self.backoff.sent()
            self._could_send = could
        self.wake.set()

    def expire(self) -> None:
        """The SMS in the module outlived its ``tmo``: it counts as failed (timeout), the port goes on."""
        self.deadline = None
        if self._worker is not None:
            self._expired = True
            self._worker.cancel()

    async def _run(self, stopping: Callable[[], bool]) -> None:
        port, clock, wake = self.port, self._clock, self.wake
        addr = PortAddress(port.number, port.record.active_slot)
        while not stopping():
            wake.clear()
            fault = self._fault
            if fault.failing and clock.time() < fault.retry_at:
                # The store takes no writes: wait on the clock instead of failing at once again.
                await clock.sleep(fault.retry_at - clock.time())
                continue
            if self.backoff.paused(clock.time()):
                await self._wait(self.backoff.until)  # its module fails: other ports take the recipients
                continue
            slot = port.active
            claim, ready_at = None, None
            if slot.state.can_send and not slot.record.locked:
                if addr.slot != port.record.active_slot:
                    addr = PortAddress(port.number, port.record.active_slot)
                claim, ready_at = self._work.claim(addr)
            if claim is None:
                await self._wait(ready_at)
                continue
            task, lane, idx = claim
            try:
                await self._send(slot, task, lane, idx)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("port %d: sending failed unexpectedly", port.number)
            intvl = task.spec.intvl_ms
            if intvl:
                lane.not_before[port.number] = clock.time() + intvl / 1000

    async def _wait(self, until: float | None) -> None:
        """Until woken (new work, a slot change) or, if a lane waits on its ``intvl``, until then."""
        self._waiting[self] = None
        timer = None if until is None else self._clock.call_later(until - self._clock.time(), self.wake.set)
        try:
            await self.wake.wait()
        finally:
            self._waiting.pop(self, None)
            if timer is not None:
                timer.cancel()

    async def _send(self, slot: Slot, task: Task, lane: Lane, idx: int) -> None:
        port, clock = self.port, self._clock
        try:
            number = task.number_now(idx)
            if number is None:
                number = await task.number(idx)
            job = JobRecord(task.id, lane.index, idx, number, slot.name, JobState.IN_MODULE, int(clock.time()))
            await self._starts.start(job)
        except Exception as exc:
            # Logged by the fault once per change of state, not here once per SMS.
            log.debug("could not record an SMS of task %s; it stays queued: %s", task.spec.tid_echo, exc)
            self._fault.failed(exc)
            self._work.unclaim(task, lane, idx)
            return
        if self._fault.failing:
            self._fault.succeeded()
        key = (port.number, slot.record.slot)
        self._in_module[key] = self._in_module.get(key, 0) + 1
        self.deadline = clock.time() + task.spec.tmo_s
        self._deadlines.watch(self.deadline)
        result: SendResult | None
        try:
            result = await self._device.driver.send_sms(
                port.number, slot.record.slot, number, task.text, task.spec.smsc, report=task.spec.dr
            )
            if self._expired:  # expired as it returned: the result stands, the cancel request goes
                self._expired = False
                asyncio.current_task().uncancel()  # type: ignore[union-attr]
        except asyncio.CancelledError:
            if not self._expired:
                raise
            self._expired = False
            if asyncio.current_task().uncancel():  # type: ignore[union-attr]
                raise  # stopped as well
            result = None
        except Exception as exc:  # the module failed: this SMS failed, the port goes on
            # One line for what modules do (go away, fall silent, answer errors); a traceback only for
            # what none should: a bug.
            expected = module_failure(exc)
            log.log(
                logging.WARNING if expected else logging.ERROR,
                "%s: the module failed on SMS %d of task %s: %s",
                slot.name,
                idx + 1,
                task.spec.tid_echo,
                str(exc) or type(exc).__name__,
                exc_info=not expected,
            )
            result = SendResult(False, f"module error: {type(exc).__name__}")
        finally:
            self.deadline = None
            self._in_module[key] -= 1
        if result is None:
            job.state, job.reason = JobState.FAILED, SendFailure.TIMEOUT
        elif result.ok:
            job.state = JobState.SENT
            if task.spec.dr and self._work.expect_reports is not None:
                self._work.expect_reports(port.number, slot.name, number, result.refs)
        else:
            job.state = JobState.FAILED
            if result.unknown:
                job.reason = SendFailure.UNKNOWN
            else:
                job.reason = SendFailure.NO_BALANCE if result.no_balance else SendFailure.SEND_FAILED
            job.carrier = result.carrier
        _outcomes.info(
            "%s: SMS %d of task %s to %s: %s",
            slot.name,
            idx + 1,
            task.spec.tid_echo,
            number,
            "sent" if job.state == JobState.SENT else job.reason,
        )
        self._count(slot, job, result)
        if result is not None:
            if result.cost and slot.record.balance is not None:
                self._device.set_slot_field(slot.address, "balance", round(slot.record.balance - result.cost, 2))
            if result.no_balance and self._device.may_become(slot, PortState.NO_BALANCE):  # not if locked since
                self._device.set_state(slot, PortState.NO_BALANCE)
        self._work.finish(task, job, key)

    def _count(self, slot: Slot, job: JobRecord, result: SendResult | None) -> None:
        """A run of the module's failures (backoff.py); a refused recipient is not the module's."""
        if job.state == JobState.SENT:
            had = self.backoff.sent()
            if had >= AFTER:
                log.info("%s sends again after %d failed sends in a row", slot.name, had)
            return
        if result is not None and result.recipient_refused:
            return
        pause = self.backoff.failed(self._clock.time(), job.carrier or job.reason)
        if pause is not None:
            log.warning(
                "%s: %d sends failed in a row (%s); it takes no SMS for %g s, the other ports send meanwhile",
                slot.name,
                self.backoff.failures,
                self.backoff.reason,
                pause,
            )
