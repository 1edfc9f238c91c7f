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
    assert resp.status == 303 and resp.headers["Location"] == "/dashboard/overview"
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
    assert 'id="card-2"' in html and "12 User locked" in html
    assert device.slot("2.01").record.locked


async def test_ports_page_is_a_matrix_with_a_card_per_port_on_demand(device):
    csrf = await logged_in(device)
    await device.client.post(
        "/dashboard/ports/command", data={"op": "lock", "ports": "2"}, headers={"X-CSRF-Token": csrf}
    )
    html = await (await device.client.get("/dashboard/ports")).text()
    rows = re.findall(r'<tr id="port-(\d+)" class="c-(\w+)" data-state="(\d+)">', html)
    assert [(p, c) for p, c, _ in rows] == [
        ("1", "registered"),
        ("2", "locked"),
        ("3", "registered"),
        ("4", "registered"),
    ]
    cells = re.findall(r'<td class="cell c-(\w+)( on)?"><a [^>]*title="([^"]*)"', html)
    assert len(cells) == 16 and sum(1 for _, on, _ in cells if on) == 4  # one active slot per port
    # hovering a slot says its state, number and (the active one) the module's signal
    first = cells[0][2]
    sim = device.slot("1.01").record.number
    assert first.startswith("1.01: 3 Registered") and sim in first and "signal" in first and "active" in first
    assert device.slot("1.01").record.iccid not in html  # SIM details are in the card, on demand
    # the card of a port: beside the matrix (?port=) or as the panel's content (htmx)
    html = await (await device.client.get("/dashboard/ports", params={"port": "1"})).text()
    assert 'id="card-1"' in html and device.slot("1.01").record.iccid in html and "simulated" in html
    card = await device.client.get("/dashboard/ports/3", headers={"HX-Request": "true"})
    html = await card.text()
    assert card.status == 200 and html.startswith('<section class="port ok" id="card-3"') and "<html" not in html
    plain = await device.client.get("/dashboard/ports/3", allow_redirects=False)
    assert plain.status == 303 and plain.headers["Location"] == "/dashboard/ports?port=3"
    for missing in ("9", "0", "x", "99999999"):
        resp = await device.client.get(f"/dashboard/ports/{missing}", headers={"HX-Request": "true"})
        assert resp.status == 404, missing


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
    assert 'data-tid="5" data-state="sending"' in html  # started before the pause: it is sending, not queued
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
    assert b"event: port" in seen and b'data: <tr id="port-3" class="c-locked" data-state="12">' in seen
    # an SMS sent changes its port's row too (the day's count), though no slot changed
    await device.send_ok({"tid": 1, "from": "1", "to": "13900000001", "sms": "x"})
    await device.clock.advance(5)
    seen = b""
    async with asyncio.timeout(5):
        while b'<tr id="port-1"' not in seen:
            seen += await resp.content.readline()
        seen += await resp.content.readline()
    assert re.search(rb'<td class="today" title="SMS today: 1 sent, 0 failed">1</td>', seen)
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


def figure(html: str, tile: str) -> str:
    """The big number of an overview tile."""
    return re.search(rf'id="{tile}">.*?<p class="figure">([^<]*)</p>', html, re.S).group(1)


async def test_overview_shows_the_day_the_last_hour_the_ports_and_the_pushes(device, receiver):
    csrf = await logged_in(device)
    # a send where the carrier rejects one number (the simulator rejects 999...), an SMS received,
    # a locked port, and a push destination that answers 503
    await device.send_ok({"tid": 1, "from": "1", "to": "13900000001,99900000002,13900000003", "sms": "x"})
    assert (await device.get("/sim/inbound", port="3", sender="10086", text="hello"))["code"] == 0
    await device.clock.advance(10)
    receiver.status = 503
    await device.cmd(op="set", status_url=receiver.url)
    await device.client.post(
        "/dashboard/ports/command", data={"op": "lock", "ports": "2"}, headers={"X-CSRF-Token": csrf}
    )
    await receiver.wait_for(lambda r: r.attempts >= 1)
    await device.clock.advance(0.1)
    home = await device.client.get("/dashboard", allow_redirects=False)
    assert home.headers["Location"] == "/dashboard/overview"
    html = await (await device.client.get("/dashboard/overview")).text()
    assert (figure(html, "today-sent"), figure(html, "today-failed"), figure(html, "today-received")) == ("2", "1", "1")
    assert "<li><b>1</b> 21 Short message transfer rejected</li>" in html  # the carrier's reason, not "1 Send failed"
    assert "1 Send failed" not in html
    # the last hour, a minute a bar, each saying its counts on hover
    assert html.count('<g class="minute">') == 60
    hour = re.findall(r"UTC: (\d+) sent, (\d+) failed, (\d+) received</title>", html)
    assert [sum(int(m[i]) for m in hour) for i in range(3)] == [2, 1, 1]
    assert "in the last hour 2 sent, 1 failed, 1 received" in html
    # ports by the state of their active slot
    states = dict(re.findall(r'data-class="(\w+)"><span class="swatch c-\w+"></span><b>(\d+)</b>', html))
    assert states["registered"] == "3" and states["locked"] == "1" and states["lost"] == "0"
    # the push queue: the failing destination named, with its error
    assert 'class="push-health bad"' in html and "1 destination failing" in html
    assert receiver.url in html and "HTTP 503" in html


async def test_overview_counts_failures_from_before_a_restart_without_inventing_reasons(device_factory):
    dev = await device_factory()
    await dev.settle()
    await dev.send_ok({"tid": 1, "from": "1", "to": "99900000001", "sms": "x"})
    await dev.clock.advance(10)
    await dev.client.close()
    dev = await device_factory()
    await dev.settle()
    await dev.send_ok({"tid": 2, "from": "1", "to": "99900000002,99900000003", "sms": "x"})
    await dev.clock.advance(10)
    await logged_in(dev)
    html = await (await dev.client.get("/dashboard/overview")).text()
    assert figure(html, "today-failed") == "3"
    assert "<li><b>2</b> 21 Short message transfer rejected</li>" in html
    assert re.search(r"<li><b>1</b> <span class=\"hint\">before the gateway started at \d\d:\d\d UTC", html)


async def test_the_overview_is_told_when_ports_change(device):
    csrf = await logged_in(device)
    resp = await device.client.get("/dashboard/events", params={"view": "overview"})
    assert await resp.content.readline() == b"retry: 1000\n"
    await device.client.post(
        "/dashboard/ports/command", data={"op": "lock", "ports": "3"}, headers={"X-CSRF-Token": csrf}
    )
    async with asyncio.timeout(5):
        while (line := await resp.content.readline()) != b"event: changed\n":
            assert line in (b"\n", b": keepalive\n"), line
        assert await resp.content.readline() == b"data: 3\n"
    resp.close()
    # the page asks for its figures again on that event (htmx), and every 10 s anyway
    html = await (await device.client.get("/dashboard/overview")).text()
    assert 'hx-trigger="changed, every 10s"' in html and 'data-events="/dashboard/events?view=overview"' in html


async def test_tasks_show_sending_and_the_carrier_reason(device):
    await logged_in(device)
    numbers = ["99900000000"] + [f"1390000{i:04d}" for i in range(1, 10)]
    await device.send_ok({"tid": 76, "from": "1", "to": "13800000001", "sms": "first"})
    await device.send_ok({"tid": 77, "from": "1", "to": ",".join(numbers), "sms": "x"})
    await device.clock.advance(0)
    rows = await (await device.client.get("/dashboard/tasks/rows")).text()
    assert 'data-tid="76" data-state="sending"' in rows
    assert 'data-tid="77" data-state="queued"' in rows  # waits for port 1: nothing in a module yet
    await device.clock.advance(3)
    rows = await (await device.client.get("/dashboard/tasks/rows")).text()
    assert 'data-tid="77" data-state="sending"' in rows and '<td class="task-state">sending</td>' in rows
    await device.clock.advance(60)
    found = await device.client.get("/dashboard/tasks", params={"tid": "77"}, allow_redirects=False)
    assert found.status == 303
    html = await (await device.client.get(found.headers["Location"])).text()
    assert 'data-state="finished"' in html
    assert 'failed: <span class="reason">21 Short message transfer rejected</span>' in html
    assert html.count('<tr class="sent">') == 9


async def test_a_task_is_found_by_its_tid(device, monkeypatch):
    from ejoin.gateway import activity

    await logged_in(device)
    for tid in (501, 502, 503):
        await device.send_ok({"tid": tid, "from": "1", "to": "13900000001", "sms": f"task {tid}"})
        await device.clock.advance(5)
    found = await device.client.get("/dashboard/tasks", params={"tid": " 502 "}, allow_redirects=False)
    assert found.status == 303 and found.headers["Location"].startswith("/dashboard/tasks/")
    assert "Task 502" in await (await device.client.get(found.headers["Location"])).text()
    for unknown in ("999", "9" * 30, "-1", "abc", "<b>"):
        missing = await device.client.get("/dashboard/tasks", params={"tid": unknown})
        html = await missing.text()
        assert missing.status == 404 and "No task with tid" in html and "<b>" not in html, unknown
    # a tid used again once its first task closed: both listed
    await device.send_ok({"tid": 502, "from": "1", "to": "13900000002", "sms": "again"})
    await device.clock.advance(5)
    html = await (await device.client.get("/dashboard/tasks", params={"tid": "502"})).text()
    assert "2 tasks have tid 502" in html and html.count('data-tid="502"') == 2
    # finished long enough ago to leave the dashboard's memory, but still kept by the store
    monkeypatch.setattr(activity, "RECENT_TASKS", 1)
    await device.send_ok({"tid": 504, "from": "1", "to": "13900000003", "sms": "newest"})
    await device.clock.advance(5)
    assert all(t.tid != 501 for t in device.gw.activity.tasks())
    found = await device.client.get("/dashboard/tasks", params={"tid": "501"}, allow_redirects=False)
    assert found.status == 303
    html = await (await device.client.get(found.headers["Location"])).text()
    assert "Task 501" in html and "1 sent" in html and 'data-state="finished"' in html and "13900000001" in html


async def test_favicon_and_inbox_date_labels(device):
    icon = await device.client.get("/favicon.ico")
    assert icon.status == 200 and (await icon.read())[:4] == b"\x00\x00\x01\x00"  # an ICO
    assert 'rel="icon" href="/dashboard/static/favicon.svg"' in await (await device.client.get("/")).text()
    await logged_in(device)
    html = await (await device.client.get("/dashboard/inbox")).text()
    labels = re.findall(r"<label>([^<]+)<", html)
    assert "Received since " in labels and "Received until " in labels and "From " not in labels


async def test_a_paused_port_says_so_in_its_row_and_its_card(monkeypatch, clock, device_factory):
    from ..conftest import use_driver
    from ..gateway.sending.test_backoff import OneBadModule

    driver = use_driver(monkeypatch, "badmodule", OneBadModule(clock, delay=0.1, bad=2))
    dev = await device_factory(modems="badmodule", ports=2, slots=1)
    await dev.settle()
    await logged_in(dev)
    driver.failing = True
    await dev.send_ok({"tid": 3, "from": "2", "to": "13900000001,13900000002,13900000003", "sms": "x"})
    await dev.clock.advance(0.5)
    html = await (await dev.client.get("/dashboard/ports", params={"port": "2"})).text()
    why = "sending paused: 2 failed in a row (38 Network out of order); next try in 0.5 s"
    assert f'<b class="paused" title="{why}">· paused</b>' in html  # the row
    assert f'<p class="paused" role="status">{why}</p>' in html  # the card
    assert html.count("· paused") == 1  # port 1 sends


async def test_a_finished_task_page_follows_until_its_rows_catch_up(device):
    """A task's counts move before its recipients' outcomes reach the store (they go in the next
    batch): a page drawn in between must keep following, not freeze one row behind."""
    import dataclasses

    from ejoin.web.dashboard.views import BOARD

    await logged_in(device)
    await device.send_ok({"tid": 611, "from": "1", "to": "13900000001,13900000002", "sms": "x"})
    await device.clock.advance(10)
    found = await device.client.get("/dashboard/tasks", params={"tid": "611"}, allow_redirects=False)
    page = found.headers["Location"]
    html = await (await device.client.get(page)).text()
    assert "2 sent" in html and 'data-state="finished"' in html and html.count('<tr class="sent">') == 2
    assert "hx-get" not in html.split('id="task-live"')[1].split(">")[0]  # settled: nothing to follow

    board = device.client.app[BOARD]
    real = board.recipients

    async def one_behind(task, limit):
        rows = await real(task, limit)
        return [*rows[:-1], dataclasses.replace(rows[-1], state="waiting")]

    board.recipients = one_behind
    html = await (await device.client.get(page)).text()
    assert 'data-state="finished"' in html
    assert "hx-get" in html.split('id="task-live"')[1].split(">")[0]  # follows until the rows say so

    async def pruned(task, limit):
        return []  # the store no longer has its recipients: nothing will catch up

    board.recipients = pruned
    html = await (await device.client.get(page)).text()
    assert "hx-get" not in html.split('id="task-live"')[1].split(">")[0]
