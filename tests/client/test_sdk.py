"""The SDK against the real gateway over HTTP: every endpoint, sync and async."""

from __future__ import annotations

import base64
import time

import httpx
import pytest

from ejoin.client import (
    AsyncClient,
    BadRequest,
    Client,
    DeviceUnreachable,
    InvalidCommand,
    InvalidPort,
    InvalidUser,
    SendTask,
    SessionError,
    TaskStatus,
)

from ..threaded import ServerThread


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = ServerThread(str(tmp_path_factory.mktemp("sdk")), sim=[{"port": "4.02", "empty": True}]).start()
    yield s
    s.stop()


@pytest.fixture
def dev(server):
    with Client(server.url) as c:
        yield c


def until(predicate, timeout=10.0):
    """Wait for the threaded gateway (real time, --fast) to get somewhere."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def inject(server, port, text, sender="10086"):
    r = httpx.get(
        f"{server.url}/sim/inbound",
        params={"username": "root", "password": "root", "port": port, "sender": sender, "text": text},
    )
    assert r.json()["code"] == 0


# --- sync -----------------------------------------------------------------------


def test_status(dev):
    st = dev.status()
    assert st.max_ports == 4 and st.max_slots == 4 and len(st.status) == 4
    p = st.status[0]
    assert p.port == "1.01" and p.state == 3 and p.state_text == "3 Registered" and p.balance > 0
    assert len(dev.status(all_slots=True).status) == 16
    assert len(dev.status(all_sims=True).status) == 13  # 2.04 and 4.04 are empty by default


def test_commands(dev, server):
    dev.lock("3.01")
    assert dev.status().status[2].state == 12
    dev.unlock(["3.01"])
    dev.switch("3.02")
    dev.led(3, on=False)
    dev.multiple([("ledon", "3"), ("reset", "3")])
    dev.save()
    until(lambda: dev.status().status[2].state == 3)
    st = dev.status().status[2]
    assert st.port == "3.02" and st.led == 1
    with pytest.raises(InvalidPort) as exc:
        dev.lock("99.99")
    assert "port 99 does not exist" in exc.value.reason
    with pytest.raises(InvalidCommand):
        dev.command("explode", "1")


def test_parameters(dev):
    assert dev.set_params({"sim_number(5)": "+15550100"}, sms_url="http://127.0.0.1:9/sms") == 2
    data = dev.get_params("sim_number(5)", "sms_url", "port_status")
    assert data["sim_number(5)"] == "+15550100" and data["sms_url"] == "http://127.0.0.1:9/sms"
    assert len(data["port_status"]) == 4
    with pytest.raises(BadRequest, match="unknown parameter"):
        dev.get_params("nope")


def test_sending_and_the_queue(dev, server):
    dev.lock(2)
    results = dev.send(
        [SendTask.text(["1", "2"], "queued", tid=901, from_="2"), SendTask.text("3", "bad port", tid=902, from_="9")]
    )
    assert [(r.tid, r.ok, r.code) for r in results] == [
        (901, True, TaskStatus.OK),
        (902, False, TaskStatus.INVALID_PORT),
    ]
    page = dev.tasks(2, content=True)
    assert page.total_num == 1 and page.tasks[0].tid == 901 and page.tasks[0].sms == "queued"
    assert [r.status for r in dev.pause([901])] == ["0 OK"]
    assert dev.tasks(2).tasks[0].state == 1
    assert dev.resume() is None  # every task: no results (spec)
    assert [r.status for r in dev.remove([901, 777])] == ["0 OK", "11 TID Expected"]
    assert dev.tasks(2).total_num == 0
    dev.unlock(2)
    r = dev.send_sms("13800000000", "hello", tid=903)
    assert r.ok and r.tid == 903


def test_mms_task_from_files(dev, tmp_path):
    (tmp_path / "a.txt").write_text("hello")
    (tmp_path / "b.jpg").write_bytes(b"\xff\xd8\xff")
    task = SendTask.mms("1", subject="hi", files=[tmp_path / "a.txt", tmp_path / "b.jpg"], tid=904)
    assert task.attachments == "txt aGVsbG8=;jpg /9j/"
    assert dev.send(task)[0].ok
    titled = SendTask.mms_with_titles([("1", "for 1"), ("2", "for 2")], text="body", tid=905)
    assert titled.to_title_array == [["1", "for 1"], ["2", "for 2"]] and dev.send(titled)[0].ok
    with pytest.raises(ValueError, match="jpg, gif, txt or mp3"):
        SendTask.mms("1", files=[tmp_path / "a.txt"] + [str(tmp_path / "x.exe")])


def test_inbox_decoded(dev, server):
    inject(server, "1.01", "ünïcode ✓")
    page = dev.inbox()
    sms = page.messages[-1]
    assert sms.text == "ünïcode ✓" and sms.sender == "10086" and sms.port == "1.01" and sms.delivery is None
    assert sms.id == page.next_sms - 1 and len(page.ssrc) == 16
    assert dev.inbox(sms.id, delete=True).sms_num == 1
    assert dev.inbox(sms.id).sms_num == 0


def test_delivery_reports_parsed(dev, server):
    dev.send(SendTask.text("13900000001", "dr please", tid=906, from_="1", dr=1))
    until(lambda: any(m.delivery for m in dev.inbox().messages))
    [dr] = [m for m in dev.inbox().messages if m.delivery]
    assert dr.delivery.delivered and dr.recipient == "13900000001" and dr.delivery.code == 0


def test_statistics(dev, server):
    inject(server, "2.01", "count me")
    [s] = dev.sms_stats(ports=2)
    assert s.port == 2 and s.received >= 1
    assert len(dev.sms_stats(ports="1-2", slots="all", type=3)) == 8
    httpx.get(
        f"{server.url}/sim/call",
        params={"username": "root", "password": "root", "port": "1.01", "pdd": "0", "duration": "0"},
    )
    until(lambda: dev.call_stats(ports=1)[0].calls == 1)
    c = dev.call_stats(ports=1)[0]
    assert c.nc == "1/1" and c.asr == 100


def test_esim(dev, server):
    cards = dev.esims(ports=4)
    assert cards[0].eid and len(cards[0].profiles) == 4 and not cards[0].profiles[1].written
    [r] = dev.write_esims([{"port": 4, "slot": 2, "ac": "LPA:1$smdp.example.com$X1", "cc": ""}])
    assert r.status == 1
    until(lambda: dev.esims(ports=4)[0].profiles[1].written)
    assert dev.esims(ports=4)[0].profiles[1].provider == "smdp.example.com"
    assert dev.delete_esims([{"port": 4, "slot": 2}])[0].status == 1
    until(lambda: not dev.esims(ports=4)[0].profiles[1].written)


def test_wrong_password(server):
    with Client(server.url, password="nope") as c, pytest.raises(InvalidUser) as exc:
        c.status()
    assert exc.value.code == 1 and exc.value.reason == "Invalid User"


@pytest.mark.parametrize("crypt_name", [None, "aes-ecb"])
def test_secure_session(tmp_path, crypt_name):
    with (
        ServerThread(str(tmp_path), clock="virtual") as device,
        Client(device.url, secure=True, crypt=crypt_name) as c,
    ):
        assert c.status().max_ports == 4
        assert c.send_sms("1", "secret text", tid=950).ok
        assert c.pause([999]) is not None
        device.advance(181)  # past the session's lifetime: the device refuses it
        assert c.status().max_ports == 4  # reopened transparently


def test_secure_session_wrong_password(server):
    with Client(server.url, password="bad", secure=True) as c, pytest.raises(InvalidUser):
        c.status()


class FlakyTransport(httpx.BaseTransport):
    """Fails the first ``failures`` requests with a connection error, then passes them on."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts = 0
        self._real = httpx.HTTPTransport()

    def handle_request(self, request):
        self.attempts += 1
        if self.attempts <= self.failures:
            raise httpx.ConnectError("refused", request=request)
        return self._real.handle_request(request)


def test_queries_are_retried_after_network_errors(server):
    transport = FlakyTransport(2)
    with Client(server.url, transport=transport, retries=2) as c:
        assert c.status().max_ports == 4
    assert transport.attempts == 3


def test_sending_is_not_retried(server):
    transport = FlakyTransport(1)
    with Client(server.url, transport=transport, retries=5) as c, pytest.raises(DeviceUnreachable):
        c.send_sms("1", "must not be sent twice", tid=960)
    assert transport.attempts == 1


def test_unreachable():
    with Client("http://127.0.0.1:1", retries=0) as c, pytest.raises(DeviceUnreachable):
        c.status()


# --- async ---------------------------------------------------------------------------


async def test_async_client_covers_every_endpoint(device):
    url = str(device.client.make_url("/"))
    async with AsyncClient(url) as dev:
        assert (await dev.status()).status[0].state == 3
        await dev.lock("2.01")
        assert (await dev.status()).status[1].state == 12
        await dev.unlock("2.01")
        await dev.switch("3.02")
        await dev.led(1, on=False)
        await dev.multiple([("ledon", "1")])
        await dev.reset(4)
        await dev.save()
        assert await dev.set_params(sms_url="http://127.0.0.1:9/x") == 1
        assert (await dev.get_params("sms_url"))["sms_url"] == "http://127.0.0.1:9/x"
        assert (await dev.send_sms("1", "async", tid=1, from_="2")).ok
        assert (await dev.tasks(2)).total_num == 1
        assert [r.status for r in await dev.pause([1])] == ["0 OK"]
        assert await dev.resume() is None
        await device.settle()
        assert (await dev.sms_stats(ports=2))[0].sent == 1
        assert len(await dev.call_stats()) == 4
        assert (await dev.remove()) is None
        await device.get("/sim/inbound", port="1.01", sender="1", text=base64.b64encode(b"x").decode())
        assert (await dev.inbox()).sms_num == 1
        assert len(await dev.esims()) == 4
        assert (await dev.write_esims([{"port": 1, "slot": 1, "ac": "LPA:1$a.b$c"}]))[0].status == 1
        assert (await dev.delete_esims([{"port": 2, "slot": 1}]))[0].status == 1
        with pytest.raises(InvalidPort):
            await dev.lock("9")


async def test_async_secure_session_with_aes(device):
    url = str(device.client.make_url("/"))
    async with AsyncClient(url, crypt="aes-ecb") as dev:
        await dev.lock("all")
        assert (await dev.send_sms("1", "encrypted", tid=5)).ok
        assert [r.status for r in await dev.pause([5])] == ["0 OK"]
        await device.clock.advance(181)  # the session expires; the client opens a new one
        assert (await dev.status()).max_ports == 4
    async with AsyncClient(url, password="wrong", secure=True) as dev:
        with pytest.raises(InvalidUser):
            await dev.status()


def test_session_errors_are_typed():
    from ejoin.client.errors import error_for

    assert isinstance(error_for(409, "replayed"), SessionError)
    assert isinstance(error_for(401, "expired"), SessionError)
