"""ejoin.testing, used the way a platform team would: synchronous code, a real HTTP client."""

from __future__ import annotations

import httpx
import pytest

from ejoin.testing import GatewayThread, PushCollector

AUTH = {"username": "root", "password": "root"}


def _send(url: str, report_url: str, **task) -> dict:
    body = {"type": "send-sms", "sr_url": report_url, "sr_prd": 0, "tasks": [{"sms": "hi", **task}]}
    return httpx.post(f"{url}/goip_post_sms.html", params=AUTH, json=body).json()


def test_a_fast_gateway_sends_and_reports_to_the_collector(tmp_path):
    with PushCollector() as pushes, GatewayThread(tmp_path, ports=2, slots=2) as device:
        status = httpx.get(f"{device.url}/goip_get_status.html", params=AUTH).json()
        assert status["max-ports"] == 2
        assert _send(device.url, pushes.url, tid=1, to="13800000001,13800000002")["status"][0]["status"] == "0 OK"
        report = pushes.wait_for(
            lambda p: p["type"] == "status-report" and any(r["sent"] == 2 for r in p["rpts"]), timeout=10
        )
        assert report["rpts"][-1]["unsent"] == 0
        assert pushes.of_type("status-report")


def test_a_virtual_clock_moves_only_when_advanced(tmp_path):
    with PushCollector() as pushes, GatewayThread(tmp_path, clock="virtual", ports=1, slots=1) as device:
        device.advance(60)  # the SIM registers in simulated time
        _send(device.url, pushes.url, tid=7, to="13800000001")
        with pytest.raises(TimeoutError):
            pushes.wait_for(lambda p: p["type"] == "status-report", timeout=0.5)  # no time has passed
        device.advance(60)
        report = pushes.wait_for(lambda p: p["type"] == "status-report", timeout=10)
        assert report["rpts"][0]["tid"] == 7 and report["rpts"][0]["sent"] == 1
        assert device.call(lambda: device.gateway.sending.task_count()) == 0


def test_a_collector_can_play_a_platform_that_is_down(tmp_path):
    with PushCollector() as pushes, GatewayThread(tmp_path, ports=1, slots=1, push_retry_base=0.05) as device:
        pushes.status = 503
        _send(device.url, pushes.url, tid=3, to="13800000001")
        with pytest.raises(TimeoutError):
            pushes.wait_for(lambda p: True, timeout=0.5)
        pushes.status = 200  # back up: the device retried and delivers
        assert pushes.wait_for(lambda p: p["type"] == "status-report", timeout=10)["rpts"][0]["tid"] == 3


def test_advance_needs_the_virtual_clock(tmp_path):
    with GatewayThread(tmp_path, ports=1, slots=1) as device, pytest.raises(RuntimeError):
        device.advance(1)
