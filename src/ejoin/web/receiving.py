"""goip_get_sms.html (spec 8): the inbox, by id; /ejoin/inbox/raw: received messages kept raw."""

from __future__ import annotations

from typing import Protocol

from ..gateway.receiving import Inbox, row_of
from ..gateway.settings import DeviceSettings
from ..protocol.answers import InboxReply, RawDropReply, RawInboxReply, RawMessage
from ..protocol.codes import ResultCode
from ..protocol.requests import RawTarget
from .endpoint import ApiError, ApiRequest, endpoint, flag, integer


class InboxParts(Protocol):
    @property
    def inbox(self) -> Inbox: ...
    @property
    def ssrc(self) -> str: ...
    @property
    def settings(self) -> DeviceSettings: ...


@endpoint()
async def get_sms(req: ApiRequest, gw: InboxParts) -> InboxReply:
    # By GET in the query; by POST (spec 8) in the body as well.
    first = integer(req.field("sms_id"), "sms_id", default=1, minimum=1)
    limit = integer(req.field("sms_num"), "sms_num", default=0, minimum=0)
    delete = flag(req.field("sms_del"), "sms_del")
    records, next_id = await gw.inbox.page(first, limit, delete)
    return InboxReply(
        code=ResultCode.OK,
        reason="OK",
        ssrc=gw.ssrc,
        sms_num=len(records),
        next_sms=next_id,
        data=[row_of(r, bool(gw.settings["sms_incomplete_mark"])) for r in records],
    )


# --- /ejoin/inbox/raw: what a module received that is no SMS and no report --------------------------

RAW_PAGE_MAX = 1000


@endpoint()
async def get_raw(req: ApiRequest, gw: InboxParts) -> RawInboxReply:
    first = integer(req.field("id"), "id", default=1, minimum=1)
    limit = integer(req.field("num"), "num", default=100, minimum=1, maximum=RAW_PAGE_MAX)
    records, next_id = await gw.inbox.raw_page(first, limit)
    rows = [RawMessage(r.id, r.port, r.ts, r.pdu, r.reason) for r in records]
    return RawInboxReply(code=ResultCode.OK_HTTP, reason="OK", num=len(rows), next=next_id, raw=rows)


@endpoint()
async def drop_raw(req: ApiRequest, gw: InboxParts) -> RawDropReply:
    given: list[int] | str | int | None
    if req.body_is_json():
        body = req.json(RawTarget)
        every = flag(req.param("all") or _text(body.all), "all")
        given = req.param("ids") or body.ids
    else:  # the query, or a form body
        every = flag(req.field("all"), "all")
        given = req.field("ids")
    ids = _ids(given)
    if every == bool(ids):
        raise ApiError(ResultCode.BAD_REQUEST, "give ids= (as GET /ejoin/inbox/raw lists them) or all=1", 400)
    count = await gw.inbox.raw_drop(None if every else ids)
    return RawDropReply(code=ResultCode.OK_HTTP, reason="OK", count=count)


def _text(value: str | int | bool | None) -> str | None:
    if value is None:
        return None
    return ("1" if value else "0") if isinstance(value, bool) else str(value)


def _ids(value: list[int] | str | int | None) -> list[int]:
    if value is None:
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, list):
        return value
    out = []
    for piece in value.split(","):
        if piece.strip():
            out.append(integer(piece, "ids", default=0, minimum=1))
    return out
