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
    assert member.bodies[1]["sr_url"] == "http://fleet/r" and member.bodies[1]["sr_cnt"] == 1
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
