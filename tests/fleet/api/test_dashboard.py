"""The fleet's dashboard over HTTP: the device dashboard's pages read through the fleet's board (its
members' ports in fleet numbers as one matrix, tasks with their share per member, the merged inbox,
pushes) and a page of its members (issue 27)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from ejoin.testing import GatewayThread, PushCollector

from ..conftest import FleetThread, free_port, member
from ..engine.test_sending import NUMBERS, final, send

MEMBER = {"username": "root", "password": "root"}


@pytest.fixture
def browser(fleet: FleetThread) -> Iterator[httpx.Client]:
    """A client logged in to the fleet's dashboard with the fleet's credentials."""
    with httpx.Client(base_url=fleet.url, timeout=20, follow_redirects=True) as client:
        page = client.get("/")
        assert page.status_code == 200 and "<h1>ejoin fleet</h1>" in page.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        landed = client.post("/login", data={"username": "fleet", "password": "secret", "csrf": csrf})
        assert landed.status_code == 200 and landed.url.path == "/dashboard/overview"
        yield client


def csrf_of(html: str) -> str:
    return re.search(r'"X-CSRF-Token": "([^"]+)"', html).group(1)  # type: ignore[union-attr]


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_fleets_pages_and_only_those(fleet: FleetThread, browser: httpx.Client) -> None:
    overview = browser.get("/dashboard/overview").text
    nav = re.findall(r'<a href="/dashboard/(\w+)"', overview.split("</nav>")[0])
    assert nav == ["overview", "members", "ports", "tasks", "inbox", "pushes"]
    assert "<title>Overview · ejoin fleet</title>" in overview
    # a gateway's own pages (its modules: compose through its intake, USSD, its settings) are not the fleet's
    for path in ("/dashboard/compose", "/dashboard/ussd", "/dashboard/settings"):
        assert browser.get(path).status_code == 404
    # pages need a session, as on a device
    assert httpx.get(fleet.url + "/dashboard/members", follow_redirects=False).status_code == 303


def test_all_ports_in_fleet_numbers_as_one_matrix_and_a_command_reaches_the_member(
    fleet: FleetThread, browser: httpx.Client, two_members: tuple[GatewayThread, GatewayThread]
) -> None:
    html = browser.get("/dashboard/ports").text
    assert "Ports <small>8 × 2 slots</small>" in html
    rows = re.findall(r'<tr id="port-(\d+)" class="c-(\w+)" data-state="(\d+)">', html)
    assert [(p, c) for p, c, _ in rows] == [(str(n), "registered") for n in range(1, 9)]
    row6 = html.split('id="port-6"')[1].split("</tr>")[0]
    assert len(re.findall(r'<td class="cell', row6)) == 2  # every slot, as the member answers all_slots
    card = browser.get("/dashboard/ports/6", headers={"HX-Request": "true"}).text
    assert "member b" in card and 'data-slot="6.02"' in card and 'data-slot="6.01"' in card
    # a button on the fleet's port 6.02 locks member b's 2.02
    locked = browser.post(
        "/dashboard/ports/command", data={"op": "lock", "ports": "6.02"}, headers={"X-CSRF-Token": csrf_of(html)}
    )
    assert locked.status_code == 200
    _, b = two_members
    b_status = httpx.get(b.url + "/goip_get_status.html", params={**MEMBER, "all_slots": 1}).json()["status"]
    assert [e["st"] for e in b_status if e["port"] == "2.02"] == [12]
    refused = browser.post(
        "/dashboard/ports/command", data={"op": "lock", "ports": "9"}, headers={"X-CSRF-Token": csrf_of(html)}
    )
    assert refused.status_code == 400 and "9" in refused.text


def test_a_port_change_on_a_member_reaches_the_open_ports_page_live(
    fleet: FleetThread, browser: httpx.Client, two_members: tuple[GatewayThread, GatewayThread]
) -> None:
    _, b = two_members
    fleet.tick()  # members subscribed to push their status to the fleet (its URL known once it serves)
    with browser.stream("GET", "/dashboard/events", params={"view": "ports"}) as events:
        lines = events.iter_lines()
        assert next(lines) == "retry: 1000"
        # locked on the member itself: its port-status push to the fleet is what the page hears
        assert (
            httpx.get(b.url + "/goip_send_cmd.html", params={**MEMBER, "op": "lock", "ports": "3"}).json()["code"] == 0
        )
        event: list[str] = []
        for line in lines:
            event.append(line)
            if 'id="port-7"' in line and 'data-state="12"' in line:
                break
    assert "event: port" in event


def test_tasks_with_their_share_per_member(fleet: FleetThread, browser: httpx.Client, platform: PushCollector) -> None:
    task = {"tid": 6101, "to": NUMBERS[:12], "sms": "shared", "sdr": 1, "sr_cnt": 1000}
    assert send(fleet, platform, task)["status"][0]["status"] == "0 OK"
    assert final(platform, 6101)["sent"] == 12
    listed = browser.get("/dashboard/tasks").text
    assert 'data-tid="6101" data-state="finished"' in listed and "12 sent · 0 failed · 0 unsent · of 12" in text(listed)
    found = browser.get("/dashboard/tasks", params={"tid": "6101"})  # one found: its page
    assert found.url.path.startswith("/dashboard/tasks/")
    page = found.text
    shares = dict(re.findall(r'<tr data-member="(\w+)"><td>\w+</td><td>(\d+)</td>', page))
    assert set(shares) <= {"a", "b"} and sum(map(int, shares.values())) == 12
    recipients = re.findall(r'<tr class="sent"><td>(\d+)</td><td>(\d+)</td><td>sent</td><td>(\d+)\.(\d+)</td>', page)
    assert sorted(int(i) for i, *_ in recipients) == list(range(12))
    assert {n for _, n, *_ in recipients} == set(NUMBERS[:12])
    assert all(1 <= int(p) <= 8 for *_, p, _ in recipients)  # fleet port numbers
    # the overview counts them: today's as the members count them, the last hour as the fleet saw them
    overview = text(browser.get("/dashboard/overview").text)
    assert "Sent today 12 " in overview and "in the last hour 12 sent, 0 failed" in overview
    assert "8 Registered" in overview
    pushes = browser.get("/dashboard/pushes").text
    assert platform.url in pushes


def test_the_merged_inbox(fleet: FleetThread, browser: httpx.Client, two_members) -> None:
    a, b = two_members
    for g, port, sender, words in ((a, "2", "13911110001", "to a"), (b, "1", "13911110002", "to b")):
        answer = httpx.post(g.url + "/sim/inbound", params=MEMBER, json={"port": port, "sender": sender, "text": words})
        assert answer.status_code == 200
    page = text(browser.get("/dashboard/inbox").text)
    assert "2.01 13911110001 to a" in page and "5.01 13911110002 to b" in page  # fleet port numbers
    only_b = text(browser.get("/dashboard/inbox", params={"port": "5"}).text)
    assert "to b" in only_b and "to a" not in only_b


def test_the_members_page_says_each_members_health_and_ports(tmp_path) -> None:
    with GatewayThread(tmp_path / "a", ports=2, slots=1) as a:
        gone = {"name": "gone", "url": f"http://127.0.0.1:{free_port()}", "ports": "3-4"}
        fleet = FleetThread(tmp_path / "fleet", [member(a, "1-2", "a"), gone]).start()
        try:
            with httpx.Client(base_url=fleet.url) as client:
                csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/").text).group(1)  # type: ignore[union-attr]
                client.post("/login", data={"username": "fleet", "password": "secret", "csrf": csrf})
                html = client.get("/dashboard/members").text
                ports = text(client.get("/dashboard/ports/3", headers={"HX-Request": "true"}).text)
        finally:
            fleet.stop()
    rows = dict(re.findall(r'<tr data-member="(\w+)" data-state="(\w+)"', html))
    assert rows == {"a": "up", "gone": "down"}
    row_a, row_gone = (text(html.split(f'data-member="{n}"')[1].split("</tr>")[0]) for n in ("a", "gone"))
    assert "1-2" in row_a and "2 of 2" in row_a and "answered" in row_a
    assert "3-4" in row_gone and "connection refused (nothing listens there)" in row_gone
    assert "member gone, down: connection refused" in ports and "16 Module response timeout" in ports


@pytest.fixture
def fleet_db() -> str:
    return ""
