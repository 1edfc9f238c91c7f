"""Members at run time, status pushes, subscriptions and received SMS with two replicas on one
PostgreSQL, behind the test Balancer: what one replica is told, every replica does; what the
platform gets, it gets once."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from ejoin.testing import GatewayThread, PushCollector

from ..api.test_inbox import receive
from ..conftest import Balancer, FleetThread, free_port, ledger_of, member, until
from .test_sending import NUMBERS, final, reports, send

MEMBER = {"username": "root", "password": "root"}


def member_setting(g: GatewayThread, name: str) -> Any:
    answer = httpx.get(g.url + "/goip_send_cmd.html", params={**MEMBER, "op": "get", name: ""}, timeout=20).json()
    return answer["data"][name]


def lock(g: GatewayThread, ports: str) -> int:
    """A port locked on the member itself (by another client of it)."""
    return int(httpx.get(g.url + "/goip_send_cmd.html", params={**MEMBER, "op": "lock", "ports": ports}).json()["code"])


def queued(g: GatewayThread) -> int:
    """SMS waiting in the member's queues, all ports."""
    return sum(
        httpx.get(g.url + "/goip_get_tasks.html", params={**MEMBER, "port": p}, timeout=20).json()["total_num"]
        for p in range(1, 5)
    )


class Pair:
    """Two replicas of one fleet (virtual clocks: no poll unless the test asks) behind a Balancer
    whose address is their public_url."""

    def __init__(self, tmp_path: Path, pg_url: str, members: list[dict[str, Any]], **settings: Any) -> None:
        lb = free_port()
        self.replicas = [
            FleetThread(
                tmp_path / f"r{i}",
                members,
                db=pg_url,
                lease=2,
                virtual=True,
                public_url=f"http://127.0.0.1:{lb}",
                **settings,
            ).start()
            for i in range(2)
        ]
        self.balancer = Balancer([r.url for r in self.replicas], port=lb).start()

    def stop_one(self, replica: FleetThread) -> None:
        """A replica stopped (SIGTERM): it releases what it holds."""
        self.replicas.remove(replica)
        replica.stop()

    def stop(self) -> None:
        for r in self.replicas:
            r.stop()
        self.balancer.stop()


@pytest.fixture
def pair_of(tmp_path: Path, pg_url: str) -> Iterator[Callable[..., Pair]]:
    made: list[Pair] = []

    def make(members: list[dict[str, Any]], **settings: Any) -> Pair:
        made.append(Pair(tmp_path, pg_url, members, **settings))
        return made[-1]

    yield make
    for pair in made:
        pair.stop()


def test_a_member_added_through_one_replica_serves_on_the_other_and_a_forced_removal_is_done_once(
    tmp_path: Path, pair_of: Callable[..., Pair], platform: PushCollector
) -> None:
    # a's clock never moves: what it is given waits in its queue
    with (
        GatewayThread(tmp_path / "a", clock="virtual", ports=4, slots=1) as a,
        GatewayThread(tmp_path / "b", ports=4, slots=1, seed=2) as b,
        GatewayThread(tmp_path / "c", ports=4, slots=1, seed=3) as c,
    ):
        a.advance(30)  # its SIMs register
        r1, r2 = pair_of([member(a, "1-4", "a"), member(b, "5-8", "b")]).replicas
        added = r1.post("/ejoin/fleet/members/add", {"member": member(c, "9-12", "c")})
        assert added["code"] == 200
        # r2 attached it at once (NOTIFY), and asked its status: its ports are registered there too
        until(lambda: "c" in r2.fleet.links and r2.fleet.links["c"].registered())
        assert [m["name"] for m in r2.get("/ejoin/fleet/members")["members"]] == ["a", "b", "c"]
        status = {e["port"]: e["st"] for e in r2.get("/goip_get_status.html")["status"]}
        assert [status[f"{p}.01"] for p in range(9, 13)] == [3, 3, 3, 3]
        # r2 sends through c (ports it learnt from r1's command)
        assert send(r2, platform, {"tid": 8001, "to": NUMBERS[:2], "sms": "x", "from": "9"})["status"][0]["status"] == (
            "0 OK"
        )
        assert final(platform, 8001)["sent"] == 2

        # a task r2 owns, some of it held on a; a removed with force through r1
        task = {"tid": 8002, "to": NUMBERS, "sms": "x", "sdr": 1, "sr_cnt": 1000}
        assert send(r2, platform, task)["status"][0]["status"] == "0 OK"
        r2.idle()
        assert queued(a) > 0
        removed = r1.post("/ejoin/fleet/members/remove", {"name": "a", "force": 1})
        assert removed["code"] == 200 and removed["withdrawn"] > 0
        # r2, the task's owner, detached a and sent what was withdrawn through b and c
        report = final(platform, 8002)
        assert "a" not in r2.fleet.links and "a" not in r1.fleet.links
        assert queued(a) == 0  # removed on a (once it is gone, its queue can never send them)
        a.advance(60)  # a's modules move again
        stats = httpx.get(a.url + "/goip_get_sms_stat.html", params=MEMBER, timeout=20).json()["stats"]
        # only what its modules had in hand at the removal (one a port) goes out: as after a failover,
        # those may go out twice (docs/fleet.md); nothing of what it queued
        assert sum(r["sent_ok"] for r in stats) <= 4
    assert (report["sent"], report["failed"], report["unsent"]) == (40, 0, 0)
    rows = [r for rep in reports(platform, 8002) for r in rep["sdr"]]
    assert sorted(r[0] for r in rows) == list(range(40))  # each recipient once, none withdrawn twice
    assert {int(r[2].split(".")[0]) for r in rows} <= set(range(5, 13))


def test_a_member_recorded_without_a_notification_is_attached_by_the_lease_loop(
    tmp_path: Path, pair_of: Callable[..., Pair], pg_url: str
) -> None:
    with GatewayThread(tmp_path / "b", ports=2, slots=1) as b:
        r1, r2 = pair_of([]).replicas
        # as if the NOTIFY were lost (a listener reconnecting): the row alone, written behind their backs
        settings = {**member(b, "1-2", "b"), "secure": False}
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("INSERT INTO members (name, settings) VALUES ('b', %s)", (json.dumps(settings),))
        for r in (r1, r2):
            until(lambda r=r: "b" in r.fleet.links)
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("UPDATE members SET removed=1 WHERE name='b'")
        for r in (r1, r2):
            until(lambda r=r: "b" not in r.fleet.links)


def test_status_pushes_reach_the_platform_once_from_two_replicas(
    tmp_path: Path, two_members: tuple[GatewayThread, GatewayThread], pair_of: Callable[..., Pair]
) -> None:
    a, b = two_members
    with PushCollector() as platform:
        pair = pair_of([member(a, "1-4", "a"), member(b, "5-8", "b")], status_poll=1000)
        r1, r2 = pair.replicas
        assert [r1.fleet.status_push.leading, r2.fleet.status_push.leading].count(True) == 1
        r1.get("/goip_get_status.html", url=platform.url, period="60")  # a dev-status at once, from r1
        platform.wait_for(lambda p: p["type"] == "dev-status")
        until(lambda: r2.fleet.status_push.url == platform.url)  # r2 read the setting (NOTIFY "s")
        assert r2.get("/goip_send_cmd.html", op="get", status_url="")["data"] == {"status_url": platform.url}
        for r in (r1, r2):
            r.advance(60)  # each replica's period: only the holder of the status role pushes
        platform.wait_for(lambda p: len(platform.of_type("dev-status")) == 2)

        # b's port 2 locked on b itself: b pushes to the balancer (one replica), and both polls see it
        assert (
            httpx.get(b.url + "/goip_send_cmd.html", params={**MEMBER, "op": "lock", "ports": "2"}).json()["code"] == 0
        )
        platform.wait_for(lambda p: p["type"] == "port-status" and p["port"] == "6.01")
        for r in (r1, r2):
            r.tick()
        # a later change, pushed in order after anything the polls queued
        assert (
            httpx.get(b.url + "/goip_send_cmd.html", params={**MEMBER, "op": "lock", "ports": "3"}).json()["code"] == 0
        )
        platform.wait_for(lambda p: p["type"] == "port-status" and p["port"] == "7.01")
        for r in (r1, r2):
            r.tick()
        assert [p["port"] for p in platform.of_type("port-status")] == ["6.01", "7.01"]
        assert len(platform.of_type("dev-status")) == 2

        # the holder stops: the other takes the role and pushes the next periodic dev-status
        leader, other = (r1, r2) if r1.fleet.status_push.leading else (r2, r1)
        pair.stop_one(leader)
        until(lambda: other.fleet.status_push.leading)
        other.advance(60)
        platform.wait_for(lambda p: len(platform.of_type("dev-status")) == 3)


def test_replicas_subscribe_members_alike_and_an_sms_pushed_to_one_and_pulled_by_the_other_is_one_sms(
    tmp_path: Path, two_members: tuple[GatewayThread, GatewayThread], pair_of: Callable[..., Pair]
) -> None:
    a, b = two_members
    with PushCollector() as platform:
        pair = pair_of([member(a, "1-4", "a"), member(b, "5-8", "b")])
        r1, r2 = pair.replicas
        for g, name in ((a, "a"), (b, "b")):  # both replicas gave the balancer's URLs, the same
            assert member_setting(g, "status_url") == f"{pair.balancer.url}{r1.fleet.links[name].push_path}"
            assert member_setting(g, "sms_url").startswith(f"{pair.balancer.url}/fleet/sms/{name}/")
        # the platform's receive URL given through r1 is r2's at once
        assert r1.get("/goip_send_cmd.html", op="set", sms_url=platform.url)["code"] == 0
        assert r2.get("/goip_send_cmd.html", op="get", sms_url="")["data"] == {"sms_url": platform.url}

        pair.balancer.backends = [r1.url]  # b's push lands on r1
        receive(b, "3", "13911110009", "pushed to r1")
        push = platform.wait_for(lambda p: p["type"] == "recv-sms")
        assert [(r[1], r[3]) for r in push["sms"]] == [("7.01", "13911110009")]
        pulled = r2.get("/goip_get_sms.html")  # r2 pulls b's inbox: the same SMS, known already
        assert [r[3] for r in pulled["data"]] == ["13911110009"]
        assert r1.get("/goip_get_sms.html")["data"] == pulled["data"]

        # the other way: a's push finds no replica for a while (a retries it), r1 pulls it first, and
        # a's retry lands on r2
        pair.balancer.backends = [f"http://127.0.0.1:{free_port()}"]
        a_sms = "13911110010"
        receive(a, "1", a_sms, "to a")
        assert [r[3] for r in r1.get("/goip_get_sms.html")["data"]][-1] == a_sms
        platform.wait_for(lambda p: any(r[3] == a_sms for r in p.get("sms", [])))
        pair.balancer.backends = [r2.url]
        receive(b, "4", "13911110011", "last")  # pushed after the others: delivered after any repeat
        platform.wait_for(lambda p: any(r[3] == "13911110011" for r in p.get("sms", [])))
        rows = [r for p in platform.of_type("recv-sms") for r in p["sms"]]
        assert sorted(r[3] for r in rows) == ["13911110009", a_sms, "13911110011"]  # each SMS once
        assert len(r2.get("/goip_get_sms.html")["data"]) == 3


def test_a_replica_does_not_take_a_members_subscription_from_another(
    tmp_path: Path, two_members: tuple[GatewayThread, GatewayThread], pair_of: Callable[..., Pair]
) -> None:
    a, _ = two_members
    r1, r2 = pair_of([member(a, "1-4", "a")], status_poll=1000).replicas
    # r2 misconfigured with its own address: it subscribes a there first (the last to subscribe wins)
    r2.fleet.public_url = r2.url
    r2.fleet.links["a"].subscribe_again()
    r2.tick()
    theirs = member_setting(a, "status_url")
    assert theirs.startswith(r2.url + "/fleet/status/a/")
    # r1 hears nothing from a now (its pushes go to r2): after three periods its poll finds a pushing
    # to the fleet (another replica) and leaves it so, instead of taking it back
    r1.advance(181)
    r1.tick()
    assert member_setting(a, "status_url") == theirs
    # a whose pushes go elsewhere (not to the fleet) is subscribed again, as before
    elsewhere = {**MEMBER, "op": "set", "status_url": "http://127.0.0.1:9/elsewhere", "status_period": "0"}
    assert httpx.get(a.url + "/goip_send_cmd.html", params=elsewhere, timeout=20).json()["code"] == 0
    r1.advance(181)
    r1.tick()
    assert member_setting(a, "status_url").startswith(r1.fleet.public_url + "/fleet/status/a/")


def test_an_sms_a_dead_replica_took_in_and_never_handed_over_is_pushed_by_another(
    tmp_path: Path, two_members: tuple[GatewayThread, GatewayThread], pair_of: Callable[..., Pair], pg_url: str
) -> None:
    a, _ = two_members
    with PushCollector() as platform:
        r1, _ = pair_of([member(a, "1-4", "a")]).replicas
        assert r1.get("/goip_send_cmd.html", op="set", sms_url=platform.url)["code"] == 0

        async def taken_in() -> list[tuple[int, list[Any]]]:
            # what a replica killed -9 right after taking a push in leaves: in the inbox, not forwarded
            ledger = ledger_of(tmp_path / "dead", pg_url)
            await ledger.open()
            try:
                return await ledger.inbox_pushed("a", [[0, "1.01", 1700000000, "13911110012", "", "eA=="]])
            finally:
                await ledger.close()

        [(fleet_id, _)] = asyncio.run(taken_in())
        push = platform.wait_for(lambda p: p["type"] == "recv-sms")  # two sweeps of the role holder later
        assert [r[3] for r in push["sms"]] == ["13911110012"]
        r1.get("/goip_get_sms.html")
        assert len(platform.of_type("recv-sms")) == 1
        assert fleet_id == 1


def test_members_added_at_once_through_two_replicas_are_checked_against_each_other(
    pair_of: Callable[..., Pair],
) -> None:
    r1, r2 = pair_of([]).replicas
    barrier = threading.Barrier(2)
    answers: dict[str, Any] = {}

    def add(replica: FleetThread, name: str, ports: str) -> None:
        barrier.wait()
        answers[name] = replica.post("/ejoin/fleet/members/add", {"member": member(absent(), ports, name)})

    threads = [threading.Thread(target=add, args=args) for args in ((r1, "x", "1-4"), (r2, "y", "3-6"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(a["code"] for a in answers.values()) == [200, 400]  # ports 3-4 would be both's
    [kept] = [name for name, a in answers.items() if a["code"] == 200]
    for r in (r1, r2):
        until(lambda r=r: list(r.fleet.links) == [kept])


def absent() -> str:
    return f"http://127.0.0.1:{free_port()}"  # no device answers there


def test_the_status_role_and_the_ports_record_between_two_replicas_ledgers(pg_url: str) -> None:
    from ejoin.fleet.ledger.pgdb import PgDatabase
    from ejoin.fleet.ledger.postgres import PgLedger

    async def check() -> None:
        one, two = PgLedger(PgDatabase(pg_url)), PgLedger(PgDatabase(pg_url))
        await one.open()
        await two.open()
        try:
            assert (await one.lead("status"), await two.lead("status")) == (True, False)
            assert await one.lead("status")  # renewed by its holder
            async with one.db.pool.connection() as conn:
                await conn.execute("UPDATE roles SET until=0")  # its holder killed, the lease run out
            assert (await two.lead("status"), await one.lead("status")) == (True, False)
            await two.release()  # stopping: let go at once
            assert await one.lead("status")

            assert await one.ports_changed({"1.01": "a", "2.01": "a"}) == {"1.01", "2.01"}
            assert await two.ports_changed({"1.01": "a", "2.01": "b"}) == {"2.01"}  # 1.01 seen already
            assert await one.ports_changed({"2.01": "b"}) == set()
        finally:
            await one.close()
            await two.close()

    asyncio.run(check())
