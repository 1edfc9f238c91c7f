"""What the fleet works out of a member's last status follows every change of it."""

from __future__ import annotations

from typing import cast

import pytest
from aiohttp import web

from ejoin.clock import VirtualClock
from ejoin.fleet.api import routed
from ejoin.fleet.config import MemberConfig
from ejoin.fleet.engine.members import MemberDown, MemberError, MemberLink
from ejoin.fleet.engine.runtime import Fleet
from ejoin.fleet.engine.status_push import merge_port_status
from ejoin.gateway.ussd import PassthroughRefused


def entry(port: str, st: int, iccid: str = "") -> dict[str, object]:
    return {"port": port, "st": st, "iccid": iccid}


def test_registered_ports_follow_pushed_statuses_also_when_folded_into_the_last_one() -> None:
    link = MemberLink(MemberConfig("a", "http://a", "root", "root", 1, 4), VirtualClock(), 5.0)
    assert link.registered() == ()  # nothing heard yet
    link.heard({"type": "dev-status", "status": [entry("1.01", 3, "8986001"), entry("2.01", 3), entry("3.01", 2)]})
    assert link.registered() == (("1.01", "8986001"), ("2.01", "a:2.01"))
    assert link.registered() is link.registered()  # worked out once per status heard
    # a port-status push changes the last dev-status in place: port 1 loses its network
    merge_port_status(link.status or {}, {"type": "port-status", "port": "1.01", "st": 6})
    link.heard(link.status or {})
    assert link.registered() == (("2.01", "a:2.01"),)
    merge_port_status(link.status or {}, {"type": "port-status", "port": "3.01", "st": 3, "iccid": "8986003"})
    link.heard(link.status or {})
    assert link.registered() == (("2.01", "a:2.01"), ("3.01", "8986003"))


async def test_an_error_answer_is_that_requests_error_and_only_silence_is_down(aiohttp_server) -> None:
    # A member's web server refusing one request (a request line too long: plain text, no JSON) must not
    # make the fleet take a healthy member for down (all its ports 16, pushed) until the next poll.
    async def status(request: web.Request) -> web.Response:
        return web.json_response({"type": "dev-status", "status": [entry("1.01", 3)]})

    async def too_long(request: web.Request) -> web.Response:
        return web.Response(status=400, text=f"Bad Request: {request.path_qs[:300]}")

    app = web.Application()
    app.router.add_get("/goip_get_status.html", status)
    app.router.add_get("/goip_send_at.html", too_long)
    server = await aiohttp_server(app)
    link = MemberLink(MemberConfig("m1", str(server.make_url("")), "root", "s3cret", 1, 1), VirtualClock(), 5.0)
    try:
        assert await link.refresh() is not None and link.up
        with pytest.raises(MemberError) as refused:
            await link.call("/goip_send_at.html", params={"port": "1", "at": "AT" + "X" * 50})
        assert link.up  # it answered
        assert "member m1 answered HTTP 400 without the device's JSON: 'Bad Request:" in str(refused.value)
        assert "s3cret" not in str(refused.value)  # a page echoing the request line carries the password
        assert isinstance(refused.value, MemberDown)  # a post answered so still waits to be reconciled
        await server.close()  # silence: that is down
        with pytest.raises(MemberDown) as silent:
            await link.call("/goip_get_status.html")
        assert not isinstance(silent.value, MemberError) and not link.up
    finally:
        await link.close()


async def test_a_routed_request_answered_with_an_http_error_passes_it_on_with_a_reason() -> None:
    class Answering:
        name, up = "m1", True

        async def call(self, *args: object, **kwargs: object) -> object:
            raise MemberError("m1", 502, b"<html>Bad Gateway</html>")

    with pytest.raises(PassthroughRefused) as refused:
        await routed._routed(cast(Fleet, None), "/goip_send_at.html", cast(MemberLink, Answering()), {}, 10, 6)
    assert refused.value.code == 7
    assert (
        refused.value.reason
        == "7 Server Error: member m1 answered HTTP 502 without the device's JSON: '<html>Bad Gateway</html>'"
    )
