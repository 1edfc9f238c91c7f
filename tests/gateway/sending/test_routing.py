"""The lane queue on its own: one port, SMS that take no time, tasks with and without ``intvl``."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ejoin.gateway.sending.routing import LaneQueue
from ejoin.gateway.sending.tasks import RequestOptions, Task
from ejoin.protocol.ports import PortAddress
from ejoin.protocol.sms import LaneSpec, TaskSpec
from ejoin.protocol.task_states import TaskState

PORT = PortAddress(1, 1)
SMS_TIME = 1.0


def task(task_id: int, n: int, intvl_s: int, own_port: bool) -> Task:
    spec = TaskSpec(
        tid=task_id,
        tid_echo=task_id,
        recipients=[],
        lanes=[LaneSpec(["1"] if own_port else [])],
        sms="x",
        text="x",
        chs="utf8",
        coding=0,
        smstype=0,
        from_text="1" if own_port else "",
        intvl_ms=intvl_s * 1000,
    )
    return Task(task_id, spec, n, RequestOptions(), store=None)  # type: ignore[arg-type]


def run(tasks: list[Task], paused: set[int]) -> list[tuple[float, int]]:
    """Send on one port until nothing is ready for good: [(time, task id)]."""
    queue = LaneQueue()
    for t in tasks:
        if t.id in paused:
            t.move(TaskState.PAUSED)
        else:
            queue.add(t)
    now, sent = 0.0, []
    for _ in range(10_000):
        claim, ready_at = queue.claim(PORT, now)
        if claim is None:
            if ready_at is None:
                return sent
            assert ready_at > now
            now = ready_at  # the port idles only while every waiting lane is in its gap
            continue
        claimed, lane, _ = claim
        # Nothing older was ready at this moment.
        for other in tasks:
            if other.id < claimed.id and other.state == TaskState.QUEUED and other.lanes[0].remaining:
                assert other.lanes[0].not_before.get(1, 0) > now, (other.id, claimed.id, now)
        sent.append((now, claimed.id))
        now += SMS_TIME
        if claimed.spec.intvl_ms:
            lane.not_before[1] = now + claimed.spec.intvl_ms / 1000
    raise AssertionError("did not finish")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 5), st.integers(0, 4), st.booleans()), min_size=1, max_size=6),
    st.sets(st.integers(1, 6), max_size=2),
)
def test_gaps_hold_per_task_and_the_port_never_waits_for_a_task_in_its_gap(shape, paused):
    tasks = [task(i, n, gap, own) for i, (n, gap, own) in enumerate(shape, 1)]
    sent = run(tasks, paused)
    for t in tasks:
        times = [when for when, tid in sent if tid == t.id]
        assert len(times) == (0 if t.id in paused else t.n)  # every recipient once; a paused task nothing
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert all(g >= SMS_TIME + t.spec.intvl_ms / 1000 for g in gaps)
    # The port is busy whenever some task is ready: every idle stretch ends at a gap's end.
    busy = {when for when, _ in sent}
    assert min(busy, default=0.0) == 0.0 or all(t.id in paused for t in tasks)


def test_submission_order_among_ready_tasks():
    a, b = task(1, 2, 3, True), task(2, 2, 0, False)
    assert [tid for _, tid in run([a, b], set())] == [1, 2, 2, 1]
