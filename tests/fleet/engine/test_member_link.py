"""What the fleet works out of a member's last status follows every change of it."""

from __future__ import annotations

import contextlib
from typing import cast

import pytest
from aiohttp import web

from ejoin.clock import VirtualClock
from ejoin.fleet.api import routed
from ejoin.fleet.config import MemberConfig
from ejoin.fleet.engine.members import MemberDown, MemberError, MemberLink, Problem
from ejoin.fleet.engine.runtime import Fleet
from ejoin.fleet.engine.status_push import merge_port_status
from ejoin.gateway.ussd import PassthroughRefused
from ejoin.protocol import operations as op


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
        await routed._routed(cast(Fleet, None), op.SEND_AT, cast(MemberLink, Answering()), {}, 10, 6)
    assert refused.value.code == 7
    assert (
        refused.value.reason
        == "7 Server Error: member m1 answered HTTP 502 without the device's JSON: '<html>Bad Gateway</html>'"
    )


async def test_why_a_member_is_down_is_said_in_words_once_not_at_every_poll(aiohttp_server, caplog) -> None:
    # A wrong password showed as "member bad1 is down: ValueError", flapping every poll (any answer made it
    # "answer again"); a server that is no EJOIN device as JSONDecodeError; a refused connection as
    # ClientConnectorError.
    async def invalid_user(request: web.Request) -> web.Response:
        return web.json_response({"code": 1, "reason": "Invalid User"})

    async def not_found(request: web.Request) -> web.Response:
        return web.Response(status=404, text="<html><h1>404 Not Found</h1></html>", content_type="text/html")

    wrong = web.Application()
    wrong.router.add_route("*", "/{tail:.*}", invalid_user)
    other = web.Application()
    other.router.add_route("*", "/{tail:.*}", not_found)
    wrong_server, other_server = await aiohttp_server(wrong), await aiohttp_server(other)
    clock = VirtualClock()
    bad1 = MemberLink(MemberConfig("bad1", str(wrong_server.make_url("")), "root", "nope", 1, 4), clock, 5.0)
    bad2 = MemberLink(MemberConfig("bad2", str(other_server.make_url("")), "root", "root", 5, 8), clock, 5.0)
    bad3 = MemberLink(MemberConfig("bad3", f"http://127.0.0.1:{_closed_port()}", "root", "root", 9, 12), clock, 5.0)
    try:
        with caplog.at_level("INFO", logger="ejoin.fleet.engine.members"):
            for _ in range(3):
                for link in (bad1, bad2, bad3):
                    assert await link.refresh() is None and not link.up
                    # an answer to anything else is no sign of life for a member down for its answers
                    with contextlib.suppress(MemberDown):
                        await link.call("/goip_get_sms.html")
        assert bad1.problem == Problem("credentials", "wrong username or password (it answered 1 Invalid User)")
        assert bad2.problem is not None and bad2.problem.kind == "not_ejoin"
        assert bad2.problem.words == (
            f"it answered HTTP 404 without the device's JSON ('<html><h1>404 Not Found</h1></html>'): "
            f"is {bad2.config.url} an EJOIN device?"
        )
        assert bad3.problem == Problem("no_answer", "connection refused (nothing listens there)")
        said = [r.getMessage() for r in caplog.records]
        assert said == [
            f"member {link.name} is down: {link.problem.words}"  # type: ignore[union-attr]
            for link in (bad1, bad2, bad3)
        ]
        assert "nope" not in caplog.text
        assert (bad1.answers.answered, bad2.answers.errors, bad3.answers.silent) == (6, 6, 6)
        assert sum(bad1.answers.buckets) == 6 and bad1.answers.seconds > 0
    finally:
        for link in (bad1, bad2, bad3):
            await link.close()


async def test_a_candidate_member_is_probed_with_its_credentials(aiohttp_server) -> None:
    async def status(request: web.Request) -> web.Response:
        if request.query.get("password") != "right":
            return web.json_response({"code": 1, "reason": "Invalid User"})
        return web.json_response({"type": "dev-status", "status": [entry("1.01", 3)]})

    app = web.Application()
    app.router.add_get("/goip_get_status.html", status)
    server = await aiohttp_server(app)
    for password, found in (("right", None), ("wrong", "credentials")):
        link = MemberLink(MemberConfig("c", str(server.make_url("")), "root", password, 1, 1), VirtualClock(), 5.0)
        try:
            problem = await link.probe()
            assert (problem.kind if problem else None) == found
        finally:
            await link.close()


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
