"""The real ``ejoin gateway`` process: startup, SIGTERM, and kill -9 with pushes pending.

These cross process boundaries, so they wait on real I/O (with deadlines);
the retry back-off is configured small so nothing waits long.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

pytestmark = pytest.mark.slow  # real processes / thousands of generated requests: -m "not slow" skips

AUTH = {"username": "root", "password": "root"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GatewayProcess:
    ready_path = "/sim/state"  # answers once the gateway listens (a driver without /sim/*: the status)

    def __init__(self, tmp: Path, port: int, *, ports: int = 4, slots: int = 2, extra: str = "") -> None:
        self.port = port
        self.config = tmp / "gateway.toml"
        self.config.write_text(
            f'data = "{tmp / "data"}"\n'
            f"ports = {ports}\nslots = {slots}\nfast = true\n"
            "push_retry_base = 0.05\npush_retry_cap = 0.2\npush_timeout = 2.0\n" + extra
        )
        self.log = tmp / "gateway.log"
        self.proc: asyncio.subprocess.Process | None = None
        self.base = f"http://127.0.0.1:{port}"

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ejoin",
            "gateway",
            "--config",
            str(self.config),
            "--port",
            str(self.port),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=open(self.log, "ab"),
        )
        async with aiohttp.ClientSession() as s:
            for _ in range(200):  # until it listens (deadline 10 s)
                try:
                    async with s.get(f"{self.base}{self.ready_path}", params=AUTH) as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    pass
                if self.proc.returncode is not None:
                    raise RuntimeError(self.log.read_text())
                await asyncio.sleep(0.05)
        raise TimeoutError("the gateway did not start:\n" + self.log.read_text())

    async def get(self, path: str, **params) -> dict:
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{self.base}{path}", params={**AUTH, **params}) as r:
                return await r.json()

    def again(self) -> GatewayProcess:
        """The same gateway (data, port, config as written) to start again once this one has stopped."""
        twin = copy.copy(self)
        twin.proc = None
        return twin

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)


async def test_sigterm_stops_cleanly(tmp_path):
    gw = GatewayProcess(tmp_path, free_port())
    await gw.start()
    assert (await gw.get("/goip_get_status.html"))["max-ports"] == 4
    gw.proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(gw.proc.wait(), 10) == 0
    log = gw.log.read_text()
    assert f"listening on http://127.0.0.1:{gw.port}" in log and "stopped" in log
    assert "Traceback" not in log


async def test_a_public_address_warns_of_default_credentials_and_a_password_file_is_generated(tmp_path, monkeypatch):
    monkeypatch.delenv("EJOIN_PASSWORD", raising=False)
    gw = GatewayProcess(tmp_path, free_port(), extra='host = "0.0.0.0"\n')
    await gw.start()
    gw.proc.send_signal(signal.SIGTERM)
    await asyncio.wait_for(gw.proc.wait(), 10)
    log = gw.log.read_text()
    assert "open to anyone: listening on 0.0.0.0 with the default credentials root/root" in log
    # the deployment files' way: a password generated at the first start, printed there once
    gw.log.write_text("")
    gw.config.write_text(gw.config.read_text() + 'password_file = "password"\n')
    await gw.start()
    password = (tmp_path / "data" / "password").read_text().strip()
    assert await gw.get("/goip_get_status.html") == {"code": 1, "reason": "Invalid User"}
    assert (await gw.get("/goip_get_status.html", password=password))["type"] == "dev-status"
    gw.proc.send_signal(signal.SIGTERM)
    await asyncio.wait_for(gw.proc.wait(), 10)
    log = gw.log.read_text()
    assert log.count(password) == 1 and f"generated the device password for user root: {password}" in log
    assert "open to anyone" not in log


async def test_sigterm_lets_sms_in_a_module_finish(tmp_path, receiver):
    gw = GatewayProcess(tmp_path, free_port())
    gw.config.write_text(
        gw.config.read_text().replace("fast = true", "fast = false")
        + (
            "[timing]\ncard_detect = 0.0\nregister_min = 0.0\nregister_max = 0.0\nmodule_restart = 0.0\n"
            "send_min = 1.5\nsend_max = 1.5\n"
        )
    )
    await gw.start()
    async with aiohttp.ClientSession() as s:
        body = {
            "type": "send-sms",
            "sr_url": receiver.url,
            "sr_cnt": 1,
            "sr_prd": 0,
            "tasks": [{"tid": 1, "from": "1", "to": "1,2,3", "sms": "x", "sdr": 1, "sr_cnt": 1}],
        }
        async with s.post(f"{gw.base}/goip_post_sms.html", params=AUTH, json=body) as r:
            assert (await r.json())["status"][0]["status"] == "0 OK"
    # the first SMS is reported; the second is now in the module (each takes 1.5 s): the device says so
    await receiver.wait_for(lambda r: any(x["sent"] >= 1 for p in r.of_type("status-report") for x in p["rpts"]))
    stat = await gw.get("/goip_get_sms_stat.html", ports="1", slots="1", type="3")
    assert stat["stats"][0]["sending"] == 1, stat  # so the signal below really catches an SMS in a module
    gw.proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(gw.proc.wait(), 10) == 0
    gw2 = gw.again()
    await gw2.start()
    await receiver.wait_for(
        lambda r: any(x["sent"] == 3 for p in r.of_type("status-report") for x in p["rpts"]), timeout=10
    )
    fdr = [row for p in receiver.of_type("status-report") for x in p["rpts"] for row in x.get("fdr", [])]
    assert fdr == []  # nothing was cut off as "interrupted"
    assert "in a module when the device stopped" not in gw2.log.read_text()
    gw2.proc.send_signal(signal.SIGTERM)
    await asyncio.wait_for(gw2.proc.wait(), 10)


async def test_pushes_survive_receiver_outage_and_kill_9(tmp_path, receiver):
    receiver.status = 503  # the platform is down
    gw = GatewayProcess(tmp_path, free_port(), extra='empty_slots = "none"\n')  # 2.02 holds a card
    await gw.start()
    await gw.get("/goip_get_status.html", url=receiver.url, period="0")
    await gw.get("/goip_send_cmd.html", op="lock", ports="1.01")
    await gw.get("/goip_send_cmd.html", op="switch", ports="2.02")
    await gw.get("/goip_send_cmd.html", op="ledoff", ports="3")
    state = await gw.get("/sim/state")
    pending = state["outbox"]["pending"]
    # dev-status + lock + 2.01 idle + 2.02 detected/registering/registered + led
    assert pending >= 7
    await receiver.wait_for(lambda r: r.attempts >= 2)  # it was really trying
    gw.kill9()
    await gw.proc.wait()

    receiver.status = 200  # the platform is back
    gw2 = GatewayProcess(tmp_path, gw.port)
    await gw2.start()
    await receiver.wait_count(pending, timeout=15)
    first = [p.json for p in receiver.pushes[:pending]]
    assert first[0]["type"] == "dev-status"
    ports = [(p["port"], p["st"]) for p in first[1:]]
    assert ports[0] == ("1.01", 12)
    assert ("2.01", 1) in ports and ("2.02", 3) in ports
    assert ports.index(("2.02", 11)) < ports.index(("2.02", 2)) < ports.index(("2.02", 3))
    led = [p for p in first[1:] if p["port"] == "3.01"]
    assert led and led[-1]["led"] == 0
    # per slot, seq only grows: nothing arrives out of order
    by_port: dict[str, list[int]] = {}
    for p in first[1:]:
        by_port.setdefault(p["port"], []).append(p["seq"])
    assert all(seqs == sorted(seqs) for seqs in by_port.values())
    # the state from before the kill is still there
    st = await gw2.get("/goip_get_status.html", all_slots="1")
    entries = {e["port"]: e for e in st["status"]}
    assert entries["1.01"]["st"] == 12 and entries["2.02"]["active"] == 1 and entries["3.01"]["led"] == 0
    gw2.proc.send_signal(signal.SIGTERM)
    await asyncio.wait_for(gw2.proc.wait(), 10)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--ports", "0"], "Error: --ports: expected an integer from 1 to 256, not 0\n"),
        (["--slots", "99"], "Error: --slots: expected an integer from 1 to 32, not 99\n"),
    ],
)
async def test_bad_flags_are_refused_with_a_reason(tmp_path, flags, message):
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ejoin",
        "gateway",
        "--data",
        str(tmp_path),
        *flags,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 2
    assert err.decode() == message


@pytest.mark.parametrize("modems", ["simulated", "emulated"])  # emulated: every SMS through the AT driver
async def test_kill_9_mid_task_loses_nothing_and_sends_nothing_twice(tmp_path, receiver, modems):
    n = 2000
    gw = GatewayProcess(tmp_path, free_port(), extra=f'modems = "{modems}"\n')
    # real time, but quick: 5 ms per SMS on each of 4 ports
    gw.config.write_text(
        gw.config.read_text().replace("fast = true", "fast = false")
        + (
            "[timing]\ncard_detect = 0.0\nregister_min = 0.0\nregister_max = 0.0\nmodule_restart = 0.0\n"
            "send_min = 0.005\nsend_max = 0.005\n"
        )
    )
    await gw.start()
    to = ",".join(f"1380000{i:04d}" for i in range(n))
    async with aiohttp.ClientSession() as s:
        body = {
            "type": "send-sms",
            "sr_url": receiver.url,
            "sr_cnt": 1,
            "sr_prd": 1,
            "tasks": [{"tid": 4242, "to": to, "sms": "durable", "sdr": 1, "sr_cnt": 50}],
        }
        async with s.post(f"{gw.base}/goip_post_sms.html", params=AUTH, json=body) as r:
            assert (await r.json())["status"] == [{"tid": 4242, "status": "0 OK"}]

    def progress(r):
        return max((x["sent"] + x["failed"] for p in r.of_type("status-report") for x in p["rpts"]), default=0)

    await receiver.wait_for(lambda r: progress(r) >= 200, timeout=20)
    gw.kill9()
    await gw.proc.wait()
    before = progress(receiver)
    assert before < n, "the task finished before the kill; the test proves nothing"

    gw2 = gw.again()
    await gw2.start()
    await receiver.wait_for(lambda r: progress(r) == n, timeout=60)
    rpts = [x for p in receiver.of_type("status-report") for x in p["rpts"]]
    final = [x for x in rpts if x["sent"] + x["failed"] == n][-1]
    assert final["unsent"] == 0 and final["sending"] == 0
    outcome: dict[int, str] = {}
    for x in rpts:
        for row in x.get("sdr", []):
            outcome.setdefault(row[0], "sent")
            assert outcome[row[0]] == "sent"
        for row in x.get("fdr", []):
            outcome.setdefault(row[0], row[4])
            assert outcome[row[0]] == row[4]
    assert sorted(outcome) == list(range(n))  # every recipient accounted for
    interrupted = [i for i, o in outcome.items() if o == "7 Interrupted by restart"]
    assert len(interrupted) <= 4  # at most the one SMS each port had in its module
    assert final["failed"] == len(interrupted) and final["sent"] == n - len(interrupted)
    gw2.proc.send_signal(signal.SIGTERM)
    await asyncio.wait_for(gw2.proc.wait(), 10)


async def test_kill_9_under_many_one_recipient_requests_keeps_every_task_answered_ok(tmp_path, receiver):
    """Tasks of concurrent requests share a store write (issue 28): a kill -9 while requests are in
    flight loses none that was answered "0 OK", and sends none of them twice."""
    gw = GatewayProcess(tmp_path, free_port())
    # 4 ports taking 10 ms per SMS: most tasks still wait in the queue at the kill
    gw.config.write_text(
        gw.config.read_text().replace("fast = true", "fast = false")
        + (
            "[timing]\ncard_detect = 0.0\nregister_min = 0.0\nregister_max = 0.0\nmodule_restart = 0.0\n"
            "send_min = 0.01\nsend_max = 0.01\n"
        )
    )
    await gw.start()
    answered: list[int] = []
    tids = iter(range(1, 100_000))

    async def client(s: aiohttp.ClientSession) -> None:
        for tid in tids:
            body = {"sr_url": receiver.url, "sr_prd": 0, "tasks": [{"tid": tid, "to": f"1390{tid:07d}", "sms": "x"}]}
            try:
                async with s.post(f"{gw.base}/goip_post_sms.html", params=AUTH, json=body) as r:
                    if (await r.json())["status"] == [{"tid": tid, "status": "0 OK"}]:
                        answered.append(tid)
            except (TimeoutError, aiohttp.ClientError):
                return  # the gateway is gone: this request's answer never came

    async with aiohttp.ClientSession() as s:
        clients = [asyncio.ensure_future(client(s)) for _ in range(16)]
        while len(answered) < 150:
            await asyncio.sleep(0.01)
        gw.kill9()  # sixteen requests in flight
        await asyncio.wait_for(asyncio.gather(*clients), 10)
    await gw.proc.wait()

    def finals(r) -> dict[int, dict]:
        done = {}
        for p in r.of_type("status-report"):
            for x in p["rpts"]:
                if x["unsent"] == 0 and x["sending"] == 0:
                    done.setdefault(x["tid"], x)
        return done

    assert len(finals(receiver)) < len(answered), "every task finished before the kill; the test proves nothing"
    gw2 = gw.again()
    await gw2.start()
    await receiver.wait_for(lambda r: set(answered) <= set(finals(r)), timeout=60)
    done = finals(receiver)
    assert all(done[t]["sent"] + done[t]["failed"] == 1 for t in answered)  # each SMS counted once
    interrupted = [t for t in answered if done[t]["failed"]]
    assert len(interrupted) <= 4  # at most the one SMS each port had in its module
    gw2.proc.send_signal(signal.SIGTERM)
    await asyncio.wait_for(gw2.proc.wait(), 10)


async def test_kill_9_after_inbound_sms_were_acknowledged(tmp_path, receiver):
    gw = GatewayProcess(tmp_path, free_port())
    await gw.start()
    await gw.get("/goip_send_cmd.html", op="set", sms_url=receiver.url, sms_cnt="50", sms_prd="600")
    for i in range(20):  # acknowledged (stored), waiting in the push cache
        assert (await gw.get("/sim/inbound", port="1.01", sender="10086", text=f"kept {i}"))["code"] == 0
    assert receiver.pushes == []
    gw.kill9()
    await gw.proc.wait()
    gw2 = GatewayProcess(tmp_path, gw.port)
    await gw2.start()
    await gw2.get("/goip_send_cmd.html", op="set", sms_cnt="1")  # flush what is cached from now on
    await gw2.get("/sim/inbound", port="1.01", sender="10086", text="after")
    await receiver.wait_for(lambda r: sum(p["sms_num"] for p in r.of_type("recv-sms")) >= 21, timeout=15)
    texts = [base64.b64decode(row[5]).decode() for p in receiver.of_type("recv-sms") for row in p["sms"]]
    assert texts == [f"kept {i}" for i in range(20)] + ["after"]
    inbox = await gw2.get("/goip_get_sms.html")
    assert inbox["sms_num"] == 21
    gw2.proc.send_signal(signal.SIGTERM)
    await asyncio.wait_for(gw2.proc.wait(), 10)


def self_signed(tmp: Path) -> tuple[Path, Path]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


async def test_tls(tmp_path):
    cert, key = self_signed(tmp_path)
    gw = GatewayProcess(tmp_path, free_port())
    gw.config.write_text(gw.config.read_text() + f'tls_cert = "{cert}"\ntls_key = "{key}"\n')
    gw.base = gw.base.replace("http://", "https://")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ejoin",
        "gateway",
        "--config",
        str(gw.config),
        "--port",
        str(gw.port),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=open(gw.log, "ab"),
    )
    gw.proc = proc
    try:
        async with aiohttp.ClientSession() as s:
            for _ in range(200):
                try:
                    async with s.get(f"{gw.base}/goip_get_status.html", params=AUTH, ssl=False) as r:
                        answer = await r.json()
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)  # waiting for the process to listen (a deadline, not behaviour)
            else:
                raise TimeoutError(gw.log.read_text())
        assert answer["type"] == "dev-status"
        assert f"listening on https://127.0.0.1:{gw.port}" in gw.log.read_text()
        async with aiohttp.ClientSession() as s:  # plain HTTP to a TLS port gets nowhere
            with pytest.raises(aiohttp.ClientError):
                async with s.get(f"http://127.0.0.1:{gw.port}/goip_get_status.html", params=AUTH) as r:
                    await r.read()
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 10)
