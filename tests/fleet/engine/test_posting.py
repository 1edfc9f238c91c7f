"""Sub-tasks go to a member several to a post while one is on its way; each keeps its own fate."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from ejoin.fleet.engine.members import MemberDown, MemberLink
from ejoin.fleet.engine.posting import MAX_TASKS, SubTaskPoster


class Member:
    """A member link whose answers the test gives: each post waits until released."""

    name = "a"

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.release: asyncio.Queue[Any] = asyncio.Queue()

    async def call(self, path: str, *, body: Any = None, **_: Any) -> Any:
        assert path == "/goip_post_sms.html"
        self.bodies.append(body)
        answer = await self.release.get()
        if isinstance(answer, Exception):
            raise answer
        return answer


def ok(body: dict[str, Any], refused: int | None = None) -> dict[str, Any]:
    statuses = [{"tid": t["tid"], "status": "2 Invalid Port" if t["tid"] == refused else "0 OK"} for t in body["tasks"]]
    return {"code": 200, "reason": "OK", "type": "task-status", "status": statuses}


async def test_what_waits_for_a_post_on_its_way_goes_together_in_the_next() -> None:
    member = Member()
    poster = SubTaskPoster(cast(MemberLink, member), lambda: "http://fleet/r")
    first = asyncio.ensure_future(poster.post({"tid": 1, "to": ["1"]}))
    await asyncio.sleep(0)
    later = [asyncio.ensure_future(poster.post({"tid": t, "to": ["1"]})) for t in (2, 3, 4)]
    await asyncio.sleep(0)
    assert [[t["tid"] for t in b["tasks"]] for b in member.bodies] == [[1]]  # a lone one goes at once
    member.release.put_nowait(ok(member.bodies[0]))
    assert (await first)[0] == "0 OK"
    while len(member.bodies) < 2:
        await asyncio.sleep(0)
    assert [t["tid"] for t in member.bodies[1]["tasks"]] == [2, 3, 4]
    assert member.bodies[1]["sr_url"] == "http://fleet/r"
    assert (member.bodies[1]["sr_cnt"], member.bodies[1]["sr_prd"]) == (100, 0)  # no report held, many per push
    member.release.put_nowait(ok(member.bodies[1], refused=3))
    assert [(await t)[0] for t in later] == ["0 OK", "2 Invalid Port", "0 OK"]  # each its own status


async def test_a_post_without_answer_leaves_each_of_its_sub_tasks_without_one() -> None:
    member = Member()
    poster = SubTaskPoster(cast(MemberLink, member), lambda: "http://fleet/r")
    first = asyncio.ensure_future(poster.post({"tid": 1, "to": ["1"]}))
    await asyncio.sleep(0)
    later = [asyncio.ensure_future(poster.post({"tid": t, "to": ["1"]})) for t in (2, 3)]
    member.release.put_nowait(MemberDown("member a does not answer"))
    with pytest.raises(MemberDown):
        await first
    member.release.put_nowait(MemberDown("member a does not answer"))
    for t in later:
        with pytest.raises(MemberDown):
            await t
    assert len(member.bodies) == 2  # the second post carried both waiting sub-tasks


async def test_a_post_carries_at_most_its_share_and_the_rest_follow() -> None:
    member = Member()
    poster = SubTaskPoster(cast(MemberLink, member), lambda: "http://fleet/r")
    first = asyncio.ensure_future(poster.post({"tid": 0, "to": ["1"]}))
    await asyncio.sleep(0)
    many = [asyncio.ensure_future(poster.post({"tid": t, "to": ["1"]})) for t in range(1, MAX_TASKS + 6)]
    big = asyncio.ensure_future(poster.post({"tid": 999, "to": ["1"] * 30_000}))  # alone: past the recipient cap
    for i in range(4):
        while len(member.bodies) <= i:
            await asyncio.sleep(0)
        member.release.put_nowait(ok(member.bodies[i]))
    await asyncio.gather(first, *many, big)
    assert [len(b["tasks"]) for b in member.bodies] == [1, MAX_TASKS, 5, 1]


async def test_closing_abandons_the_posts_on_their_way() -> None:
    member = Member()
    poster = SubTaskPoster(cast(MemberLink, member), lambda: "http://fleet/r")
    first = asyncio.ensure_future(poster.post({"tid": 1, "to": ["1"]}))
    await asyncio.sleep(0)
    waiting = asyncio.ensure_future(poster.post({"tid": 2, "to": ["1"]}))
    await asyncio.sleep(0)
    await poster.close()
    for t in (first, waiting):
        with pytest.raises(MemberDown):
            await t


async def test_the_answer_to_a_post_is_recorded_once_for_all_its_sub_tasks_before_any_hears() -> None:
    member = Member()
    recorded: list[list[Any]] = []
    heard: list[int] = []

    async def answered(keys: list[Any]) -> None:
        assert heard == []  # before any poster hears of its status
        recorded.append(keys)

    poster = SubTaskPoster(cast(MemberLink, member), lambda: "http://fleet/r", answered)

    async def post(tid: int) -> str:
        status = (await poster.post({"tid": tid, "to": ["1"]}, key=100 + tid))[0]
        heard.append(tid)
        return status

    first = asyncio.ensure_future(post(1))
    while not member.bodies:
        await asyncio.sleep(0)
    later = [asyncio.ensure_future(post(t)) for t in (2, 3)]
    await asyncio.sleep(0)
    member.release.put_nowait(ok(member.bodies[0]))
    assert await first == "0 OK"
    while len(member.bodies) < 2:
        await asyncio.sleep(0)
    heard.clear()
    member.release.put_nowait(ok(member.bodies[1], refused=3))
    assert [await t for t in later] == ["0 OK", "2 Invalid Port"]
    assert recorded == [[101], [102, 103]]  # a refused one is answered too: its units fail with the refusal


async def test_an_answer_that_cannot_be_recorded_counts_as_none() -> None:
    """The member has the sub-tasks, but the fleet could not write so: they wait as if unanswered, and
    are reconciled with the member (asked, never posted blindly again)."""
    member = Member()

    async def answered(keys: list[Any]) -> None:
        raise OSError("the ledger is away")

    poster = SubTaskPoster(cast(MemberLink, member), lambda: "http://fleet/r", answered)
    first = asyncio.ensure_future(poster.post({"tid": 1, "to": ["1"]}, key=7))
    while not member.bodies:
        await asyncio.sleep(0)
    member.release.put_nowait(ok(member.bodies[0]))
    with pytest.raises(MemberDown):
        await first
    second = asyncio.ensure_future(poster.post({"tid": 2, "to": ["1"]}, key=8))  # the poster goes on
    while len(member.bodies) < 2:
        await asyncio.sleep(0)
    member.release.put_nowait(ok(member.bodies[1]))
    with pytest.raises(MemberDown):
        await second
