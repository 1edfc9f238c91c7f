"""The fleet operated behind a load balancer: its health check and its metrics (issue 27)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ejoin.testing import GatewayThread, PushCollector

from ..conftest import FleetThread, free_port, member
from ..engine.test_sending import NUMBERS, final, send


def gone(ports: str, name: str = "gone") -> dict[str, Any]:
    return {"name": name, "url": f"http://127.0.0.1:{free_port()}", "ports": ports}  # nothing listens there


def health(fleet: FleetThread) -> tuple[int, dict[str, Any]]:
    answer = httpx.get(fleet.url + "/healthz")  # no credentials: it tells nothing secret
    return answer.status_code, answer.json()


def scrape(fleet: FleetThread) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = httpx.get(fleet.url + "/metrics", auth=("fleet", "secret"))
    assert answer.status_code == 200, answer.text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }


def test_health_names_what_keeps_the_fleet_from_its_work(tmp_path) -> None:
    with GatewayThread(tmp_path / "a", ports=4, slots=1) as a:
        fleet = FleetThread(tmp_path / "fleet", [member(a, "1-4", "a"), gone("5-8")]).start()
        try:
            status, body = health(fleet)
            # a member down: the others send for it, so the fleet still takes traffic, saying so
            assert status == 200 and body["status"] == "degraded"
            [problem] = body["problems"]
            assert problem.startswith("member gone (ports 5-8) is down") and problem.endswith(
                ": connection refused (nothing listens there)"
            )
            assert body["members"] == {"total": 2, "up": 1}
            assert body["ports"] == {"total": 8, "registered": 4}
            assert body["replica"] == {"replicas": 1, "tasks": 0, "status_role": True}

            async def unreachable() -> None:
                raise OSError(111, "Connection refused")

            fleet.fleet.ledger.ping = unreachable  # type: ignore[method-assign]
            status, body = health(fleet)
            assert status == 503 and body["status"] == "failing"
            assert body["problems"][0] == "ledger: does not answer: connection refused (nothing listens there)"
        finally:
            fleet.stop()
        alone = FleetThread(tmp_path / "alone", [gone("1-4")]).start()
        try:
            status, body = health(alone)
            assert status == 503 and body["problems"][0] == "members: none of 1 answers"
        finally:
            alone.stop()
        empty = FleetThread(tmp_path / "empty", []).start()
        try:
            status, body = health(empty)
            assert status == 503 and body["problems"] == ["members: none yet (add them with `ejoin fleet member add`)"]
        finally:
            empty.stop()


def test_a_replica_whose_leases_are_not_renewed_leaves_the_rotation(tmp_path, pg_url: str) -> None:
    with GatewayThread(tmp_path / "a", ports=2, slots=1) as a:
        fleet = FleetThread(tmp_path / "fleet", [member(a, "1-2", "a")], db=pg_url).start()
        try:
            status, body = health(fleet)
            assert status == 200 and body["status"] == "ok" and body["replica"]["replicas"] == 1

            async def stall() -> None:  # its renewals stop, as when the database stalls for it
                holder = fleet.fleet._holder
                assert holder is not None
                holder.cancel()
                await asyncio.gather(holder, return_exceptions=True)

            fleet.run(stall())
            fleet.fleet.renewed_at = time.monotonic() - 25
            status, body = health(fleet)
            assert status == 503
            assert body["problems"] == [
                "leases: not renewed for 25 s (a lease is 10 s): the other replicas take its tasks"
            ]
            assert scrape(fleet)[("ejoin_fleet_lease_age_seconds", ())] >= 25
        finally:
            fleet.stop()


def test_metrics_say_members_ledger_pushes_and_replica(tmp_path, platform: PushCollector) -> None:
    with GatewayThread(tmp_path / "a", ports=4, slots=1) as a:
        fleet = FleetThread(tmp_path / "fleet", [member(a, "1-4", "a"), gone("5-8")]).start()
        try:
            refused = httpx.get(fleet.url + "/metrics", auth=("fleet", "wrong"))
            assert refused.status_code == 401 and refused.json()["code"] == 1
            task = {"tid": 5101, "to": NUMBERS[:6], "sms": "x", "sdr": 1, "sr_cnt": 1000}
            assert send(fleet, platform, task)["status"][0]["status"] == "0 OK"
            assert final(platform, 5101)["sent"] == 6
            m = scrape(fleet)
        finally:
            fleet.stop()
    a_, gone_ = (("member", "a"),), (("member", "gone"),)
    assert (m[("ejoin_fleet_member_up", a_)], m[("ejoin_fleet_member_up", gone_)]) == (1, 0)
    assert m[("ejoin_fleet_member_problem", (("member", "gone"), ("problem", "no_answer")))] == 1
    assert m[("ejoin_fleet_member_problem", (("member", "a"), ("problem", "no_answer")))] == 0
    assert (m[("ejoin_fleet_member_ports", a_)], m[("ejoin_fleet_member_registered_ports", a_)]) == (4, 4)
    answered = m[("ejoin_fleet_member_requests_total", (("member", "a"), ("outcome", "answered")))]
    assert answered >= 2  # its status polls, the sub-task
    assert m[("ejoin_fleet_member_requests_total", (("member", "gone"), ("outcome", "no_answer")))] >= 1
    timed = m[("ejoin_fleet_member_request_seconds_count", a_)]
    assert timed >= answered and m[("ejoin_fleet_member_request_seconds_sum", a_)] > 0
    assert m[("ejoin_fleet_member_request_seconds_bucket", (("le", "+Inf"), ("member", "a")))] == timed
    assert m[("ejoin_fleet_ports", (("state", "registered"),))] == 4
    assert m[("ejoin_fleet_ports", (("state", "lost"),))] == 4  # the member down's
    # the ledger: the task is finished, so no unit of an open task is left
    assert m[("ejoin_fleet_ledger_up", ())] == 1
    assert m[("ejoin_fleet_tasks_open", ())] == 0 and m[("ejoin_fleet_dispatches_in_flight", ())] == 0
    assert {state: m[("ejoin_fleet_units", (("state", state),))] for state in ("pending", "sent")} == {
        "pending": 0,
        "sent": 0,
    }
    # the reports to the platform went through the outbox, counted per destination
    dest = (("destination", platform.url),)
    assert m[("ejoin_push_delivered_total", dest)] >= 1 and m.get(("ejoin_push_queued", dest), 0) == 0
    assert (m[("ejoin_fleet_pushes_waiting", ())], m[("ejoin_fleet_pushes_dead", ())]) == (0, 0)
    assert (m[("ejoin_fleet_replicas", ())], m[("ejoin_fleet_status_role", ())]) == (1, 1)
    assert ("ejoin_fleet_lease_age_seconds", ()) not in m  # no leases on the embedded store
    # the HTTP counters, by route pattern: never a member's secret
    assert (
        m[
            (
                "ejoin_http_requests_total",
                (("method", "POST"), ("route", "/fleet/reports/{member}/{secret}"), ("status", "200")),
            )
        ]
        >= 1
    )


def test_the_units_of_open_tasks_by_state(tmp_path, platform: PushCollector) -> None:
    # one member, its clock standing: what it is given waits with it, so the ledger shows units in flight
    with GatewayThread(tmp_path / "a", clock="virtual", ports=2, slots=1) as a:
        a.advance(30)
        fleet = FleetThread(tmp_path / "fleet", [member(a, "1-2", "a")]).start()
        try:
            task = {"tid": 5102, "to": NUMBERS[:5], "sms": "x", "from": "1", "to_all": 1, "sdr": 1}
            assert send(fleet, platform, task)["status"][0]["status"] == "0 OK"
            fleet.idle()
            # a status URL nobody listens at: the dev-status pushed at once waits in the outbox
            fleet.get("/goip_get_status.html", url=f"http://127.0.0.1:{free_port()}/status")
            fleet.fleet._figures = fleet.fleet._stored = None  # not the figures of a scrape a moment ago
            m = scrape(fleet)
        finally:
            fleet.stop()
            a.advance(60)
    assert m[("ejoin_fleet_tasks_open", ())] == 1
    assert m[("ejoin_fleet_units", (("state", "dispatched"),))] == 5
    assert m[("ejoin_fleet_dispatches_in_flight", ())] == 1
    assert m[("ejoin_fleet_pushes_waiting", ())] >= 1 and m[("ejoin_fleet_pushes_dead", ())] == 0


@pytest.fixture
def fleet_db() -> str:
    return ""


def test_the_fleet_alert_rules_use_only_metrics_a_fleet_exposes(tmp_path, pg_url: str) -> None:
    import re
    from pathlib import Path

    import yaml

    rules = yaml.safe_load((Path(__file__).parents[3] / "deploy" / "prometheus-alerts.yml").read_text())
    [group] = [g for g in rules["groups"] if g["name"] == "ejoin-fleet"]
    with GatewayThread(tmp_path / "a", ports=2, slots=1) as a:
        # on PostgreSQL: the replicas' metrics (leases) are there too
        fleet = FleetThread(tmp_path / "fleet", [member(a, "1-2", "a")], db=pg_url).start()
        try:
            text = httpx.get(fleet.url + "/metrics", auth=("fleet", "secret")).text
        finally:
            fleet.stop()
    exposed = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    assert len(group["rules"]) >= 8
    for rule in group["rules"]:
        for name in re.findall(r"\b(ejoin_[a-z_]+)", rule["expr"]):
            assert name in exposed, (name, rule["alert"])
