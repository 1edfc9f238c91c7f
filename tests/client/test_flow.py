"""The SDK's request flow (client/flow.py), driven by hand: the logic both clients share."""

from __future__ import annotations

import httpx
import pytest

from ejoin.client import DeviceUnreachable, SessionError, calls
from ejoin.client.flow import Auth, Flow, NoAnswer, Response, backoff
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
    second = steps.throw(NoAnswer("connection refused"))
    third = steps.throw(NoAnswer("connection refused"))
    assert [r.params["seq"] for r in (first, second, third)] == ["1", "2", "3"]  # a seq is never sent twice
    assert [r.delay for r in (first, second, third)] == [0.0, backoff(0), backoff(1)]
    with pytest.raises(DeviceUnreachable):
        steps.throw(NoAnswer("connection refused"))  # retries=2: the third failure is the caller's


def test_sending_is_never_sent_twice():
    steps = Flow(Auth("root", "pw", False, None), retries=5).run(calls.send_sms("1", "once"))
    next(steps)
    with pytest.raises(DeviceUnreachable):
        steps.throw(NoAnswer("connection refused"))


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


def test_a_seq_out_of_step_is_cured_by_a_new_session_as_an_expired_one():
    # Two requests of one session crossing (a caller sharing a client between threads) make the device
    # refuse the later seq first (409): refused before it acted, so the request goes again, in a new
    # session, even one that may not be sent twice (a send).  The fleet reopened on 409 and the SDK did
    # not, until both drove this one flow.
    flow = Flow(Auth("root", "pw", True, None), retries=0)
    flow.auth.opened({"session": "S"})
    steps = flow.run(calls.send_sms("1", "once"))
    assert next(steps).params["session"] == "S"
    refused = httpx.Response(200, json={"code": 409, "reason": "seq 3 was not greater than the last one (4): refused"})
    assert steps.send(refused).path == crypt.HANDSHAKE_PATH
    again = steps.send(answer(session="T"))
    assert (again.params["session"], again.params["seq"]) == ("T", "1")
    body = b'{"code":200,"reason":"OK","status":[{"tid":1,"status":"0 OK"}]}'
    assert finish(steps, Response(200, body)).tid == 1


def test_no_answer_is_said_in_words_whatever_library_failed():
    import socket

    from ejoin.client.errors import unreachable_reason

    def raised(exc: BaseException, under: BaseException) -> BaseException:
        exc.__cause__ = under
        return exc

    refused = raised(httpx.ConnectError("[Errno 111] Connection refused"), ConnectionRefusedError(111, "refused"))
    assert unreachable_reason(refused) == "connection refused (nothing listens there)"
    unknown = raised(httpx.ConnectError("x"), socket.gaierror(-2, "Name or service not known"))
    assert unreachable_reason(unknown) == "unknown host (name or service not known)"
    assert unreachable_reason(httpx.ReadTimeout("timed out")) == "no answer in time"
    unreachable = raised(httpx.ConnectError("x"), OSError(101, "Network is unreachable"))
    assert unreachable_reason(unreachable) == "network is unreachable"
    # the library's own message (which may hold the URL, and so a password) is never said
    assert unreachable_reason(httpx.ConnectError("http://h/?password=s3cret")) == "no answer (ConnectError)"
