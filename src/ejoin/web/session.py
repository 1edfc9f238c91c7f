"""crypt_sess.json (spec 3): opening a secure session."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..gateway.security import INVALID_USER, SessionRefused
from ..protocol.answers import SessionReply
from ..protocol.messages import WireError, decode_lenient
from .endpoint import DEVICE, ApiRequest, json_response, slow_down


async def crypt_session(request: web.Request) -> web.Response:
    gw = request.app[DEVICE]
    req = ApiRequest(request, b"")
    q: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.can_read_body:
        try:
            body = decode_lenient(await request.read(), dict[str, Any])
        except (WireError, web.HTTPException):
            body = None
        if isinstance(body, dict):
            q.update({k: str(v) for k, v in body.items() if v is not None and k not in q})
    try:
        session = gw.sessions.open(q.get("username"), q.get("cnonce"), q.get("auth"), q.get("crypt"), q.get("expires"))
    except SessionRefused as exc:
        if exc.code == INVALID_USER:
            await slow_down(gw, req, "wrong handshake auth")
        return json_response(SessionReply(code=exc.code, desc=exc.desc))
    gw.guard.succeeded(request.remote or "unknown")
    return json_response(SessionReply(code=0, desc="OK", session=session.id, expires=session.lifetime))
