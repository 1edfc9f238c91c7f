"""The fleet's own admin endpoints: its members at run time (``ejoin fleet member add/remove/list``).

Not part of the vendor's API (as the push queue's ``/ejoin/pushes`` of a gateway), authenticated
as every fleet endpoint.  A member's password is taken, kept in the ledger, and never shown.
"""

from __future__ import annotations

from typing import Any

from ...config import ConfigError
from ...protocol.answers import FleetMember, MemberReply, MembersReply, WithdrawnReply
from ...protocol.codes import ResultCode
from ...web.endpoint import ApiError, ApiRequest, endpoint, flag
from ..config import member_of
from ..engine.members import MemberLink
from ..engine.runtime import Fleet, MemberBusy, MemberUnfit


def shown(link: MemberLink, sent_twice: int = 0) -> FleetMember:
    m = link.config
    return FleetMember(
        name=m.name,
        url=m.url,
        username=m.username,
        ports=m.ports,
        secure=m.secure,
        crypt=m.crypt,
        up=link.up,
        down_since=link.down_since,
        registered=len(link.registered()),
        sent_twice=sent_twice,
        problem=link.problem.words if link.problem else "",
    )


def former(name: str, settings: dict[str, Any], sent_twice: int) -> FleetMember:
    """A member removed (forced) that sent SMS after its removal which others had been given: listed
    while the ledger keeps their tasks, so that it is seen."""
    return FleetMember(
        name=name,
        url=settings.get("url", ""),
        username=settings.get("username", ""),
        ports=settings.get("ports", ""),
        secure=bool(settings.get("secure")),
        crypt=settings.get("crypt", ""),
        up=False,
        down_since=None,
        registered=0,
        sent_twice=sent_twice,
        problem="removed from the fleet",
        removed=True,
    )


def _body(req: ApiRequest) -> dict[str, Any]:
    body = req.json(Any) if req.has_body() else None
    if not isinstance(body, dict):
        raise ApiError(ResultCode.BAD_REQUEST, "the body is a JSON object", 400)
    return body


async def listed(fleet: Fleet) -> list[FleetMember]:
    """Every member in port order, then members removed that sent SMS twice (while the ledger keeps them)."""
    links = sorted(fleet.links.values(), key=lambda link: link.config.first)
    twice = await fleet.ledger.sent_twice()
    members = [shown(link, twice.get(link.name, 0)) for link in links]
    for name, count in sorted(twice.items()):
        settings = None if name in fleet.links or not count else await fleet.ledger.former_member(name)
        if settings is not None:
            members.append(former(name, settings, count))
    return members


@endpoint()
async def list_members(req: ApiRequest, fleet: Fleet) -> MembersReply:
    return MembersReply(code=ResultCode.OK_HTTP, reason="OK", members=await listed(fleet))


@endpoint()
async def add_member(req: ApiRequest, fleet: Fleet) -> MemberReply:
    raw = _body(req).get("member")
    if not isinstance(raw, dict) or not raw.get("name"):
        raise ApiError(
            ResultCode.BAD_REQUEST,
            'give {"member": {"name", "url", "ports", "username", "password", "secure", "crypt"}}',
            400,
        )
    given = _body(req).get("offline")
    offline = flag(None if given is None else str(int(given)) if isinstance(given, bool) else str(given), "offline")
    try:
        member = member_of(raw, 0, where=f"member {raw['name']}")
        link = await fleet.add_member(member, offline)
    except ConfigError as exc:
        raise ApiError(ResultCode.BAD_REQUEST, str(exc), 400) from None
    except MemberUnfit as exc:
        raise ApiError(ResultCode.BAD_REQUEST, str(exc), 400) from None
    return MemberReply(code=ResultCode.OK_HTTP, reason="OK", member=shown(link))


@endpoint()
async def remove_member(req: ApiRequest, fleet: Fleet) -> WithdrawnReply:
    body = _body(req)
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise ApiError(ResultCode.BAD_REQUEST, 'give {"name": NAME} (and "force": 1 to withdraw its unsent SMS)', 400)
    given = body.get("force")
    force = flag(None if given is None else str(int(given)) if isinstance(given, bool) else str(given), "force")
    try:
        moved = await fleet.remove_member(name, force)
    except KeyError:
        raise ApiError(ResultCode.NOT_FOUND, f"no member named {name}") from None
    except MemberBusy as exc:
        raise ApiError(ResultCode.BAD_REQUEST, str(exc), 409) from None
    return WithdrawnReply(code=ResultCode.OK_HTTP, reason="OK", withdrawn=moved)
