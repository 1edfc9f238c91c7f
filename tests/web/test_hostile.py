"""Bad input never reaches a 500: every endpoint, garbage bodies and queries."""

import json
import logging
import random

import pytest

ENDPOINTS = [
    "/goip_get_status.html",
    "/goip_send_cmd.html",
    "/goip_send_ussd.html",  # never with a valid code here: keys hold no "ussd"
    "/goip_send_at.html",
    "/sim/insert",
    "/sim/remove",
    "/sim/signal",
    "/sim/registration",
    "/sim/balance",
    "/sim/state",
]
AUTH = {"username": "root", "password": "root"}


def garbage_values(rng: random.Random):
    pool = [
        "",
        "0",
        "-1",
        "99.99",
        "1-",
        "A1",
        "all",
        "*",
        "1.01",
        "1e309",
        "null",
        "[]",
        "{}",
        "\x00",
        "%ff",
        "é",
        "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
        "9" * 400,
        "sim_imei(99999999)",
        "get",
        "set",
        "multiple",
        "lock",
        "switch",
    ]
    return rng.choice(pool) if rng.random() < 0.8 else "".join(chr(rng.randrange(32, 0x2FF)) for _ in range(8))


def garbage_json(rng: random.Random, depth=0):
    kind = rng.randrange(7 if depth < 3 else 4)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.choice([0, -1, 2**63, 1.5, 1e300])
    if kind == 2:
        return garbage_values(rng)
    if kind == 3:
        return rng.choice(["lock", "unlock", "switch", "reset", "multiple", "save", "ledon", "get"])
    if kind == 4:
        return [garbage_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = ["op", "ports", "ops", "type", "port", "value", "outcome", "username", "password", "x"]
    return {rng.choice(keys): garbage_json(rng, depth + 1) for _ in range(rng.randrange(5))}


async def test_fuzzed_requests_never_fail_the_server(device):
    rng = random.Random(20261122)
    cases = 0
    for _ in range(400):
        path = rng.choice(ENDPOINTS)
        params = dict(AUTH)
        for _ in range(rng.randrange(4)):
            params[
                rng.choice(
                    ["op", "ports", "port", "url", "period", "all_slots", "value", "outcome", "sim_imei(1)", "sms_url"]
                )
            ] = garbage_values(rng)
        choice = rng.randrange(4)
        if choice == 0:
            body = json.dumps(garbage_json(rng)).encode()
        elif choice == 1:
            body = bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
        elif choice == 2:
            body = "&".join(f"{garbage_values(rng)}={garbage_values(rng)}" for _ in range(3)).encode()
        else:
            body = b""
        resp = await device.client.post(path, params=params, data=body)
        assert resp.status < 500, (path, params, body, await resp.text())
        assert resp.headers["Content-Type"].startswith("application/json")
        answer = await resp.json()
        assert isinstance(answer, dict)
        if path == "/goip_get_status.html" and "code" not in answer:
            assert answer["type"] == "dev-status"
        else:
            assert isinstance(answer["code"], int) and isinstance(answer["reason"], str)
        cases += 1
    assert cases == 400
    st = await device.status()
    assert st["type"] == "dev-status"  # still serving


@pytest.mark.parametrize("body", [b"not json", b"{", b"\xff\xfe", b'{"op": ["lock"]}', b"[1,2,3]", b'"lock"'])
async def test_non_json_command_bodies_get_400_with_a_reason(device, body):
    resp = await device.client.post("/goip_send_cmd.html", params=AUTH, data=body)
    assert resp.status == 400
    res = await resp.json()
    assert res["code"] == 400 and ("JSON" in res["reason"] or "fit" in res["reason"])


async def test_huge_body_is_refused_cleanly(device_factory):
    dev = await device_factory(max_body=4096)
    resp = await dev.client.post("/goip_send_cmd.html", params=AUTH, data=b"{" + b" " * 10_000 + b"}")
    assert resp.status == 413
    res = await resp.json()
    assert res["code"] == 413 and "4096" in res["reason"]


async def test_unknown_path_and_method_answer_json(device):
    resp = await device.client.get("/goip_nothing.html")
    assert resp.status == 404 and (await resp.json())["code"] == 404
    resp = await device.client.put("/goip_get_status.html")
    assert resp.status == 405 and (await resp.json())["code"] == 405


def _post_paths(app) -> list[str]:
    return sorted({r.resource.canonical for r in app.router.routes() if r.method == "POST"})


DEEP = b'{"tasks":' + b"[" * 5000 + b"]" * 5000 + b"}"
HOSTILE_BODIES = {
    "deep nesting": DEEP,
    "deep nesting in an unknown key": b'{"x":' + b"[" * 3000 + b"]" * 3000 + b', "username":"root"}',
    "5 MB of [": b"[" * (5 * 1024 * 1024),
    "bad UTF-8 in a string": b'{"op":"\xff\xfe","ports":"1","port":"1.01","value":"\xc3"}',
    "bad UTF-8 in a key": b'{"\xff":1}',
}


@pytest.mark.parametrize("with_auth", [True, False], ids=["authenticated", "anonymous"])
@pytest.mark.parametrize("what", list(HOSTILE_BODIES))
async def test_hostile_json_answers_400_or_refusal_never_500(device, what, with_auth):
    body = HOSTILE_BODIES[what]
    params = AUTH if with_auth else {}
    for path in _post_paths(device.client.server.app):
        resp = await device.client.post(path, params=params, data=body)
        text = await resp.text()
        assert resp.status < 500, (path, what, text[:200])
        device.gw.guard.succeeded("127.0.0.1")  # the login guard would slow the next miss down
        if resp.status == 400:
            assert "reason" in json.loads(text), text


BAD_UTF8_FORM = b"username=root&password=\xff\xfe&csrf=\xc3&op=lock&ports=1&to=1&sms=\x80"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def test_invalid_utf8_in_a_form_is_a_400_everywhere(device, caplog):
    """/login (no credentials needed), every dashboard action, every API POST: a 400 in the device's
    JSON shape saying what is wrong, never a 500 or a traceback in the log."""
    from .test_dashboard import logged_in

    resp = await device.client.post("/login", data=BAD_UTF8_FORM, headers=FORM, allow_redirects=False)
    assert resp.status == 400 and (await resp.json())["reason"] == "the form body is not UTF-8"
    csrf = await logged_in(device)
    app = device.client.server.app
    dashboard = sorted(
        {r.resource.canonical for r in app.router.routes() if r.method == "POST" and r.resource.canonical != "/login"}
        - set(_post_paths_of_the_api(app))
    )
    assert len(dashboard) >= 8  # logout, ports command, task pause/resume/remove, compose, ussd, settings
    for path in dashboard:
        resp = await device.client.post(
            path, data=BAD_UTF8_FORM, headers={**FORM, "X-CSRF-Token": csrf}, allow_redirects=False
        )
        assert resp.status == 400, (path, resp.status, await resp.text())
        assert (await resp.json()) == {"code": 400, "reason": "the form body is not UTF-8"}, path
    for path in _post_paths_of_the_api(app):
        resp = await device.client.post(path, params=AUTH, data=BAD_UTF8_FORM, headers=FORM)
        assert resp.status < 500 and isinstance(await resp.json(), dict), path  # read or not: never a failure
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def _post_paths_of_the_api(app) -> list[str]:
    return [p for p in _post_paths(app) if not p.startswith(("/dashboard", "/login", "/logout"))]
