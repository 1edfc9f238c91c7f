"""Requests a browser sends for a page of another site are refused (web/cross_site.py).

The headers are the ones browsers set (tests/test_browser.py has the same with a
real chromium); platforms' clients send none of them.
"""

from __future__ import annotations

import pytest

from ejoin.config import ConfigError, check_origins, split_origins
from ejoin.drivers import load_gateway_config

AUTH = {"username": "root", "password": "root"}
# what chromium sends for an <img> on a page of another site, and for a form that page submits
IMAGE = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"}
FORM_POST = {
    "Sec-Fetch-Site": "cross-site",
    "Sec-Fetch-Mode": "navigate",
    "Sec-Fetch-Dest": "document",
    "Origin": "http://attacker.example",
    "Content-Type": "text/plain",
}
TASK = b'{"type":"send-sms","tasks":[{"tid":99,"to":"13800000001","sms":"x","pad":"="}]}'


async def _refused(resp) -> None:
    assert resp.status == 403, await resp.text()
    answer = await resp.json()
    assert answer["code"] == 403 and "another site" in answer["reason"]


async def test_a_form_post_from_another_site_sends_no_task(device):
    await _refused(await device.client.post("/goip_post_sms.html", params=AUTH, data=TASK, headers=FORM_POST))
    tasks = await device.get("/goip_get_tasks.html", port=1, tids="99", closed=1)
    assert tasks["tasks"] == [], tasks  # nothing was queued
    # the same body from a platform's client (no browser headers) is a task
    await device.send_ok({"tid": 99, "to": "13800000001", "sms": "x"})


async def test_an_image_from_another_site_locks_nothing(device):
    query = {**AUTH, "op": "lock", "ports": "1"}
    await _refused(await device.client.get("/goip_send_cmd.html", params=query, headers=IMAGE))
    await device.settle(1)
    assert device.state_of("1.01") == 3


@pytest.mark.parametrize(
    "path",
    ["/goip_get_status.html", "/goip_get_sms.html", "/goip_get_tasks.html", "/goip_get_sms_stat.html", "/metrics"],
)
@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},  # another port or subdomain of the same site
        {"Origin": "http://attacker.example"},  # a browser without Sec-Fetch-*
        {"Origin": "null"},  # a sandboxed frame, a file:// page
    ],
    ids=["cross-site", "same-site", "foreign Origin", "null Origin"],
)
async def test_what_reveals_data_is_refused_to_other_sites(device, path, headers):
    await _refused(await device.client.get(path, params=AUTH, headers=headers))


async def test_the_devices_own_pages_and_clients_without_browser_headers_are_served(device):
    host = device.client.server.host
    port = device.client.server.port
    for headers in (
        {},
        {"Sec-Fetch-Site": "same-origin", "Origin": f"http://{host}:{port}"},
        {"Sec-Fetch-Site": "none"},  # typed in the address bar
        {"Origin": f"http://{host}:{port}"},  # no Sec-Fetch-*: the Origin is the device's own
        {"Origin": f"HTTP://{host.upper()}:{port}/"},
    ):
        resp = await device.client.get("/goip_get_status.html", params=AUTH, headers=headers)
        assert resp.status == 200 and (await resp.json())["type"] == "dev-status", headers


async def test_harmless_paths_and_a_link_to_the_dashboard_are_not_refused(device):
    elsewhere = {"Sec-Fetch-Site": "cross-site"}
    assert (await device.client.get("/healthz", headers=elsewhere)).status == 200
    assert (await device.client.get("/openapi.json", headers=elsewhere)).status == 200
    link = {**elsewhere, "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
    page = await device.client.get("/dashboard/ports", headers=link, allow_redirects=False)
    assert page.status == 303  # no session cookie comes with it (SameSite=Strict): to the login page
    assert (await device.client.get("/", headers=link)).status == 200
    # but not inside a frame of that site, nor its login form, nor the event stream
    frame = {**elsewhere, "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "iframe"}
    await _refused(await device.client.get("/", headers=frame))
    await _refused(await device.client.post("/login", data={"username": "root"}, headers=FORM_POST))
    await _refused(await device.client.get("/dashboard/events", headers=elsewhere))


async def test_an_allowed_origin_is_served_with_cors(device_factory):
    dev = await device_factory(allowed_origins=["https://platform.example"])
    origin = {"Origin": "https://platform.example", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"}
    resp = await dev.client.get("/goip_get_status.html", params=AUTH, headers=origin)
    assert resp.status == 200 and resp.headers["Access-Control-Allow-Origin"] == "https://platform.example"
    assert "Origin" in resp.headers.getall("Vary")
    preflight = await dev.client.options(
        "/goip_post_sms.html",
        headers={**origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"},
    )
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://platform.example"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert preflight.headers["Access-Control-Allow-Headers"] == "content-type"
    other = {**origin, "Origin": "https://platform.example.evil"}
    await _refused(await dev.client.get("/goip_get_status.html", params=AUTH, headers=other))


def test_allowed_origins_are_checked_and_normalised():
    assert check_origins(["https://Platform.Example:443/", "http://10.0.0.5:8081"]) == [
        "https://platform.example",
        "http://10.0.0.5:8081",
    ]
    # the flag's form: one comma-separated text
    assert check_origins(split_origins("https://a.example, http://b.example:8080")) == [
        "https://a.example",
        "http://b.example:8080",
    ]
    for bad in (["platform.example"], ["https://a.example/app"], ["ftp://a.example"], ["https://"]):
        with pytest.raises(ConfigError, match="allowed_origins #1: .* is not an origin"):
            check_origins(bad)
    with pytest.raises(ConfigError, match="allowed_origins #2: expected a string, not 1"):
        load_gateway_config(None, {"allowed_origins": ["https://a.example", 1]})
