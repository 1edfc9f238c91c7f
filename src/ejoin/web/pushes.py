"""The push queue for operators (not in the vendor's API, so outside its ``goip_*.html`` names).

``GET /ejoin/pushes`` lists every destination with pushes waiting or dead;
``POST /ejoin/pushes/retry`` replays dead pushes, ``POST /ejoin/pushes/drop``
deletes them (and with ``queued=1`` the waiting ones too), for one destination
(``url``) or every one (``all=1``); ``forget=1`` (one ``url``) also drops what is
queued for it later, for the retry window (a report URL that is gone, such as the
one of an ``ejoin send`` that stopped following).  Same credentials as the device API.
"""

from __future__ import annotations

from typing import Protocol

import msgspec

from ..clock import Clock
from ..gateway.activity import Activity
from ..gateway.outbox import Outbox
from ..gateway.settings import PUSH_URLS, DeviceSettings
from ..protocol.codes import ResultCode
from .endpoint import ApiError, ApiRequest, endpoint, flag


class PushDestination(msgspec.Struct):
    url: str
    queued: int  # pushes waiting to be delivered
    dead: int  # pushes in the dead-letter table
    oldest_age: float | None  # seconds since the oldest waiting push was queued
    attempts: int  # failed tries of the push at the head of the queue
    last_error: str
    next_retry_in: float | None  # seconds until the next try, while backing off
    oldest_dead_age: float | None  # seconds since the oldest dead push was queued
    last_died_age: float | None  # seconds since a push of this destination last went dead


class PushesReply(msgspec.Struct):
    code: int
    reason: str
    window: float  # seconds a push is retried before it goes dead (push_retry_window)
    queued: int
    dead: int
    destinations: list[PushDestination]


class PushChangeReply(msgspec.Struct):
    code: int
    reason: str
    count: int  # pushes replayed, or dropped
    destinations: dict[str, int]  # per destination URL


class PushParts(Protocol):
    @property
    def clock(self) -> Clock: ...
    @property
    def outbox(self) -> Outbox: ...
    @property
    def activity(self) -> Activity: ...
    @property
    def settings(self) -> DeviceSettings: ...


class _Target(msgspec.Struct):
    url: str | None = None
    all: str | int | bool | None = None
    queued: str | int | bool | None = None
    forget: str | int | bool | None = None


def _target(req: ApiRequest) -> tuple[str | None, bool, bool]:
    """The destination named (None: all of them), whether waiting pushes are meant too, and whether
    later ones are (``forget``: one destination only)."""
    body = req.json(_Target) if req.body_is_json() else _Target()
    url = req.param("url") or body.url
    every = flag(req.param("all") or _text(body.all), "all")
    queued = flag(req.param("queued") or _text(body.queued), "queued")
    forget = flag(req.param("forget") or _text(body.forget), "forget")
    if url and every:
        raise ApiError(ResultCode.BAD_REQUEST, "give url= (one destination) or all=1, not both", 400)
    if not url and not every:
        raise ApiError(ResultCode.BAD_REQUEST, "give url= (a destination as GET /ejoin/pushes lists it) or all=1", 400)
    if forget and not url:
        raise ApiError(ResultCode.BAD_REQUEST, "forget=1 names one destination (url=)", 400)
    return (url or None), queued, forget


def _text(value: str | int | bool | None) -> str | None:
    if value is None:
        return None
    return ("1" if value else "0") if isinstance(value, bool) else str(value)


async def push_destinations(gw: PushParts) -> list[PushDestination]:
    """Every destination with pushes waiting or dead: the store's counts, the outbox's live retry state."""
    now = gw.clock.time()

    def age(then: float | None) -> float | None:
        return None if then is None else round(max(0.0, now - then), 3)

    memory = {d.url: d for d in gw.outbox.destinations()}
    rows = []
    for s in await gw.outbox.summary():
        live = memory.get(s.dest)
        next_retry = live.next_retry if live is not None and live.next_retry is not None else s.next_at
        rows.append(
            PushDestination(
                url=s.dest,
                queued=s.queued,
                dead=s.dead,
                oldest_age=age(s.oldest_queued),
                attempts=s.attempts,
                last_error=(live.last_error if live is not None and live.last_error else s.last_error),
                next_retry_in=round(max(0.0, next_retry - now), 3) if s.queued and next_retry is not None else None,
                oldest_dead_age=age(s.oldest_dead),
                last_died_age=age(s.last_died),
            )
        )
    return rows


@endpoint()
async def list_pushes(req: ApiRequest, gw: PushParts) -> PushesReply:
    rows = await push_destinations(gw)
    return PushesReply(
        code=ResultCode.OK_HTTP,
        reason="OK",
        window=gw.outbox.policy.window,
        queued=sum(r.queued for r in rows),
        dead=sum(r.dead for r in rows),
        destinations=rows,
    )


@endpoint()
async def retry_pushes(req: ApiRequest, gw: PushParts) -> PushChangeReply:
    url, _, _ = _target(req)
    moved = await gw.outbox.replay(url)
    return PushChangeReply(code=ResultCode.OK_HTTP, reason="OK", count=sum(moved.values()), destinations=moved)


@endpoint()
async def drop_pushes(req: ApiRequest, gw: PushParts) -> PushChangeReply:
    url, queued, forget = _target(req)
    if forget and url:
        setting = next((k for k in PUSH_URLS if gw.settings[k] == url), None)
        if setting is not None:  # the platform's own URL: forgetting it would drop its pushes silently
            raise ApiError(
                ResultCode.BAD_REQUEST, f"{url[:80]} is the device's {setting}: change the setting, not forget it", 400
            )
    dropped = {u: dead + waiting for u, (dead, waiting) in (await gw.outbox.drop(url, queued, forget)).items()}
    if forget and url:
        gw.activity.forget(url)
    return PushChangeReply(code=ResultCode.OK_HTTP, reason="OK", count=sum(dropped.values()), destinations=dropped)
