"""Push URLs, periods and counts: one rule for op=set, goip_get_status, send requests and the fleet."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ejoin.protocol.values import MAX_COUNT, MAX_PERIOD, ValueRefused, count, period, push_url


@pytest.mark.parametrize(
    "url", ["http://platform.test/sms", " https://10.0.0.1:8443/r?a=1 ", "http://[::1]:9000/", "HTTP://x/", ""]
)
def test_push_urls_that_a_request_can_be_made_to(url):
    assert push_url(url) == url.strip()


@pytest.mark.parametrize(
    "url, fragment",
    [
        ("http://platform.test/sms\r\nX-Evil: 1", "control character"),
        ("http://platform.test/\nsms", "control character"),
        ("http://platform.test/\x00", "control character"),
        ("http://platform.test/\x7f", "control character"),
        ("ftp://platform.test/", "not an http"),
        ("platform.test/sms", "not an http"),
        ("http:///sms", "not an http"),
        ("http://platform.test:99999/", "is not a URL"),
        ("http://platform.test:0/", "port 0"),
        ("http://platform.test/" + "a" * 2048, "at most 2048 characters"),
    ],
)
def test_push_urls_refused_say_why(url, fragment):
    with pytest.raises(ValueRefused, match=fragment):
        push_url(url)


@given(st.text(max_size=60))
def test_no_accepted_url_carries_a_control_character(text):
    try:
        url = push_url("http://x/" + text)
    except ValueRefused:
        return
    assert not any(ord(c) < 0x20 or ord(c) == 0x7F for c in url)


def test_periods_and_counts_within_their_bounds():
    assert [period(v) for v in ("0", " 60 ", 86_400, 30.0)] == [0, 60, 86_400, 30]
    assert [count(v) for v in ("0", "1", 10_000)] == [0, 1, 10_000]
    for value, fragment in [
        ("99999999999999999999", f"at most {MAX_PERIOD} seconds"),
        (MAX_PERIOD + 1, "at most"),
        ("-1", "cannot be negative"),
        ("often", "not a whole number of seconds"),
        (1.5, "not a whole number"),
        (float("inf"), "not a whole number"),
        (True, "not a whole number"),
    ]:
        with pytest.raises(ValueRefused, match=fragment):
            period(value)
    for value, fragment in [(MAX_COUNT + 1, f"at most {MAX_COUNT}"), ("-2", "cannot be negative"), ("x", "whole")]:
        with pytest.raises(ValueRefused, match=fragment):
            count(value)
