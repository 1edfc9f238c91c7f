"""The dashboard over real HTTP on a virtual clock: login, CSRF, pages, actions, live events."""

import asyncio
import re

import pytest


async def login(dev, password="root"):
    page = await dev.client.get("/")
    assert page.status == 200
    html = await page.text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', html).group(1)
    resp = await dev.client.post(
        "/login", data={"username": "root", "password": password, "csrf": csrf}, allow_redirects=False
    )
    return resp


async def logged_in(dev) -> str:
    resp = await login(dev)
    assert resp.status == 303 and resp.headers["Location"] == "/dashboard/ports"
    cookie = resp.cookies["ejoin_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    page = await (await dev.client.get("/dashboard/ports")).text()
    return re.search(r'"X-CSRF-Token": "([^"]+)"', page).group(1)


async def test_root_is_the_login_page_and_pages_need_a_session(device):
    resp = await device.client.get("/")
    assert resp.status == 200 and "<form" in await resp.text()
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Frame-Options"] == "DENY"
    for path in ("/dashboard/ports", "/dashboard/tasks", "/dashboard/inbox", "/dashboard/settings"):
        resp = await device.client.get(path, allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"] == "/", path
    resp = await device.client.get("/dashboard/ports", headers={"HX-Request": "true"})
    assert resp.status == 401 and resp.headers["HX-Redirect"] == "/"
    # the device API is untouched
    assert (await device.status())["type"] == "dev-status"
    api = await device.client.get("/goip_get_status.html", params={"username": "root", "password": "root"})
    assert "Content-Security-Policy" not in api.headers


async def test_wrong_password_and_missing_csrf_are_refused(device):
    resp = await login(device, password="nope")
    assert resp.status == 303 and resp.headers["Location"] == "/?error=login"
    assert "ejoin_session" not in resp.cookies
    assert device.gw.guard.misses("127.0.0.1") == 1
    resp = await device.client.post("/login", data={"username": "root", "password": "root"}, allow_redirects=False)
    assert resp.headers["Location"] == "/?error=stale"
    assert "Wrong user name" in await (await device.client.get("/?error=login")).text()


async def test_actions_need_the_csrf_token(device):
    csrf = await logged_in(device)
    form = {"op": "lock", "ports": "2.01"}
    resp = await device.client.post("/dashboard/ports/command", data=form)
    assert resp.status == 403
    assert not device.slot("2.01").record.locked
    resp = await device.client.post("/dashboard/ports/command", data=form, headers={"X-CSRF-Token": csrf + "x"})
    assert resp.status == 403
    resp = await device.client.post("/dashboard/ports/command", data=form, headers={"X-CSRF-Token": csrf})
    assert resp.status == 200
    html = await resp.text()
    assert 'id="port-2"' in html and "12 User locked" in html
    assert device.slot("2.01").record.locked


async def test_ports_page_shows_every_slot(device):
    await logged_in(device)
    html = await (await device.client.get("/dashboard/ports")).text()
    for p in range(1, 5):
        assert f'id="port-{p}"' in html
    assert html.count("data-slot=") == 16
    assert "3 Registered" in html
    assert device.slot("1.01").record.iccid in html
    assert "simulated" in html


async def test_bad_port_command_says_why(device):
    csrf = await logged_in(device)
    h = {"X-CSRF-Token": csrf}
    resp = await device.client.post("/dashboard/ports/command", data={"op": "lock", "ports": "9"}, headers=h)
    assert resp.status == 400 and "9" in await resp.text()
    resp = await device.client.post("/dashboard/ports/command", data={"op": "format", "ports": "1"}, headers=h)
    assert resp.status == 400


async def test_compose_sends_and_the_task_finishes(device):
    csrf = await logged_in(device)
    form = {"csrf": csrf, "to": "13900000001\n13900000002, 13900000003", "sms": "hello from the dashboard", "from": "2"}
    resp = await device.client.post("/dashboard/compose", data=form, allow_redirects=False)
    assert resp.status == 303, await resp.text()
    task_page = resp.headers["Location"]
    assert task_page.startswith("/dashboard/tasks/")
    html = await (await device.client.get(task_page)).text()
    assert "3 unsent" in html or "2 unsent" in html
    await device.clock.advance(10)
    html = await (await device.client.get(task_page)).text()
    assert "3 sent" in html and 'data-state="finished"' in html
    assert html.count(">sent<") == 3 and "2.01" in html
    rows = await (await device.client.get("/dashboard/tasks/rows")).text()
    assert "finished" in rows


async def test_compose_refusals_are_explained(device):
    csrf = await logged_in(device)
    resp = await device.client.post("/dashboard/compose", data={"csrf": csrf, "to": " ", "sms": "x"})
    assert resp.status == 400 and "at least one number" in await resp.text()
    resp = await device.client.post("/dashboard/compose", data={"csrf": csrf, "to": "1", "sms": "x", "from": "77"})
    assert resp.status == 400 and "2 Invalid Port" in await resp.text()


async def test_buttons_carry_their_values_as_json(device):
    await logged_in(device)
    await device.send_ok({"tid": 9, "from": "1", "to": "1,2,3", "sms": "x"})
    html = await (await device.client.get("/dashboard/tasks/rows")).text()
    assert """hx-vals='{"tid": "9"}'""" in html


async def test_pause_resume_remove(device):
    csrf = await logged_in(device)
    await device.send_ok({"tid": 5, "from": "1", "to": ",".join(f"1390000{i:04d}" for i in range(20)), "sms": "x"})
    h = {"X-CSRF-Token": csrf}
    html = await (await device.client.post("/dashboard/tasks/pause", data={"tid": "5"}, headers=h)).text()
    assert 'data-tid="5" data-state="paused"' in html
    await device.clock.advance(20)
    sent = device.gw.activity.open[next(iter(device.gw.activity.open))].sent
    assert sent <= 1
    html = await (await device.client.post("/dashboard/tasks/resume", data={"tid": "5"}, headers=h)).text()
    assert 'data-state="queued"' in html
    await device.clock.advance(4)
    html = await (await device.client.post("/dashboard/tasks/remove", data={"tid": "5"}, headers=h)).text()
    assert 'data-state="removed"' in html
    res = await device.get("/goip_get_tasks.html", port=1)
    assert res["total_num"] == 0


async def test_inbox_filters(device):
    await logged_in(device)
    for port, sender, text in (("1", "10086", "balance is 5"), ("2", "10010", "welcome"), ("2", "555", "hello again")):
        res = await device.get("/sim/inbound", port=port, sender=sender, text=text)
        assert res["code"] == 0
    await device.clock.advance(1)
    html = await (await device.client.get("/dashboard/inbox")).text()
    assert all(t in html for t in ("balance is 5", "welcome", "hello again"))
    html = await (await device.client.get("/dashboard/inbox", params={"port": "2"})).text()
    assert "balance is 5" not in html and "welcome" in html
    html = await (await device.client.get("/dashboard/inbox", params={"q": "HELLO"})).text()
    assert "hello again" in html and "welcome" not in html
    html = await (await device.client.get("/dashboard/inbox", params={"since": "2999-01-01"})).text()
    assert "welcome" not in html and "Nothing received" in html


async def test_settings_validate_and_save(device, receiver):
    csrf = await logged_in(device)
    resp = await device.client.post("/dashboard/settings", data={"csrf": csrf, "sms_url": "ftp://x", "sms_cnt": "5"})
    assert resp.status == 400 and "not an http" in await resp.text()
    assert device.gw.settings["sms_url"] == "" and device.gw.settings["sms_cnt"] == 1  # all or nothing
    resp = await device.client.post(
        "/dashboard/settings", data={"csrf": csrf, "sms_url": receiver.url, "sms_cnt": "5", "push_secret": ""}
    )
    assert resp.status == 200 and "Saved." in await resp.text()
    assert device.gw.settings["sms_url"] == receiver.url and device.gw.settings["sms_cnt"] == 5
    got = await device.cmd(op="get", sms_url="")
    assert got["data"]["sms_url"] == receiver.url


async def test_pushes_page_shows_a_failing_destination(device, receiver):
    await logged_in(device)
    receiver.status = 503
    await device.cmd(op="set", status_url=receiver.url)
    await device.cmd({"type": "command", "op": "lock", "ports": "1"})
    await receiver.wait_for(lambda r: r.attempts >= 1)
    await device.clock.advance(0.1)
    html = await (await device.client.get("/dashboard/pushes")).text()
    assert receiver.url in html and "HTTP 503" in html


async def test_logout_ends_the_session(device):
    csrf = await logged_in(device)
    resp = await device.client.post("/logout", data={"csrf": csrf}, allow_redirects=False)
    assert resp.status == 303
    resp = await device.client.get("/dashboard/ports", allow_redirects=False)
    assert resp.status == 303


async def test_port_changes_stream_as_events(device):
    csrf = await logged_in(device)
    resp = await device.client.get("/dashboard/events")
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    assert await resp.content.readline() == b"retry: 1000\n"
    await device.client.post(
        "/dashboard/ports/command", data={"op": "lock", "ports": "3"}, headers={"X-CSRF-Token": csrf}
    )
    seen = b""
    async with asyncio.timeout(5):
        while b"12 User locked" not in seen:
            seen += await resp.content.readline()
    assert b"event: port" in seen and b'data: <section class="port down" id="port-3"' in seen
    resp.close()


@pytest.mark.parametrize("path", ["/dashboard/static/htmx.min.js", "/dashboard/static/dashboard.css"])
async def test_assets_ship_in_the_package(device, path):
    resp = await device.client.get(path)
    assert resp.status == 200 and len(await resp.read()) > 1000


async def test_the_ussd_console_walks_a_menu_and_ends_it(device):
    csrf = await logged_in(device)
    assert "USSD" in await (await device.client.get("/dashboard/ussd")).text()

    async def send(**form):
        pending = asyncio.ensure_future(device.client.post("/dashboard/ussd", data={"csrf": csrf, **form}))
        await device.clock.advance(2)  # the network answers in simulated time
        resp = await pending
        return resp.status, await resp.text()

    status, html = await send(port="1", code="*100#")
    assert status == 200 and "1.01 answered" in html and "Your balance is" in html
    status, html = await send(port="1", code="*125*10*5551234#")
    assert "awaits a reply" in html and "End the session" in html
    assert device.gw.passthrough.has_session(1)
    status, html = await send(port="1", cancel="1")
    assert status == 200 and not device.gw.passthrough.has_session(1)
    status, html = await send(port="99", code="*100#")
    assert status == 400 and "2 Invalid Port" in html
    # without the CSRF token nothing is sent
    resp = await device.client.post("/dashboard/ussd", data={"port": "1", "code": "*100#"})
    assert resp.status == 403


async def test_a_device_open_to_anyone_says_so_on_every_page(device_factory, tmp_path):
    dev = await device_factory(host="0.0.0.0")  # reachable by others, with root/root
    await logged_in(dev)
    for path in ("/dashboard/ports", "/dashboard/settings", "/dashboard/pushes"):
        html = await (await dev.client.get(path)).text()
        assert 'class="open-door" role="alert"' in html and "the default credentials root/root" in html, path
    safe = await device_factory(path=tmp_path / "safe", host="0.0.0.0", password="Xk2-long-secret")
    csrf_page = await (await safe.client.get("/")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', csrf_page).group(1)
    await safe.client.post("/login", data={"username": "root", "password": "Xk2-long-secret", "csrf": csrf})
    assert "open-door" not in await (await safe.client.get("/dashboard/ports")).text()
