"""The send engine on its own: a Gateway without HTTP, the virtual clock, and a scripted driver."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from ejoin.clock import VirtualClock
from ejoin.gateway.runtime import Gateway
from ejoin.modems.base import CardInfo, ModemDriver, ModuleError, SendResult
from ejoin.protocol.codes import PortState
from ejoin.protocol.messages import decode_lenient
from ejoin.protocol.sms import SendSmsRequest
from ejoin.protocol.task_states import TASK_TRANSITIONS, TaskState, TransitionRefused, can_move

from ...conftest import make_config


class ScriptedModems(ModemDriver):
    """Modules that register at once; sending as the test says.

    ``delay`` seconds per SMS on the clock; numbers starting "998" never answer.
    """

    def __init__(self, clock: VirtualClock, delay: float = 0.0) -> None:
        self.clock = clock
        self.delay = delay
        self.sent: list[tuple[float, int, str]] = []  # (when handed over, port, number)

    async def restart_module(self, port):
        pass

    async def detect_card(self, port, slot):
        return CardInfo(
            present=True, iccid=f"89440000000000{port:03d}{slot:02d}", number=f"4477009{port:03d}{slot:02d}"
        )

    async def register(self, port, slot):
        return PortState.REGISTERED

    async def signal(self, port):
        return 20

    async def send_sms(self, port, slot, number, text, smsc, report=False):
        self.sent.append((self.clock.time(), port, number))
        if number.startswith("998"):
            await asyncio.get_running_loop().create_future()
        if self.delay:
            await self.clock.sleep(self.delay)
        return SendResult(True)


@pytest.fixture
async def engine_gw(tmp_path, clock):
    gateways = []

    async def make(delay: float = 0.0, ports: int = 2):
        driver = ScriptedModems(clock, delay)
        gw = Gateway(make_config(tmp_path, ports=ports, slots=1), clock=clock, driver=driver)
        await gw.start()
        clock.add_quiescer(gw.store.quiesce)
        await clock.advance(1)  # registration (no simulated delays)
        gateways.append(gw)
        return gw, driver

    yield make
    for gw in gateways:
        await gw.stop()


def request(*tasks: dict) -> SendSmsRequest:
    return decode_lenient(json.dumps({"type": "send-sms", "tasks": list(tasks)}).encode(), SendSmsRequest)


async def accept(gw: Gateway, *tasks: dict) -> None:
    results = await gw.sending.accept(request(*tasks))
    assert [r[1].label for r in results] == ["0 OK"] * len(tasks)


async def test_intvl_is_a_gap_per_task_on_a_port_not_a_pause_of_the_port(engine_gw, clock):
    gw, driver = await engine_gw(delay=1.0)
    start = clock.time()
    await accept(
        gw,
        {"tid": 1, "from": "1", "to": "1001,1002", "sms": "x", "intvl": 10_000},
        {"tid": 2, "from": "1", "to": "2001,2002,2003", "sms": "x"},
    )
    await clock.advance(30)
    timeline = [(t - start, number) for t, _, number in driver.sent]
    # 1001 takes 1 s; task 1 waits 10 s on port 1, which serves task 2 meanwhile.
    assert timeline == [(0, "1001"), (1, "2001"), (2, "2002"), (3, "2003"), (11, "1002")]


async def test_one_timer_for_every_timeout_and_each_expires_exactly(engine_gw, clock):
    gw, driver = await engine_gw()
    await accept(
        gw,
        {"tid": 3, "from": "1", "to": "9980001,5001", "sms": "x", "tmo": 20, "fdr": 1},
        {"tid": 4, "from": "2", "to": "9980002", "sms": "x", "tmo": 7},
    )
    await clock.advance(6.5)
    assert gw.sending.task(4).sending == 1
    await clock.advance(0.5)  # 7 s: task 4's SMS timed out; port 2 goes on
    assert gw.sending.task(4) is None  # finished (failed)
    assert gw.sending.task(3).sending == 1
    await clock.advance(13)  # 20 s: task 3's first timed out, its second goes out at once
    assert [n for _, _, n in driver.sent] == ["9980001", "9980002", "5001"]
    assert gw.sending.task(3) is None


async def test_a_stop_while_an_sms_is_in_a_module_ends_the_sender(engine_gw, clock):
    gw, driver = await engine_gw()
    await accept(gw, {"tid": 5, "from": "1", "to": "9980001", "sms": "x", "tmo": 5})
    await clock.advance(1)
    assert gw.sending.in_module[(1, 1)] == 1
    await asyncio.wait_for(gw.sending.stop(), 5)  # not swallowed by the timeout machinery


async def test_job_rows_of_many_ports_go_to_the_store_together(engine_gw, clock):
    gw, driver = await engine_gw(ports=8)
    writes = []
    original = gw.store.jobs_start

    def counting(jobs, finished=None):
        writes.append(len(jobs))
        return original(jobs, finished)

    gw.store.jobs_start = counting
    await accept(gw, {"tid": 6, "to": ",".join(f"70{i:02d}" for i in range(40)), "sms": "x"})
    await clock.advance(5)
    # Eight ports, one write per half of them: the store commits one half while the loop runs the other.
    assert sum(writes) == 40 and len(writes) == 10 and set(writes) == {4}


async def test_tasks_of_concurrent_requests_share_one_store_write_and_each_gets_its_own(engine_gw, clock):
    gw, driver = await engine_gw(ports=8)
    writes = []
    original = gw.store.tasks_add

    def counting(rows):
        writes.append([row[0] for row in rows])
        return original(rows)

    gw.store.tasks_add = counting
    answers = await asyncio.gather(
        *(gw.sending.accept(request({"tid": 100 + i, "to": f"80{i:02d}", "sms": "x"})) for i in range(6)),
        gw.sending.accept(request({"tid": 200, "to": "8100", "sms": "x"}, {"tid": 201, "to": "8101", "sms": "x"})),
    )
    assert [[r[1].label for r in a] for a in answers] == [["0 OK"]] * 6 + [["0 OK", "0 OK"]]
    assert writes == [[100, 101, 102, 103, 104, 105, 200, 201]]  # one write, in the order they came
    await clock.advance(5)
    assert sorted(n for _, _, n in driver.sent) == [f"80{i:02d}" for i in range(6)] + ["8100", "8101"]
    assert gw.sending.task_count() == 0  # each finished, under the id the write gave it
    stored = await gw.store.tasks_by_id(list(range(1, 9)))
    assert sorted((r.tid, r.sent) for r in stored) == [(t, 1) for t in (100, 101, 102, 103, 104, 105, 200, 201)]


async def test_a_tid_in_two_concurrent_requests_is_accepted_once(engine_gw, clock):
    gw, driver = await engine_gw()
    first, second = await asyncio.gather(
        gw.sending.accept(request({"tid": 300, "to": "9001", "sms": "x"})),
        gw.sending.accept(request({"tid": 300, "to": "9002", "sms": "y"})),
    )
    assert [first[0][1].label, second[0][1].label] == ["0 OK", "13 Duplicated TaskId"]
    assert gw.sending.task_count() == 1


async def test_the_queue_limit_counts_tasks_still_being_stored(tmp_path, clock):
    gw = Gateway(make_config(tmp_path, ports=2, slots=1, max_queued_tasks=2), clock=clock, driver=ScriptedModems(clock))
    await gw.start()
    clock.add_quiescer(gw.store.quiesce)
    try:
        await gw.sending.stop()  # nothing leaves the queue
        answers = await asyncio.gather(
            *(gw.sending.accept(request({"tid": 400 + i, "to": "9003", "sms": "x"})) for i in range(3))
        )
        assert [a[0][1].label for a in answers] == ["0 OK", "0 OK", "16 Too Many Task"]
    finally:
        await gw.stop()


async def test_pause_resume_remove_follow_the_life_cycle(engine_gw, clock):
    gw, driver = await engine_gw(delay=1.0)
    await accept(gw, {"tid": 7, "from": "1", "to": "3001,3002,3003", "sms": "x"})
    await clock.advance(0.5)  # 3001 in the module
    await gw.sending.pause([7])
    assert gw.sending.task(7).state == TaskState.PAUSED
    await clock.advance(5)
    assert [n for _, _, n in driver.sent] == ["3001"]  # the one in the module finished, nothing new
    assert gw.sending.task(7).sent == 1
    await gw.sending.resume([7])
    await clock.advance(0.5)
    assert [n for _, _, n in driver.sent] == ["3001", "3002"]  # 3002 in the module
    await gw.sending.remove([7])
    view = gw.sending.task(7)
    assert view is not None and view.state == TaskState.REMOVED and view.unsent == 0 and view.sending == 1
    await clock.advance(5)
    assert gw.sending.task(7) is None and gw.sending.open_tasks() == []
    assert [n for _, _, n in driver.sent] == ["3001", "3002"]


class TroubledModems(ScriptedModems):
    """Numbers name what the module does: 7001 goes away (an expected failure), 7002 hits a bug in the
    driver, 7003 is taken by a module that then never says how it went."""

    async def send_sms(self, port, slot, number, text, smsc, report=False):
        self.sent.append((self.clock.time(), port, number))
        if number == "7001":
            raise ModuleError("port 1: the line closed")
        if number == "7002":
            raise KeyError("a bug")
        if number == "7003":
            return SendResult(False, "the module went away after taking the SMS", unknown=True)
        return SendResult(True)


async def test_module_failures_are_one_line_and_only_bugs_have_tracebacks(tmp_path, clock, caplog):
    gw = Gateway(make_config(tmp_path, ports=1, slots=1), clock=clock, driver=TroubledModems(clock))
    await gw.start()
    clock.add_quiescer(gw.store.quiesce)
    await clock.advance(1)
    rows = []
    gw.sending._reports.job_done = lambda task, job: rows.append((job.number, job.reason, job.carrier))
    with caplog.at_level(logging.INFO, logger="ejoin"):
        await accept(gw, {"tid": 1, "to": "7001,7002,7003,7004", "sms": "x"})
        await clock.advance(5)  # (three failures in a row: the port pauses 1 s, then 2 s)
    await gw.stop()
    assert rows == [
        ("7001", "1 Send failed", "module error: ModuleError"),
        ("7002", "1 Send failed", "module error: KeyError"),
        ("7003", "9 Outcome unknown", "the module went away after taking the SMS"),
        ("7004", "", ""),
    ]
    failed = [r for r in caplog.records if "the module failed" in r.getMessage()]
    assert [(r.levelno, bool(r.exc_info)) for r in failed] == [(logging.WARNING, False), (logging.ERROR, True)]
    assert "port 1: the line closed" in failed[0].getMessage()


def test_the_task_life_cycle_table():
    assert can_move(TaskState.QUEUED, TaskState.PAUSED) and can_move(TaskState.PAUSED, TaskState.QUEUED)
    assert not any(TASK_TRANSITIONS[TaskState.FINISHED]) and not any(TASK_TRANSITIONS[TaskState.REMOVED])
    assert not can_move(TaskState.REMOVED, TaskState.QUEUED)
    with pytest.raises(TransitionRefused, match="removed cannot become queued"):
        raise TransitionRefused(1, TaskState.REMOVED, TaskState.QUEUED)


async def test_periodic_reports_of_many_open_tasks_share_one_timer(engine_gw, clock):
    """A task's sr_prd report is due every period; thousands of open tasks (one per request) need not
    hold a timer each: their reports still come every period, in the order the tasks came."""
    gw, driver = await engine_gw(delay=1000.0, ports=1)  # the port's first SMS takes 1,000 s: all stay open
    reported: list[tuple[float, int]] = []
    emit = gw.sending._reports.emit

    def recording(task):
        reported.append((clock.time(), task.spec.tid))
        emit(task)

    gw.sending._reports.emit = recording
    timers = clock.pending()
    await accept(gw, *({"tid": 600 + i, "to": f"70{i:02d}", "sms": "x", "sr_prd": 60, "tmo": 3600} for i in range(40)))
    await accept(gw, *({"tid": 700 + i, "to": f"71{i:02d}", "sms": "x", "sr_prd": 60, "tmo": 3600} for i in range(40)))
    assert clock.pending() - timers <= 3  # the periodic reports' one, the SMS in the module's and its tmo
    start = clock.time()
    await clock.advance(61)
    first = [tid for _, tid in reported]
    assert first == [*range(600, 640), *range(700, 740)]
    await clock.advance(60)
    assert [tid for _, tid in reported[80:]] == first  # every period again, in the same order
    assert {round(t - start) for t, _ in reported} == {60, 120}


async def test_a_finished_task_has_no_periodic_report_after_its_last(engine_gw, clock):
    gw, driver = await engine_gw(delay=90.0, ports=2)
    reported: list[tuple[float, int]] = []
    emit = gw.sending._reports.emit
    gw.sending._reports.emit = lambda task: (reported.append((clock.time(), task.spec.tid)), emit(task))
    start = clock.time()
    await accept(gw, *({"tid": 800 + i, "to": f"72{i:02d}", "sms": "x", "sr_prd": 60, "tmo": 3600} for i in range(2)))
    await clock.advance(200)
    # the periodic one at 60 s, the last at 90 s when each finished; nothing at 120 or 180 s
    assert [(round(t - start), tid) for t, tid in reported] == [(60, 800), (60, 801), (90, 800), (90, 801)]


async def test_finished_tasks_are_freed_at_once_not_left_to_the_garbage_collector(engine_gw, clock):
    """One task per request means thousands of tasks a second: a task in a reference cycle (its lanes
    held it back) waited for a collection of the oldest generations, which then freed thousands at
    once and stalled the event loop for up to 130 ms (goip_get_status p99)."""
    import gc

    from ejoin.gateway.activity import RECENT_TASKS
    from ejoin.gateway.sending.tasks import Lane, Task

    gw, driver = await engine_gw(ports=2)
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        count = RECENT_TASKS + 50  # more than the dashboard keeps: the oldest are let go
        for start in range(0, count, 50):
            await accept(gw, *({"tid": 900 + i, "to": f"73{i:04d}", "sms": "x"} for i in range(start, start + 50)))
        await clock.advance(30)
        assert len(driver.sent) == count and gw.sending.task_count() == 0
        gc.collect()
        cyclic = [o for o in gc.garbage if isinstance(o, (Task, Lane))]
        assert cyclic == []
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
