"""goip_get_sms of the fleet: every member's inbox merged under the fleet's own ids and ssrc.

Each request first takes what members received since the fleet last asked (by their ids,
kept per member in the ledger), so the answer is what the members hold now; ports are renamed
into fleet numbers.  A member's ids are known exactly: a page whose rows fill its id range is
taken as is, one with gaps (the member pruned or deleted) is read again one SMS at a time.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ...protocol.codes import ResultCode
from ...web.endpoint import ApiRequest, endpoint, flag, integer
from ...web.receiving import InboxReply
from ..engine.members import MemberDown, MemberLink
from ..engine.numbering import PortMap
from ..engine.runtime import Fleet

log = logging.getLogger(__name__)


async def _page(link: MemberLink, first: int, num: int) -> tuple[str, list[list[Any]], int] | None:
    try:
        answer = await link.call("/goip_get_sms.html", params={"sms_id": str(first), "sms_num": str(num)})
    except MemberDown:
        return None
    if not isinstance(answer, dict) or answer.get("code") != 0 or not isinstance(answer.get("data"), list):
        return None
    return str(answer.get("ssrc", "")), [r for r in answer["data"] if isinstance(r, list)], int(answer["next_sms"])


async def take_new(fleet: Fleet, link: MemberLink, ports: PortMap) -> None:
    ssrc, first = await fleet.ledger.inbox_cursor(link.name)
    got = await _page(link, first, 0)
    if got is None:
        return
    their_ssrc, rows, next_id = got
    if ssrc and their_ssrc != ssrc and next_id < first:
        # a new source whose ids start again: read it from the start
        first = 1
        got = await _page(link, 1, 0)
        if got is None:
            return
        their_ssrc, rows, next_id = got
    if len(rows) == next_id - first:
        numbered = list(zip(range(first, next_id), rows, strict=True))
    else:
        numbered = []
        at = first
        while at < next_id:
            one = await _page(link, at, 1)
            if one is None:
                return
            _, single, after = one
            if single:
                numbered.append((after - 1, single[0]))
            at = max(after, at + 1)
    renamed = [(i, [r[0], ports.rename(link.config, str(r[1])), *r[2:]]) for i, r in numbered if len(r) >= 2]
    await fleet.inbound.forward(await fleet.ledger.inbox_add(link.name, their_ssrc, renamed, next_id))


@endpoint()
async def get_sms(req: ApiRequest, fleet: Fleet) -> InboxReply:
    first = integer(req.field("sms_id"), "sms_id", default=1, minimum=1)
    limit = integer(req.field("sms_num"), "sms_num", default=0, minimum=0)
    delete = flag(req.field("sms_del"), "sms_del")
    await asyncio.gather(*(take_new(fleet, link, fleet.ports) for link in fleet.links.values() if link.up))
    rows, next_id = await fleet.ledger.inbox_page(first, limit, delete)
    return InboxReply(code=ResultCode.OK, reason="OK", ssrc=fleet.ssrc, sms_num=len(rows), next_sms=next_id, data=rows)
