"""Scrape and page times on a 64 x 8 device (512 slots), each beside a reference measured in the same run.

    .venv/bin/python benchmarks/metrics_scrape.py

1. GET /metrics (every port and slot, counters, pushes) — beside one
   goip_get_status answer with all_slots=1 (512 entries) on the same device.
2. GET /dashboard/ports (the ports page, logged in) and GET /dashboard/overview
   (the day's figures: three store reads) — beside the same reference; and,
   when Playwright and Debian's chromium are installed, the ports page's full
   load in the browser (navigation start to the load event, scripts run).

Times are medians of sequential requests over loopback, with a little send
traffic running so the counters are not all zero.
"""

from __future__ import annotations

import asyncio
import base64
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import AUTH, serve  # noqa: E402
from ejoin.drivers import load_gateway_config  # noqa: E402
from ejoin.gateway.runtime import Gateway  # noqa: E402
from ejoin.web.app import create_app  # noqa: E402

ROUNDS = 60


async def median_ms(session: aiohttp.ClientSession, url: str, **kwargs) -> tuple[float, int]:
    times = []
    size = 0
    for _ in range(ROUNDS):
        start = time.perf_counter()
        async with session.get(url, **kwargs) as resp:
            body = await resp.read()
            assert resp.status == 200, (url, resp.status, body[:200])
        times.append((time.perf_counter() - start) * 1000)
        size = len(body)
    return statistics.median(times), size


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = load_gateway_config(None, {"data": tmp, "ports": 64, "slots": 8, "fast": True})
        gw = Gateway(config)
        runner, base = await serve(create_app(gw))
        try:
            await asyncio.sleep(0.5)  # the modules register (fast: no delay)
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
                to = ",".join(f"1390000{i:04d}" for i in range(500))
                body = {"type": "send-sms", "tasks": [{"tid": 1, "to": to, "sms": "benchmark"}]}
                async with s.post(f"{base}/goip_post_sms.html", params=AUTH, json=body) as r:
                    assert r.status == 200
                await asyncio.sleep(0.3)
                ref, ref_size = await median_ms(s, f"{base}/goip_get_status.html", params={**AUTH, "all_slots": "1"})
                scrape, scrape_size = await median_ms(
                    s, f"{base}/metrics", headers={"Authorization": "Basic " + base64.b64encode(b"root:root").decode()}
                )
                print(f"64 x 8 device (512 slots), median of {ROUNDS} sequential requests")
                print(f"  reference: goip_get_status all_slots=1   {ref:7.2f} ms  ({ref_size} bytes)")
                print(f"  GET /metrics                             {scrape:7.2f} ms  ({scrape_size} bytes)")
                if await login(s, base):
                    page, page_size = await median_ms(s, f"{base}/dashboard/ports")
                    async with s.get(f"{base}/dashboard/ports") as r:
                        assert 'id="port-64"' in await r.text(), "not logged in"
                    print(f"  GET /dashboard/ports (logged in)         {page:7.2f} ms  ({page_size} bytes)")
                    async with s.get(f"{base}/dashboard/overview") as r:
                        has_overview = r.status == 200 and r.url.path == "/dashboard/overview"
                    if has_overview:
                        page, page_size = await median_ms(s, f"{base}/dashboard/overview")
                        print(f"  GET /dashboard/overview (logged in)      {page:7.2f} ms  ({page_size} bytes)")
            loaded = await asyncio.to_thread(browser_load_ms, base)
            if loaded is not None:
                print(f"  ports page loaded in chromium            {loaded:7.2f} ms  (median of 5, load event)")
        finally:
            await runner.cleanup()


def browser_load_ms(base: str) -> float | None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not Path("/usr/bin/chromium").exists():
        return None
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox"])
        page = browser.new_page()
        page.goto(base + "/")
        page.fill("input[name=username]", "root")
        page.fill("input[name=password]", "root")
        page.click("button[type=submit]")
        page.wait_for_url("**/dashboard/*")  # the overview, or on older builds the ports page
        times = []
        for _ in range(5):
            page.goto(base + "/dashboard/ports", wait_until="load")
            times.append(page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd"))
        browser.close()
    return statistics.median(times)


async def login(session: aiohttp.ClientSession, base: str) -> bool:
    """Log in to the dashboard (False on a build without it)."""
    async with session.get(f"{base}/") as resp:
        found = re.search(r'name="csrf" value="([^"]+)"', await resp.text())
        if resp.status != 200 or found is None:
            return False
    form = {"username": "root", "password": "root", "csrf": found.group(1)}
    async with session.post(f"{base}/login", data=form, allow_redirects=False) as resp:
        return resp.status in (302, 303)


if __name__ == "__main__":
    asyncio.run(main())
