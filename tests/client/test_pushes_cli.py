"""``ejoin pushes`` and the SDK's push-queue methods against a running gateway."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from click.testing import CliRunner

from ejoin.cli import main
from ejoin.client import AsyncClient, Client

from ..threaded import ServerThread

DEAD_URL = "http://127.0.0.1:1/gone"  # connection refused at once


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # A window of 10 ms: the first failed try of a push is already past it, so it goes dead at once.
    s = ServerThread(str(tmp_path_factory.mktemp("pushes")), push_retry_window=0.01)
    s.start()
    yield s
    s.stop()


@pytest.fixture
def run(server, monkeypatch):
    monkeypatch.setenv("EJOIN_URL", server.url)
    monkeypatch.setenv("COLUMNS", "200")

    def invoke(*args: str):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return invoke


def a_dead_push(server) -> None:
    """A dev-status push to a URL that refuses, and the real time it takes to go dead."""
    httpx.get(f"{server.url}/goip_get_status.html", params={"username": "root", "password": "root", "url": DEAD_URL})
    deadline = time.monotonic() + 10
    with Client(server.url) as dev:
        while not any(d.dead for d in dev.pushes().destinations):
            assert time.monotonic() < deadline, "the push never went dead"
            time.sleep(0.02)  # real I/O of a real server thread: a connection refused, then a store write


def test_list_retry_and_drop(server, run):
    assert run("pushes", "list").output.strip() == "no pushes waiting or dead"
    a_dead_push(server)
    r = run("pushes", "list")
    assert r.exit_code == 0 and DEAD_URL in r.output and "ClientConnectorError" in r.output
    data = json.loads(run("pushes", "list", "--json").output)
    [dest] = data["destinations"]
    assert dest["url"] == DEAD_URL and dest["dead"] >= 1 and data["window"] == 0.01

    r = run("pushes", "retry", DEAD_URL)
    assert r.exit_code == 0 and f"replaying {dest['dead']} push" in r.output and DEAD_URL in r.output
    r = run("pushes", "drop", DEAD_URL, "--queued", "--json")
    assert r.exit_code == 0 and json.loads(r.output)["count"] >= 1  # dead again by now, or still waiting
    assert run("pushes", "list", "--json").output.count(DEAD_URL) == 0


def test_nothing_to_do_and_wrong_usage(run):
    r = run("pushes", "retry", "http://never.example/")
    assert r.exit_code == 1 and "nothing to replay for http://never.example/" in r.output
    assert run("pushes", "drop").exit_code == 2
    r = run("pushes", "drop", "http://x/", "--all")
    assert r.exit_code == 2 and "or give --all" in r.output
    r = run("pushes", "drop", "--all", "--forget")
    assert r.exit_code == 2 and "--forget names one destination" in r.output


def test_drop_with_forget_drops_what_comes_later_too(server, run):
    a_dead_push(server)
    r = run("pushes", "drop", DEAD_URL, "--forget")
    assert r.exit_code == 1 and "is the device's status_url" in r.output  # the platform's: never forgotten
    auth = {"username": "root", "password": "root"}
    httpx.get(f"{server.url}/goip_get_status.html", params={**auth, "url": ""})
    r = run("pushes", "drop", DEAD_URL, "--forget", "--json")
    assert r.exit_code == 0 and json.loads(r.output)["count"] >= 1
    gw = server.gateway
    assert server.call(lambda: gw.outbox.forgotten) == [DEAD_URL]
    tries = server.call(lambda: gw.activity.destination(DEAD_URL).attempts)
    # a task still reporting to it (as one an `ejoin send` stopped following): its reports are dropped
    task = {"tid": 61, "to": "13800000061", "sms": "x"}
    body = {"type": "send-sms", "sr_url": DEAD_URL, "sr_cnt": 1, "sr_prd": 0, "tasks": [task]}
    assert (
        httpx.post(f"{server.url}/goip_post_sms.html", params=auth, json=body).json()["status"][0]["status"] == "0 OK"
    )
    deadline = time.monotonic() + 10
    while not server.call(lambda: any(t.tid == 61 for t in gw.activity.recent.values())) or server.call(
        lambda: [d.url for d in gw.outbox.destinations()]
    ):  # finished, its final report queued (after the answer) and dropped
        assert time.monotonic() < deadline, "the task's reports for the forgotten URL were not dropped"
        time.sleep(0.02)  # real I/O of a real server thread: the SMS, a store write, then the drop
    assert run("pushes", "list", "--json").output.count(DEAD_URL) == 0
    assert server.call(lambda: gw.activity.destination(DEAD_URL).attempts) == tries  # never tried
    run("pushes", "retry", DEAD_URL)  # asking for its pushes again: it is not gone after all
    assert server.call(lambda: gw.outbox.forgotten) == []


async def test_the_async_sdk_has_the_same_methods(server):
    a_dead_push(server)
    async with AsyncClient(server.url) as dev:
        queue = await dev.pushes()
        assert [d.url for d in queue.destinations if d.dead] == [DEAD_URL]
        assert await dev.drop_pushes(DEAD_URL, queued=True) != {}
        assert await dev.retry_pushes() == {}  # all: nothing dead any more
        assert (await dev.pushes()).dead == 0
