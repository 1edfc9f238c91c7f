"""A full disk mid-send: nothing reported before it is written, nothing dropped, no busy loop."""

from __future__ import annotations

import logging

from ..conftest import DiskFullStore


async def _final_report(receiver, tid):
    for push in receiver.of_type("status-report"):
        for rpt in push["rpts"]:
            if rpt["tid"] == tid and rpt["unsent"] == 0 and rpt["sending"] == 0:
                return rpt
    return None


async def test_outcomes_written_while_the_disk_is_full_are_retried_and_reported_once(
    device_factory, receiver, tmp_path, caplog
):
    store = DiskFullStore(tmp_path / "data" / "ejoin.sqlite3")
    dev = await device_factory(store=store)
    await dev.settle()
    n = 40
    numbers = ",".join(f"1380000{i:04d}" for i in range(n))
    await dev.send_ok({"tid": 7, "to": numbers, "sms": "x", "sdr": 1, "fdr": 1, "sr_cnt": 5}, sr_url=receiver.url)
    await dev.clock.advance(3)  # some SMS out, some waiting
    with caplog.at_level(logging.DEBUG):
        store.full = True
        for _ in range(60):
            await dev.clock.advance(1)
        writes_while_full = store.failed_writes
        # backing off: a few dozen failed writes a minute, not thousands
        assert 0 < writes_while_full < 200, writes_while_full
        assert dev.gw.sending.store_fault.failing
        health = await dev.client.get("/healthz")
        assert health.status == 503 and "store" in (await health.json())["problems"][0]
        metrics = await (await dev.client.get("/metrics", params={"username": "root", "password": "root"})).text()
        assert "ejoin_store_writable 0.0" in metrics
        store.full = False
        for _ in range(120):
            await dev.clock.advance(1)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and "store cannot be written" in r.getMessage()]
    assert len(errors) == 1  # once per change of state, not once per failure
    assert not dev.gw.sending.store_fault.failing
    assert (await dev.client.get("/healthz")).status == 200
    metrics = await (await dev.client.get("/metrics", params={"username": "root", "password": "root"})).text()
    assert "ejoin_store_writable 1.0" in metrics
    await receiver.wait_for(
        lambda r: any(
            rp["tid"] == 7 and rp["unsent"] == 0 and rp["sending"] == 0
            for p in r.of_type("status-report")
            for rp in p["rpts"]
        )
    )
    final = await _final_report(receiver, 7)
    assert final["sent"] + final["failed"] == n
    # every SMS reported exactly once over all reports, and "sent" never went backwards
    rows = [
        r for p in receiver.of_type("status-report") for rp in p["rpts"] for r in rp.get("sdr", []) + rp.get("fdr", [])
    ]
    assert sorted(r[0] for r in rows) == list(range(n))
    sent = [rp["sent"] for p in receiver.of_type("status-report") for rp in p["rpts"]]
    assert sent == sorted(sent)
    # and the store agrees after a restart: nothing re-reported as interrupted
    await dev.client.close()
    receiver.pushes.clear()
    dev2 = await device_factory()
    await dev2.clock.advance(5)
    stats = await dev2.get("/goip_get_sms_stat.html", ports="all", slots="all", type=3)
    assert sum(x["sent"] for x in stats["stats"]) == n, stats
    assert all("Interrupted" not in str(p.json) for p in receiver.pushes)
