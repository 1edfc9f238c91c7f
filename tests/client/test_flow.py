"""The SDK's request flow (client/flow.py), driven by hand: the logic both clients share."""

from __future__ import annotations

import httpx
import pytest

from ejoin.client import DeviceUnreachable, SessionError, calls
from ejoin.client.flow import Auth, Flow, backoff
from ejoin.protocol import crypt


def answer(**body):
    return httpx.Response(200, json={"code": 0, **body})


def finish(steps, response):
    with pytest.raises(StopIteration) as done:
        steps.send(response)
    return done.value.value


def test_plain_credentials_one_request():
    steps = Flow(Auth("root", "pw", False, None), retries=2).run(calls.status())
    request = next(steps)
    assert (request.method, request.path) == ("GET", "/goip_get_status.html")
    assert request.params == {"username": "root", "password": "pw"}
    assert finish(steps, answer(type="dev-status", **{"max-ports": 4})).max_ports == 4


def test_secure_session_opened_first_then_each_request_signed_in_order():
    flow = Flow(Auth("root", "pw", True, None), retries=2)
    steps = flow.run(calls.status())
    hello = next(steps)
    assert hello.path == crypt.HANDSHAKE_PATH and "password" not in hello.params
    signed = steps.send(answer(session="S1"))
    assert signed.params["session"] == "S1" and signed.params["seq"] == "1"
    assert signed.params["auth"] == crypt.request_auth("root", "pw", "S1", 1, "/goip_get_status.html")
    finish(steps, answer())
    steps = flow.run(calls.status())
    assert next(steps).params["seq"] == "2"  # the session stays open


def test_an_expired_session_is_reopened_once():
    flow = Flow(Auth("root", "pw", True, None), retries=2)
    flow.auth.opened({"session": "OLD"})
    steps = flow.run(calls.pushes())
    assert next(steps).params["session"] == "OLD"
    assert steps.send(httpx.Response(401, json={"code": 401, "reason": "expired"})).path == crypt.HANDSHAKE_PATH
    again = steps.send(answer(session="NEW"))
    assert (again.params["session"], again.params["seq"]) == ("NEW", "1")
    with pytest.raises(SessionError):  # refused twice: the caller hears it
        steps.send(httpx.Response(401, json={"code": 401, "reason": "expired"}))


def test_a_query_is_sent_again_after_a_network_failure_signed_anew_and_later():
    flow = Flow(Auth("root", "pw", True, None), retries=2)
    flow.auth.opened({"session": "S"})
    steps = flow.run(calls.status())
    first = next(steps)
    second = steps.throw(httpx.ConnectError("refused"))
    third = steps.throw(httpx.ConnectError("refused"))
    assert [r.params["seq"] for r in (first, second, third)] == ["1", "2", "3"]  # a seq is never sent twice
    assert [r.delay for r in (first, second, third)] == [0.0, backoff(0), backoff(1)]
    with pytest.raises(DeviceUnreachable):
        steps.throw(httpx.ConnectError("refused"))  # retries=2: the third failure is the caller's


def test_sending_is_never_sent_twice():
    steps = Flow(Auth("root", "pw", False, None), retries=5).run(calls.send_sms("1", "once"))
    next(steps)
    with pytest.raises(DeviceUnreachable):
        steps.throw(httpx.ConnectError("refused"))


def test_a_long_call_carries_its_own_timeout():
    steps = Flow(Auth("root", "pw", False, None), retries=0).run(calls.ussd(1, "*100#", timeout=50))
    assert next(steps).timeout == 50 + calls.WAIT_MARGIN


def test_aes_bodies_encrypted_with_the_key_of_their_seq():
    flow = Flow(Auth("root", "pw", False, "aes-ecb"), retries=0)
    steps = flow.run(calls.lock("1"))
    hello = next(steps)
    assert hello.params["crypt"] == "aes-ecb"
    request = steps.send(answer(session="S"))
    key = crypt.session_key("root", "pw", flow.auth.auth0, "S", 1)
    assert crypt.decrypt(key, request.body) == calls.lock("1").body
