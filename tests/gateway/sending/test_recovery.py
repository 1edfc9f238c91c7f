"""Crash recovery of the send engine: a store that stops writing on demand stands for kill -9 (nothing
after that batch reaches the disk), and a new gateway on the same data directory recovers."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

from ejoin.clock import VirtualClock
from ejoin.gateway.runtime import Gateway
from ejoin.protocol.codes import SendFailure

from ...conftest import DiskFullStore, make_config
from .test_engine import ScriptedModems, accept


class DyingStore(DiskFullStore):
    """Writes as usual until its ``die_at``-th transaction; from that one on nothing reaches the disk,
    as if the process had been killed there (reads still answer, so the gateway can be stopped)."""

    def __init__(self, path: Path, die_at: int) -> None:
        super().__init__(path)
        self.die_at = die_at
        self.batches = 0

    def _run_batch(self, conn, batch):
        self.batches += 1
        if self.batches >= self.die_at:
            self.full = True
        return super()._run_batch(conn, batch)


def job_rows(path: Path) -> list[tuple[int, str, int, str]]:
    with sqlite3.connect(path) as conn:
        return list(conn.execute("SELECT idx, port, state, reason FROM job ORDER BY idx"))


async def test_after_a_crash_at_most_the_sms_each_port_had_in_its_module_is_interrupted(tmp_path):
    """What a port finished is on disk before its next SMS is recorded as in a module: at most one
    "interrupted" SMS per port, whatever transaction the crash cuts off."""
    ports = 8
    for run, die_at in enumerate(random.Random(30).sample(range(20, 120), 5)):
        clock = VirtualClock()
        data = tmp_path / f"run{run}"
        config = make_config(data, ports=ports, slots=1)
        db = Path(config.data) / "ejoin.sqlite3"
        store = DyingStore(db, die_at)
        driver = ScriptedModems(clock, delay=0.05)
        gw = Gateway(config, clock=clock, store=store, driver=driver)
        await gw.start()
        clock.add_quiescer(gw.store.quiesce)
        await clock.advance(1)
        await accept(gw, {"tid": 1, "to": ",".join(f"1380000{i:04d}" for i in range(600)), "sms": "x", "fdr": 1})
        while not store.full:
            await clock.advance(0.05)
        await clock.advance(1)  # what the device does after the crash never reaches the disk
        await gw.stop()

        gw2 = Gateway(config, clock=clock, driver=ScriptedModems(clock))
        await gw2.start()  # recovery: what is still "in a module" becomes interrupted
        await gw2.stop()
        rows = job_rows(db)
        interrupted = [(idx, port) for idx, port, _, reason in rows if reason == SendFailure.INTERRUPTED]
        by_port = [port for _, port in interrupted]
        assert len(by_port) == len(set(by_port)) <= ports, (die_at, interrupted)
        # each of them was handed to a module: the device really did not know how it ended
        handed = {number for _, _, number in driver.sent}
        numbers = {idx: f"1380000{idx:04d}" for idx, _ in interrupted}
        assert all(numbers[idx] in handed for idx, _ in interrupted)
