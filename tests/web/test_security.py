"""Secure sessions (spec 3), the login guard, limits, push signatures."""

import asyncio
import json
import logging
import re

import pytest

from ejoin.protocol import crypt
from ejoin.protocol.task_states import TaskState

USER, PASSWORD = "root", "s3cretpw"


@pytest.fixture
async def dev(device_factory):
    d = await device_factory(password=PASSWORD)
    await d.settle()
    return d


class Client:
    """A platform speaking the secure session by hand, as spec 3 describes."""

    def __init__(self, dev, crypt_name="", expires=None):
        self.dev, self.crypt_name, self.expires = dev, crypt_name, expires
        self.session, self.auth0, self.seq = "", "", 0

    async def open(self, cnonce="123456"):
        params = {"username": USER, "cnonce": cnonce, "auth": crypt.handshake_auth(USER, PASSWORD, cnonce)}
        if self.crypt_name:
            params["crypt"] = self.crypt_name
        if self.expires:
            params["expires"] = str(self.expires)
        resp = await self.dev.client.get("/crypt_sess.json", params=params)
        answer = await resp.json()
        assert answer["code"] == 0, answer
        self.session, self.auth0 = answer["session"], params["auth"]
        return answer

    def params(self, path, seq=None, auth=None, **extra):
        if seq is None:
            self.seq += 1
            seq = self.seq
        return {
            "session": self.session,
            "seq": str(seq),
            "auth": auth or crypt.request_auth(USER, PASSWORD, self.session, seq, path),
            **extra,
        }

    async def get(self, path, **params):
        resp = await self.dev.client.get(path, params=self.params(path, **params))
        return await resp.json()

    async def post(self, path, body: bytes, seq=None, **extra):
        params = self.params(path, seq=seq, **extra)
        if self.crypt_name == "aes-ecb":
            key = crypt.session_key(USER, PASSWORD, self.auth0, self.session, int(params["seq"]))
            body = crypt.encrypt(key, body)
        resp = await self.dev.client.post(path, params=params, data=body)
        return await resp.json()


async def test_handshake(dev):
    c = Client(dev)
    answer = await c.open()
    assert answer["desc"] == "OK" and answer["expires"] == 180 and re.fullmatch(r"[0-9a-f]{32}", answer["session"])
    c2 = Client(dev, expires=600)
    assert (await c2.open("abc"))["expires"] == 600


async def test_handshake_by_post_json(dev):
    body = {"username": USER, "cnonce": "9", "auth": crypt.handshake_auth(USER, PASSWORD, "9"), "crypt": "aes-ecb"}
    resp = await dev.client.post("/crypt_sess.json", data=json.dumps(body))
    assert (await resp.json())["code"] == 0


@pytest.mark.parametrize(
    "params, code, fragment",
    [
        ({"username": USER, "cnonce": "1", "auth": "0" * 32}, 1, "Invalid User"),
        ({"username": "admin", "cnonce": "1", "auth": crypt.handshake_auth("admin", PASSWORD, "1")}, 1, "Invalid User"),
        ({"username": USER, "auth": "x"}, 400, "cnonce"),
        (
            {"username": USER, "cnonce": "1", "auth": crypt.handshake_auth(USER, PASSWORD, "1"), "crypt": "des"},
            400,
            "crypt is aes-ecb",
        ),
        (
            {"username": USER, "cnonce": "1", "auth": crypt.handshake_auth(USER, PASSWORD, "1"), "expires": "0"},
            400,
            "expires",
        ),
    ],
)
async def test_handshake_failures(dev, params, code, fragment):
    answer = await (await dev.client.get("/crypt_sess.json", params=params)).json()
    assert answer["code"] == code and fragment in answer["desc"] and "session" not in answer


async def test_too_many_sessions(device_factory):
    d = await device_factory(password=PASSWORD, max_sessions=2)
    await Client(d).open("1")
    await Client(d, expires=10).open("2")
    params = {"username": USER, "cnonce": "3", "auth": crypt.handshake_auth(USER, PASSWORD, "3")}
    answer = await (await d.client.get("/crypt_sess.json", params=params)).json()
    assert answer["code"] == 503 and "too many open sessions" in answer["desc"]
    await d.clock.advance(11)  # the short one expires and makes room
    await Client(d).open("4")


async def test_a_session_authenticates_every_endpoint(dev):
    c = Client(dev)
    await c.open()
    assert (await c.get("/goip_get_status.html"))["type"] == "dev-status"
    assert (await c.post("/goip_send_cmd.html", b'{"type":"command","op":"lock","ports":"1.01"}')) == {
        "code": 0,
        "reason": "OK",
    }
    assert dev.slot("1.01").record.locked
    res = await c.post("/goip_post_sms.html", b'{"type":"send-sms","tasks":[{"tid":7,"to":"1","sms":"x"}]}')
    assert res["status"] == [{"tid": 7, "status": "0 OK"}]
    for path in (
        "/goip_get_sms.html",
        "/goip_get_sms_stat.html",
        "/goip_get_call_stat.html",
        "/goip_get_esims.html",
        "/sim/state",
    ):
        answer = await c.get(path)
        assert answer["code"] in (0, 200), (path, answer)
    assert (await c.get("/goip_get_tasks.html", port="1"))["total_num"] == 0


async def test_aes_ecb_bodies_are_decrypted_before_the_handler(dev):
    c = Client(dev, crypt_name="aes-ecb")
    await c.open("123456")
    await dev.cmd(op="lock", ports="all")
    res = await c.post("/goip_post_sms.html", b'{"type":"send-sms","tasks":[{"tid":0,"to":"1","sms":"secret"}]}')
    assert res["status"] == [{"tid": 0, "status": "0 OK"}]
    assert await c.post("/goip_pause_sms.html", b'{"tids":[0]}') == {
        "code": 200,
        "reason": "OK",
        "results": [{"tid": 0, "status": "0 OK"}],
    }
    assert dev.gw.sending.task(0).state == TaskState.PAUSED


async def test_aes_ecb_garbage_is_refused(dev):
    c = Client(dev, crypt_name="aes-ecb")
    await c.open()
    resp = await dev.client.post("/goip_pause_sms.html", params=c.params("/goip_pause_sms.html"), data=b"x" * 15)
    assert resp.status == 400 and "cannot be decrypted" in (await resp.json())["reason"]
    # right length, wrong key: decrypts to noise, which is not JSON
    resp = await dev.client.post("/goip_pause_sms.html", params=c.params("/goip_pause_sms.html"), data=b"x" * 16)
    assert resp.status == 400


async def test_replay_and_reorder_are_refused(dev):
    c = Client(dev)
    await c.open()
    assert (await c.get("/goip_get_status.html", seq=5))["type"] == "dev-status"
    for seq in (5, 4):
        answer = await c.get("/goip_get_status.html", seq=seq)
        assert answer["code"] == 409 and "not greater" in answer["desc"] and answer["reason"] == answer["desc"]
    assert (await c.get("/goip_get_status.html", seq=6))["type"] == "dev-status"


async def test_a_wrong_auth_does_not_consume_the_seq(dev):
    c = Client(dev)
    await c.open()
    answer = await c.get("/goip_get_status.html", seq=3, auth="f" * 32)
    assert answer["code"] == 1 and answer["desc"] == "Invalid User"
    # auth for another path does not fit either
    other = crypt.request_auth(USER, PASSWORD, c.session, 3, "/goip_send_cmd.html")
    assert (await c.get("/goip_get_status.html", seq=3, auth=other))["code"] == 1
    assert (await c.get("/goip_get_status.html", seq=3))["type"] == "dev-status"


async def test_unknown_and_expired_sessions(dev):
    answer = await (
        await dev.client.get("/goip_get_status.html", params={"session": "0" * 32, "seq": "1", "auth": "x"})
    ).json()
    assert answer["code"] == 401 and "unknown session" in answer["desc"]
    c = Client(dev)
    await c.open()
    await dev.clock.advance(181)
    answer = await c.get("/goip_get_status.html")
    assert answer["code"] == 401 and "expired" in answer["desc"]


async def test_requests_renew_the_session(dev):
    c = Client(dev)
    await c.open()
    for _ in range(5):
        await dev.clock.advance(150)
        assert (await c.get("/goip_get_status.html"))["type"] == "dev-status"
    assert (await c.get("/goip_get_status.html", expires="30"))["type"] == "dev-status"
    await dev.clock.advance(31)  # the request shortened it to 30 s
    assert (await c.get("/goip_get_status.html"))["code"] == 401


async def test_bad_seq(dev):
    c = Client(dev)
    await c.open()
    answer = await (
        await dev.client.get("/goip_get_status.html", params={"session": c.session, "seq": "one", "auth": "x"})
    ).json()
    assert answer["code"] == 400 and "seq" in answer["desc"]


# --- the login guard ---------------------------------------------------------------


async def test_wrong_credentials_are_slowed_down_then_forgiven(dev):
    async def attempt(password):
        return await (
            await dev.client.get("/goip_get_status.html", params={"username": USER, "password": password})
        ).json()

    for _ in range(3):  # the first misses answer at once
        assert await attempt("guess") == {"code": 1, "reason": "Invalid User"}
    slow = asyncio.ensure_future(attempt("guess"))
    await dev.clock.settle()
    assert not slow.done()  # held back
    await dev.clock.advance(0.25)
    assert (await slow)["code"] == 1
    slow = asyncio.ensure_future(attempt("guess"))
    await dev.clock.advance(0.49)
    assert not slow.done()  # the delay doubled
    await dev.clock.advance(0.01)
    await slow
    # the real password is never slowed, and it clears the count
    assert (await attempt(PASSWORD))["type"] == "dev-status"
    assert dev.gw.guard.misses("127.0.0.1") == 0


def test_the_delay_stays_at_its_cap_however_many_misses():
    """An address that keeps guessing (a flood of unauthenticated junk) is answered after the cap,
    never with a failure: 2 ** n overflowed a float at the 1,028th miss in a row."""
    from ejoin.clock import VirtualClock
    from ejoin.gateway.security import LoginGuard

    guard = LoginGuard(VirtualClock(), cap=5.0)
    delays = [guard.delay_after_miss("10.0.0.9") for _ in range(5000)]
    assert delays[:3] == [0.0, 0.0, 0.0] and delays[3] == 0.25 and set(delays[8:]) == {5.0}


async def test_secrets_never_reach_the_log(dev, caplog):
    caplog.set_level(logging.DEBUG)
    await dev.client.get("/goip_get_status.html", params={"username": USER, "password": "hunter2-guess"})
    await dev.cmd(op="set", push_secret="topsecret-hmac-key")
    c = Client(dev)
    await c.open()
    text = caplog.text
    assert "wrong credentials" in text
    for secret in ("hunter2-guess", PASSWORD, "topsecret-hmac-key"):
        assert secret not in text


# --- limits and signatures ---------------------------------------------------------


async def test_tasks_per_request_limit(device_factory):
    d = await device_factory(max_tasks_per_request=2)
    res = await d.send(*[{"tid": i, "to": "1", "sms": "x"} for i in range(3)])
    assert [s["status"] for s in res["status"]] == ["0 OK", "0 OK", "16 Too Many Task"]


async def test_recipients_per_task_limit(device_factory):
    d = await device_factory(max_recipients=3)
    res = await d.send({"tid": 1, "to": "1,2,3,4", "sms": "x"})
    assert res["status"][0]["status"] == "16 Too Many Task"


async def test_pushes_are_signed_when_a_secret_is_set(device, receiver):
    assert (await device.cmd(op="set", push_secret="k3y"))["par_set"] == 1
    got = await device.cmd(op="get", push_secret="")
    assert got["data"]["push_secret"] == "********"
    await device.status(url=receiver.url, period=0)
    await receiver.wait_count(1)
    push = receiver.pushes[0]
    ts = int(push.headers["X-Ejoin-Timestamp"])
    assert ts == int(device.clock.time())
    assert crypt.verify_push("k3y", ts, push.body, push.headers["X-Ejoin-Signature"])
    await device.cmd(op="set", push_secret="")
    await device.cmd(op="lock", ports="1.01")
    await receiver.wait_count(2)
    assert "X-Ejoin-Signature" not in receiver.pushes[1].headers
