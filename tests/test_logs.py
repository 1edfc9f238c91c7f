"""Throttled info lines: every line at a human rate, a count of the rest at machine rates."""

from __future__ import annotations

import logging

import pytest

from ejoin.logs import ThrottledLog


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Lines:
    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self._caplog = caplog

    def __call__(self) -> list[str]:
        return self._caplog.messages


@pytest.fixture
def lines(caplog: pytest.LogCaptureFixture) -> Lines:
    caplog.set_level(logging.INFO, logger="ejoin.test.throttled")
    return Lines(caplog)


def test_every_line_is_logged_under_the_budget(lines: Lines) -> None:
    t = Ticks()
    throttled = ThrottledLog(logging.getLogger("ejoin.test.throttled"), "SMS outcome", per_second=5, clock=t)
    for i in range(5):
        throttled.info("SMS %d sent", i)
    assert lines() == [f"SMS {i} sent" for i in range(5)]


def test_lines_over_the_budget_are_counted_and_said_with_the_next_line(lines: Lines) -> None:
    t = Ticks()
    throttled = ThrottledLog(logging.getLogger("ejoin.test.throttled"), "SMS outcome", per_second=3, clock=t)
    for i in range(10):
        throttled.info("SMS %d sent", i)
    assert lines() == ["SMS 0 sent", "SMS 1 sent", "SMS 2 sent"]
    t.now += 0.5  # still the same second: nothing more
    throttled.info("SMS %d sent", 10)
    assert len(lines()) == 3
    t.now += 0.5  # a new second: the count of what was left out, then the line
    throttled.info("SMS %d sent", 11)
    assert lines()[3:] == ["(8 more SMS outcome lines not shown: over 3 a second)", "SMS 11 sent"]
    throttled.info("SMS %d sent", 12)
    assert lines()[-1] == "SMS 12 sent"  # the count was said once


def test_nothing_is_counted_when_info_is_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="ejoin.test.quiet")
    t = Ticks()
    throttled = ThrottledLog(logging.getLogger("ejoin.test.quiet"), "SMS outcome", per_second=1, clock=t)
    for i in range(5):
        throttled.info("SMS %d sent", i)
    caplog.set_level(logging.INFO, logger="ejoin.test.quiet")
    t.now += 1
    throttled.info("SMS %d sent", 5)
    assert caplog.messages == ["SMS 5 sent"]  # no stale count of lines nobody asked for
