"""The dashboard in a real browser: Playwright driving the system's Chromium (no browser download).

The gateway runs on a thread with short real timings (a send takes 0.3 s), so
what the page shows live is what a person would see.  Waits are Playwright's
own "until this is on the page" with deadlines.  EJOIN_SCREENSHOTS=docs/img
saves a screenshot of each page (the docs' images come from this test).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest

from .threaded import ServerThread

playwright_sync = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (.ci/run installs it)"),
]
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AUTH = {"username": "root", "password": "root"}
TIMING = {
    "card_detect": 0.05,
    "register_min": 0.1,
    "register_max": 0.2,
    "module_restart": 0.1,
    "send_min": 0.3,
    "send_max": 0.3,
    "delivery": 0.2,
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # A big box, as the ports page must show one: 64 ports of 8 slots.
    s = ServerThread(
        str(tmp_path_factory.mktemp("browser")), fast=False, timing=TIMING, login_delay_cap=0.0, ports=64, slots=8
    )
    s.start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def browser():
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def logged_in(browser, server) -> dict:
    """A session opened once through the login form; each test's page starts with its cookie."""
    context = browser.new_context()
    pg = context.new_page()
    pg.goto(server.url + "/")
    pg.fill("input[name=username]", "root")
    pg.fill("input[name=password]", "root")
    pg.click("button[type=submit]")
    pg.wait_for_url("**/dashboard/overview")
    state = context.storage_state()
    context.close()
    return state


def open_page(browser, server, logged_in, path: str, **context_options):
    context = browser.new_context(storage_state=logged_in, **context_options)
    pg = context.new_page()
    errors: list[str] = []  # script errors and refusals by the page's Content-Security-Policy

    def console(message) -> None:
        # a form answered 400 (settings refused) is logged too: that one is meant
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    pg.on("console", console)
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.set_default_timeout(5000)
    pg.goto(server.url + path)
    return pg, errors


@pytest.fixture
def page(browser, server, logged_in):
    pg, errors = open_page(browser, server, logged_in, "/dashboard/ports", viewport={"width": 1280, "height": 900})
    yield pg
    assert not errors
    pg.context.close()


def shot(page, name: str, full_page: bool = True) -> None:
    target = os.environ.get("EJOIN_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(target) / f"{name}.png"), full_page=full_page)


def api(server, path: str, method: str = "GET", params: dict | None = None, **kwargs):
    r = httpx.request(method, server.url + path, params={**AUTH, **(params or {})}, timeout=5, **kwargs)
    r.raise_for_status()
    return r.json()


def test_login_refuses_a_wrong_password(browser, server):
    context = browser.new_context()
    pg = context.new_page()
    pg.goto(server.url + "/")
    shot(pg, "login")
    pg.fill("input[name=username]", "root")
    pg.fill("input[name=password]", "wrong")
    pg.click("button[type=submit]")
    pg.wait_for_selector("text=Wrong user name or password")
    assert pg.context.cookies()[0]["name"] != "ejoin_session"
    context.close()


def test_a_lock_shows_on_the_ports_page_without_reloading(page, server):
    expect = playwright_sync.expect
    row = page.locator("#port-2")
    expect(row.locator("td.state")).to_have_text("3 Registered")
    expect(page.locator("#live-status")).to_have_text("Live updates: on")
    page.evaluate("window.notReloaded = true")
    # a slot's cell opens its port's card beside the matrix
    row.locator("td.cell.on a").click()
    card = page.locator("#detail #card-2")
    expect(card.locator("h2 .state")).to_have_text("3 Registered")
    assert page.url.endswith("/dashboard/ports?port=2")
    api(server, "/goip_send_cmd.html", method="POST", json={"type": "command", "op": "lock", "ports": "2"})
    expect(row.locator("td.state")).to_have_text("12 User locked", timeout=1000)  # live, within a second
    expect(row.locator("td.cell.on")).to_have_class("cell c-locked on")
    expect(card.locator("h2 .state")).to_have_text("12 User locked")  # the open card follows its port
    assert page.evaluate("window.notReloaded") is True
    # and back, through the card's own button, registering again live
    card.locator("tr[data-slot='2.01'] button", has_text="Unlock").click()
    expect(row.locator("td.state")).to_have_text("3 Registered")
    expect(page.locator("#detail #card-2 h2 .state")).to_have_text("3 Registered")


def test_a_64_by_8_ports_page_fits_two_full_hd_screens(browser, server, logged_in):
    pg, errors = open_page(browser, server, logged_in, "/dashboard/ports", viewport={"width": 1920, "height": 1080})
    playwright_sync.expect(pg.locator("#ports tbody tr")).to_have_count(64)
    assert pg.locator("#ports td.cell").count() == 64 * 8
    height, width = pg.evaluate("[document.documentElement.scrollHeight, document.documentElement.scrollWidth]")
    assert height <= 2 * 1080, f"the ports page of a 64 x 8 device is {height}px tall"
    assert width <= 1920
    pg.locator("#port-5 th a").click()
    playwright_sync.expect(pg.locator("#detail #card-5")).to_be_visible()
    shot(pg, "ports")
    assert not errors
    pg.context.close()


def test_compose_sends_and_the_task_finishes(page, server):
    expect = playwright_sync.expect
    page.click("nav >> text=Compose")
    page.fill("textarea[name=to]", "13900000001\n99900000009\n13900000002")  # the carrier rejects 999...
    page.fill("textarea[name=sms]", "Hello from the browser")
    page.fill("input[name=from]", "1")
    shot(page, "compose")
    page.click("main button[type=submit]")
    page.wait_for_url("**/dashboard/tasks/*")
    state = page.locator("h1 .task-state")
    expect(state).to_have_text("finished", timeout=5000)
    expect(page.locator(".counts")).to_contain_text("2 sent · 1 failed")
    expect(page.locator("table.recipients tr.sent")).to_have_count(2)
    expect(page.locator("table.recipients tr.failed")).to_contain_text("21 Short message transfer rejected")
    shot(page, "task")


def test_pause_and_resume_a_task(page, server):
    expect = playwright_sync.expect
    to = ",".join(f"1391000{i:04d}" for i in range(40))
    body = {"type": "send-sms", "tasks": [{"tid": 4242, "from": "3", "to": to, "sms": "bulk"}]}
    assert api(server, "/goip_post_sms.html", method="POST", json=body)["status"][0]["status"] == "0 OK"
    page.click("nav >> text=Tasks")
    row = page.locator("tr[data-tid='4242']")
    row.locator("button", has_text="Pause").click()
    expect(row.locator(".task-state")).to_have_text("paused")
    page.wait_for_timeout(400)  # an SMS in a module at the pause still finishes (a send takes 0.3 s)
    page.reload()
    paused_at = row.locator(".counts").inner_text()
    page.wait_for_timeout(1200)  # the rows were read again (every second), four sends' worth: nothing moved
    assert row.locator(".counts").inner_text() == paused_at
    row.locator("button", has_text="Resume").click()
    expect(row.locator(".task-state")).to_have_text("sending")
    expect(row.locator(".counts")).not_to_have_text(paused_at, timeout=3000)
    shot(page, "tasks")
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("button", has_text="Remove").click()
    expect(row.locator(".task-state")).to_have_text("removed")


def test_an_inbound_sms_is_in_the_inbox(page, server):
    expect = playwright_sync.expect
    assert api(server, "/sim/inbound", params={"port": "4", "sender": "10086", "text": "Your code is 4711"})
    page.click("nav >> text=Inbox")
    expect(page.locator("table.inbox")).to_contain_text("Your code is 4711")
    page.fill("input[name=q]", "4711")
    page.click("text=Filter")
    expect(page.locator("table.inbox tbody tr")).to_have_count(1)
    shot(page, "inbox")


def test_settings_and_pushes_pages(page, server):
    expect = playwright_sync.expect
    page.click("nav >> text=Settings")
    page.fill("input[name=sms_cnt]", "not a number")
    page.click("text=Save")
    expect(page.locator(".error")).to_contain_text("not a whole number")
    page.fill("input[name=sms_cnt]", "1")
    page.click("text=Save")
    expect(page.locator(".saved")).to_have_text("Saved.")
    shot(page, "settings")
    # a receiver that is down: its pushes wait, and the page says why
    dead = "http://127.0.0.1:9/ejoin-status"
    api(server, "/goip_send_cmd.html", params={"op": "set", "status_url": dead})
    api(server, "/goip_send_cmd.html", method="POST", json={"type": "command", "op": "ledoff", "ports": "4"})
    page.click("nav >> text=Pushes")
    expect(page.locator("h1")).to_have_text("Pushes")
    for _ in range(20):  # the page shows what was tried when it was loaded
        if "Connect" in page.locator("table.pushes").inner_text():
            break
        page.wait_for_timeout(100)
        page.reload()
    expect(page.locator("table.pushes")).to_contain_text(dead)
    expect(page.locator("table.pushes")).to_contain_text("Connect")
    shot(page, "pushes")
    api(server, "/goip_send_cmd.html", params={"op": "set", "status_url": ""})


def test_the_overview_follows_the_device(page, server):
    expect = playwright_sync.expect
    page.click("nav >> text=Overview")
    expect(page.locator("#live-status")).to_have_text("Live updates: on")
    assert page.locator("svg g.minute").count() == 60
    failed, locked = page.locator("#today-failed .figure"), page.locator("li[data-class='locked'] b")
    failed_before, locked_before = int(failed.inner_text()), int(locked.inner_text())
    page.evaluate("window.notReloaded = true")
    # two numbers the carrier rejects among five, from any port
    to = "13920000001,99900000001,13920000002,99900000002,13920000003"
    body = {"type": "send-sms", "tasks": [{"tid": 5151, "to": to, "sms": "overview"}]}
    assert api(server, "/goip_post_sms.html", method="POST", json=body)["status"][0]["status"] == "0 OK"
    expect(failed).to_have_text(str(failed_before + 2))  # told by the event stream, fetched by htmx
    expect(page.locator("#today-failed .reasons")).to_contain_text("21 Short message transfer rejected")
    api(server, "/goip_send_cmd.html", method="POST", json={"type": "command", "op": "lock", "ports": "7"})
    expect(locked).to_have_text(str(locked_before + 1))
    assert page.evaluate("window.notReloaded") is True
    shot(page, "overview")
    api(server, "/goip_send_cmd.html", method="POST", json={"type": "command", "op": "unlock", "ports": "7"})
    expect(locked).to_have_text(str(locked_before))


def test_the_pages_fit_a_phone(browser, server, logged_in):
    # a receiver that is down, at a long URL: the Pushes page must still fit
    dead = "http://127.0.0.1:9/a/rather/long/path/of/a/platform/receiving/port-status/pushes?token=abcdef0123456789"
    api(server, "/goip_send_cmd.html", params={"op": "set", "status_url": dead})
    api(server, "/goip_send_cmd.html", method="POST", json={"type": "command", "op": "ledoff", "ports": "4"})
    pg, errors = open_page(
        browser, server, logged_in, "/dashboard/ports", viewport={"width": 390, "height": 844}, is_mobile=True
    )
    for path in ("/dashboard/ports", "/dashboard/overview", "/dashboard/pushes"):
        pg.goto(server.url + path)
        width = pg.evaluate("document.documentElement.scrollWidth")
        assert width <= 400, f"{path} is {width}px wide on a 390px screen"
        if path == "/dashboard/ports":
            shot(pg, "ports-phone", full_page=False)
    playwright_sync.expect(pg.locator("table.pushes")).to_contain_text("token=abcdef")
    api(server, "/goip_send_cmd.html", params={"op": "set", "status_url": ""})
    assert not errors
    pg.context.close()


@pytest.fixture
def attacker():
    """A page of another site (localhost, where the device is 127.0.0.1) that aims at the device:
    an <img> whose URL locks port 4, and a text/plain form whose body is a send task."""
    from aiohttp import web

    from ejoin.testing import _LoopThread, _serve

    pages: dict[str, str] = {}

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=pages["attack"], content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    thread = _LoopThread("attacker")
    thread.start()
    runner, port = thread.run(_serve(app, "127.0.0.1"))
    yield pages, f"http://localhost:{port}/"
    thread.run(runner.cleanup())
    thread.stop()


def test_a_page_of_another_site_cannot_send_a_task_or_lock_a_slot(browser, server, attacker):
    pages, url = attacker
    target = f"{server.url}/goip_%s.html?username=root&password=root"
    field = '{"type":"send-sms","tasks":[{"tid":4343,"to":"13900000009","sms":"forged","pad":"'
    pages["attack"] = f"""<!doctype html><html><body>
<img id="img" src="{target % "send_cmd"}&op=lock&ports=4">
<form id="f" method="post" enctype="text/plain" action="{target % "post_sms"}">
<input name='{field}' value='"}}]}}'></form></body></html>"""
    context = browser.new_context()
    pg = context.new_page()
    pg.goto(url)
    pg.wait_for_function("document.getElementById('img').complete")
    with pg.expect_navigation():
        pg.evaluate("document.getElementById('f').submit()")
    assert '"code":403' in pg.content() and "another site" in pg.content()
    context.close()
    status = api(server, "/goip_get_status.html", params={"all_slots": "1"})
    port4 = [entry for entry in status["status"] if str(entry["port"]).startswith("4")]
    assert port4 and all(entry["st"] != 12 for entry in port4), port4  # nothing locked
    known = api(server, "/goip_get_tasks.html", params={"port": "1", "tids": "4343", "closed": "1"})
    assert known["tasks"] == [], known  # open or finished: no such task
    # the dashboard's own pages (same origin) keep working: every test above uses them
