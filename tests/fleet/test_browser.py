"""The fleet's dashboard in a real browser, as the device's is (tests/test_browser.py: the same
Chromium, the same helpers): two members of 32 ports x 8 slots and one that does not answer, shown as
one fleet of 72 ports.  EJOIN_SCREENSHOTS=docs/img saves the docs' fleet-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ejoin.testing import GatewayThread

from ..test_browser import ARGS, CHROMIUM, TIMING, open_page, playwright_sync, shot
from .conftest import FleetThread, free_port, member

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (.ci/run installs it)"),
]
MEMBER = {"username": "root", "password": "root"}
FLEET = {"username": "fleet", "password": "secret"}


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[FleetThread]:
    data = tmp_path_factory.mktemp("fleet-browser")
    options = {"fast": False, "timing": TIMING, "ports": 32, "slots": 8}
    with (
        GatewayThread(str(data / "rack1"), seed=1, **options) as rack1,
        GatewayThread(str(data / "rack2"), seed=2, **options) as rack2,
    ):
        gone = {"name": "rack3", "url": f"http://127.0.0.1:{free_port()}", "ports": "65-72"}
        fleet = FleetThread(
            data / "fleet", [member(rack1, "1-32", "rack1"), member(rack2, "33-64", "rack2"), gone], login_delay_cap=0.0
        ).start()
        fleet.tick()  # members subscribed to push their status to the fleet (its URL known once it serves)
        fleet.members = {"rack1": rack1, "rack2": rack2}  # type: ignore[attr-defined]
        try:
            yield fleet
        finally:
            fleet.stop()


@pytest.fixture(scope="module")
def browser():
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def logged_in(browser, server) -> dict:
    context = browser.new_context()
    pg = context.new_page()
    pg.goto(server.url + "/")
    playwright_sync.expect(pg.locator("h1")).to_have_text("ejoin fleet")
    pg.fill("input[name=username]", "fleet")
    pg.fill("input[name=password]", "secret")
    pg.click("button[type=submit]")
    pg.wait_for_url("**/dashboard/overview")
    state = context.storage_state()
    context.close()
    return state


def api(server: FleetThread, path: str, **kwargs) -> dict:
    r = httpx.request(kwargs.pop("method", "GET"), server.url + path, params=FLEET, timeout=10, **kwargs)
    r.raise_for_status()
    return r.json()


def test_every_members_port_as_one_matrix_live(browser, server, logged_in):
    expect = playwright_sync.expect
    pg, errors = open_page(browser, server, logged_in, "/dashboard/ports", viewport={"width": 1920, "height": 1080})
    expect(pg.locator("#ports tbody tr")).to_have_count(72)
    expect(pg.locator("#port-35 td.state")).to_have_text("3 Registered")
    assert pg.locator("#ports td.cell").count() == 64 * 8 + 8  # rack3 never answered: its active slots only
    expect(pg.locator("#port-70 td.state")).to_have_text("16 Module response timeout")
    height, width = pg.evaluate("[document.documentElement.scrollHeight, document.documentElement.scrollWidth]")
    assert height <= 2 * 1080, f"the ports page of a fleet of 72 ports x 8 slots is {height}px tall"
    assert width <= 1920
    expect(pg.locator("#live-status")).to_have_text("Live updates: on")
    pg.evaluate("window.notReloaded = true")
    # locked on rack2 itself (its port 3): the fleet's port 35 follows, through rack2's push, live
    rack2 = server.members["rack2"]
    locked = httpx.get(rack2.url + "/goip_send_cmd.html", params={**MEMBER, "op": "lock", "ports": "3"}).json()
    assert locked["code"] == 0
    expect(pg.locator("#port-35 td.state")).to_have_text("12 User locked", timeout=3000)
    assert pg.evaluate("window.notReloaded") is True
    pg.locator("#port-35 th a").click()
    card = pg.locator("#detail #card-35")
    expect(card).to_contain_text("member rack2")
    shot(pg, "fleet-ports")
    # and back through the card's button: the fleet routes it to rack2 as its port 3
    card.locator("tr[data-slot='35.01'] button", has_text="Unlock").click()
    expect(pg.locator("#port-35 td.state")).to_have_text("3 Registered", timeout=5000)
    assert not errors
    pg.context.close()


def test_members_with_their_health(browser, server, logged_in):
    expect = playwright_sync.expect
    pg, errors = open_page(browser, server, logged_in, "/dashboard/members", viewport={"width": 1280, "height": 800})
    expect(pg.locator("tr[data-member]")).to_have_count(3)
    expect(pg.locator("tr[data-member='rack1'] .member-state")).to_have_text("up")
    expect(pg.locator("tr[data-member='rack2']")).to_contain_text("32 of 32")
    expect(pg.locator("tr[data-member='rack3'] .member-state")).to_contain_text(
        "connection refused (nothing listens there)"
    )
    shot(pg, "fleet-members")
    assert not errors
    pg.context.close()


def test_a_task_shared_out_over_members_and_the_overview(browser, server, logged_in):
    expect = playwright_sync.expect
    to = ",".join(f"1392000{i:04d}" for i in range(80))
    body = {"type": "send-sms", "tasks": [{"tid": 7700, "to": to, "sms": "through the fleet"}]}
    assert api(server, "/goip_post_sms.html", method="POST", json=body)["status"][0]["status"] == "0 OK"
    pg, errors = open_page(browser, server, logged_in, "/dashboard/tasks", viewport={"width": 1280, "height": 900})
    row = pg.locator("tr[data-tid='7700']")
    expect(row.locator(".task-state")).to_have_text("finished", timeout=10000)
    row.locator("a").first.click()
    pg.wait_for_url("**/dashboard/tasks/*")
    expect(pg.locator("table.split tr[data-member]")).to_have_count(2)  # rack1 and rack2; never rack3
    expect(pg.locator("table.recipients tr.sent")).to_have_count(80)
    shot(pg, "fleet-task", full_page=False)
    pg.click("nav >> text=Overview")
    expect(pg.locator("#today-sent .figure")).to_have_text("80")
    expect(pg.locator("li[data-class='lost'] b")).to_have_text("8")  # rack3's ports
    shot(pg, "fleet-overview")
    assert not errors
    pg.context.close()
