"""What the dashboard computes for its pages without a device: the chart's geometry, the state classes,
the failure reasons counted per minute."""

from hypothesis import given, settings
from hypothesis import strategies as st

from ejoin.clock import VirtualClock
from ejoin.gateway.activity import FAILURE_MINUTES, Activity
from ejoin.protocol.codes import PortState
from ejoin.protocol.task_states import JobState
from ejoin.store.base import JobRecord
from ejoin.web.dashboard.board import STATE_CLASSES, Minute, state_class
from ejoin.web.dashboard.render import CHART_H, CHART_W, chart, nice_ceiling

counts = st.integers(min_value=0, max_value=100_000)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(counts, counts, counts), min_size=1, max_size=60))
def test_the_chart_draws_every_minute_inside_its_box(values):
    minutes = tuple(Minute(60 * i, s, f, r) for i, (s, f, r) in enumerate(values))
    c = chart(minutes)
    assert len(c.bars) == len(minutes) and c.totals == tuple(sum(v[i] for v in values) for i in range(3))
    peak = max(max(s + f, r) for s, f, r in values)
    assert c.scale_max >= peak
    for bar in c.bars:
        assert c.left <= bar.x and bar.x + bar.width <= CHART_W
        assert c.top - 1e-6 <= bar.failed_y <= bar.sent_y <= c.bottom <= CHART_H
        assert abs(bar.sent_y + bar.sent_h - c.bottom) < 1e-6  # stacked on the zero line
    for point in c.received.split():
        y = float(point.split(",")[1])
        assert c.top - 0.1 <= y <= c.bottom + 0.1


def test_axis_maxima_are_round():
    assert [nice_ceiling(n) for n in (0, 1, 10, 11, 20, 21, 50, 51, 999, 1001)] == [
        10,
        10,
        10,
        20,
        20,
        50,
        50,
        100,
        1000,
        2000,
    ]


def test_every_port_state_is_in_exactly_one_class():
    for state in PortState:
        owners = [c.key for c in STATE_CLASSES if int(state) in c.codes]
        assert owners == [state_class(int(state)).key], state
    assert state_class(10).key == "other"  # unassigned in the table; a member's newer firmware


def _failed(minute: int, reason: str = "1 Send failed", carrier: str = "") -> JobRecord:
    return JobRecord(1, 0, 0, "139", "1.01", JobState.FAILED, minute * 60 + 5, reason, carrier)


def test_failure_reasons_are_kept_per_minute_for_a_day():
    activity = Activity(VirtualClock())
    seen: list[int] = []
    activity.listeners.append(seen.append)
    activity.job_done(None, _failed(100, carrier="21 Short message transfer rejected"))
    activity.job_done(None, _failed(100, "6 Timeout"))
    activity.job_done(None, _failed(160, carrier="21 Short message transfer rejected"))
    assert activity.failures_since(0) == {"21 Short message transfer rejected": 2, "6 Timeout": 1}
    assert activity.failures_since(101) == {"21 Short message transfer rejected": 1}
    assert seen == [1, 1, 1]
    activity.job_done(None, _failed(100 + FAILURE_MINUTES))
    assert 100 not in activity.failures and activity.failures_since(0) == {
        "21 Short message transfer rejected": 1,
        "1 Send failed": 1,
    }
