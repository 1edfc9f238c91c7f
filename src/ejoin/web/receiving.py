"""goip_get_sms.html (spec 8): the inbox, by id."""

from __future__ import annotations

from typing import Any, Protocol

import msgspec

from ..gateway.receiving import Inbox, row_of
from ..gateway.settings import DeviceSettings
from ..protocol.codes import ResultCode
from .endpoint import ApiRequest, endpoint, flag, integer


class InboxReply(msgspec.Struct):
    code: int
    reason: str
    ssrc: str
    sms_num: int
    next_sms: int
    data: list[list[Any]]


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
