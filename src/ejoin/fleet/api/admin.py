"""The fleet's own admin endpoints: its members at run time (``ejoin fleet member add/remove/list``).

Not part of the vendor's API (as the push queue's ``/ejoin/pushes`` of a gateway), authenticated
as every fleet endpoint.  A member's password is taken, kept in the ledger, and never shown.
"""

from __future__ import annotations

from typing import Any

from ...gateway.config import ConfigError
from ...protocol.codes import ResultCode
from ...web.endpoint import ApiError, ApiRequest, endpoint, flag
from ..config import member_of
from ..engine.members import MemberLink
from ..engine.runtime import Fleet, MemberBusy


def _shown(link: MemberLink, sent_twice: int = 0) -> dict[str, Any]:
    m = link.config
    registered = len(link.registered())
    return {
        "name": m.name,
        "url": m.url,
        "username": m.username,
        "ports": m.ports,
        "secure": m.secure,
        "crypt": m.crypt,
        "up": link.up,
        "down_since": link.down_since,
        "registered": registered,
        # SMS it sent after the fleet had withdrawn them and given them to another member (failover)
        "sent_twice": sent_twice,
    }


def _body(req: ApiRequest) -> dict[str, Any]:
    body = req.json(Any) if req.has_body() else None
    if not isinstance(body, dict):
        raise ApiError(ResultCode.BAD_REQUEST, "the body is a JSON object", 400)
    return body


@endpoint()
async def list_members(req: ApiRequest, fleet: Fleet) -> Any:
    links = sorted(fleet.links.values(), key=lambda link: link.config.first)
    twice = await fleet.ledger.sent_twice()
    return {
        "code": ResultCode.OK_HTTP,
        "reason": "OK",
        "members": [_shown(link, twice.get(link.name, 0)) for link in links],
    }


@endpoint()
async def add_member(req: ApiRequest, fleet: Fleet) -> Any:
    raw = _body(req).get("member")
    if not isinstance(raw, dict) or not raw.get("name"):
        raise ApiError(
            ResultCode.BAD_REQUEST,
            'give {"member": {"name", "url", "ports", "username", "password", "secure", "crypt"}}',
            400,
        )
    try:
        member = member_of(raw, 0, where=f"member {raw['name']}")
        link = await fleet.add_member(member)
    except ConfigError as exc:
        raise ApiError(ResultCode.BAD_REQUEST, str(exc), 400) from None
    return {"code": ResultCode.OK_HTTP, "reason": "OK", "member": _shown(link)}


@endpoint()
async def remove_member(req: ApiRequest, fleet: Fleet) -> Any:
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
    return {"code": ResultCode.OK_HTTP, "reason": "OK", "withdrawn": moved}


ROUTES = (
    ("GET", "/ejoin/fleet/members", list_members),
    ("POST", "/ejoin/fleet/members/add", add_member),
    ("POST", "/ejoin/fleet/members/remove", remove_member),
)
