"""The ledger does not grow without end: finished tasks leave it after task_retention (longer with
quotas, which count from them), as a device prunes its own finished tasks."""

from __future__ import annotations

from typing import Any

import pytest

from ejoin.testing import GatewayThread, PushCollector

from ..conftest import FleetThread, member, until


@pytest.fixture
def fleet_db(both_stores: str) -> str:
    return both_stores


@pytest.mark.parametrize(("quotas", "kept"), [({}, False), ({"sim_day_quota": 500}, True)])
def test_a_finished_task_leaves_the_ledger_after_its_retention(
    tmp_path, platform: PushCollector, fleet_db, quotas, kept
) -> None:
    with GatewayThread(tmp_path / "a", clock="virtual", ports=2, slots=1) as a:
        a.advance(30)
        fleet = FleetThread(
            tmp_path / "fleet", [member(a, "1-2", "a")], db=fleet_db, virtual=True, task_retention=600, **quotas
        ).start()
        ledger: Any = fleet.fleet.ledger
        try:
            task = {"tid": 7001, "to": ["13800000001", "13800000002"], "sms": "x"}
            answer = fleet.post(
                "/goip_post_sms.html", {"type": "send-sms", "sr_url": platform.url, "sr_prd": 0, "tasks": [task]}
            )
            assert answer["status"][0]["status"] == "0 OK"
            [(_, task_id)] = fleet.run(ledger.find([7001]))  # open while the member's clock stands
            fleet.idle()  # dispatched to the member
            a.advance(60)
            platform.wait_for(lambda p: any(r["tid"] == 7001 and r["unsent"] == r["sending"] == 0 for r in p["rpts"]))
            # finished (its tid free again) once the outbox holds its last report: the push may reach the
            # platform before the ledger marks it
            until(lambda: fleet.run(ledger.find([7001])) == [(7001, None)])
            fleet.tick()  # a round of the poll prunes what finished 600 s before it: nothing yet
            assert fleet.run(ledger.task(task_id)) is not None
            # Prunes are hourly, counted from the first one the poll made (which round that was depends on
            # when the status role was taken): within two hours of simulated time one has pruned.
            fleet.advance(7200)
            fleet.tick()
            # a day quota counts what SIMs sent over 24 hours: the task stays that long
            assert (fleet.run(ledger.task(task_id)) is not None) is kept
            assert (fleet.run(ledger.counts(task_id)).total == 2) is kept
        finally:
            fleet.stop()
