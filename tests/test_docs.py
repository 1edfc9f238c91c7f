"""Every curl in the README and docs/api works against the default-sized device."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .test_process import GatewayProcess, free_port

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs" / "api").glob("*.md"))]


def curls(path: Path) -> list[str]:
    """Each curl command of the ```sh blocks, continuation lines and multi-line quotes joined."""
    found = []
    for block in re.findall(r"```sh\n(.*?)```", path.read_text(), re.S):
        command = ""
        for line in block.replace("\\\n", " ").splitlines():
            if not command and not line.strip().startswith("curl "):
                continue
            command += (" " if command else "") + line.strip()
            if command.count("'") % 2 == 0:
                found.append(command)
                command = ""
    return found


def succeeded(answer: dict) -> bool:
    if answer.get("type") == "dev-status":
        return True
    if "problems" in answer:  # /healthz
        return answer.get("status") == "ok"
    if answer.get("type") == "task-status":
        return all(s["status"] == "0 OK" for s in answer["status"])
    return answer.get("code") in (0, 200)


def test_the_docs_stand_alone_in_a_clone():
    """The vendor documents are not shipped: pages describe them by name and version, and link our decisions."""
    pages = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").rglob("*.md"))]
    for page in pages:
        text = page.read_text()
        assert "shared/spec" not in text and "DECISIONS.md" not in text, page.name
        for target in re.findall(r"\]\(([^)#]+)", text):
            if "://" not in target:
                assert (page.parent / target).exists(), (page.name, target)
    readme = (ROOT / "README.md").read_text()
    assert "EJOIN HTTP API v2.4.0" in readme and "v2.1.0" in readme and "(docs/decisions.md)" in readme


def test_the_docs_have_examples():
    assert all(curls(p) for p in DOCS), "every API page shows curl examples"


# A SIM's own data (its number, the IMEI it is given) is what some examples are about; the rest must be as before.
_SIM_DATA = {"sim_number", "sim_imei", "port_status"}


async def _device_state(gw) -> dict:
    """What an example must not leave changed: settings, each slot's state, LED and activity, waiting tasks."""
    params = (await gw.get("/goip_send_cmd.html", op="get"))["data"]
    slots = (await gw.get("/goip_get_status.html", all_slots="1"))["status"]
    waiting = [(await gw.get("/goip_get_tasks.html", port=str(p)))["total_num"] for p in range(1, 9)]
    return {
        "params": {k: v for k, v in params.items() if k not in _SIM_DATA},
        "slots": {e["port"]: (e["st"], e["led"], e["active"]) for e in slots},
        "waiting": waiting,
    }


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs the curl command")
async def test_every_documented_curl_works_and_leaves_the_device_clean(tmp_path):
    gw = GatewayProcess(tmp_path, free_port(), ports=8, slots=4)
    await gw.start()
    try:
        for path in DOCS:
            before = await _device_state(gw)
            for line in curls(path):
                cmd = line.replace("127.0.0.1:8080", f"127.0.0.1:{gw.port}").replace("curl ", "curl -sS ", 1)
                proc = await asyncio.create_subprocess_shell(
                    cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
                )
                out, err = await asyncio.wait_for(proc.communicate(), 10)
                assert proc.returncode == 0, (path.name, line, err)
                answer = json.loads(out)
                assert succeeded(answer), (path.name, line, answer)
            assert await _device_state(gw) == before, f"{path.name} leaves the device changed"
    finally:
        gw.proc.terminate()
        await gw.proc.wait()


def _block(path: Path, lang: str, after: str) -> str:
    text = path.read_text()
    return re.findall(rf"```{lang}\n(.*?)```", text[text.index(after) :], re.S)[0]


def test_readme_python_and_cli_examples_work(tmp_path):
    from .threaded import ServerThread

    server = ServerThread(str(tmp_path / "data"), ports=8, slots=4).start()
    try:
        code = _block(ROOT / "README.md", "python", "## From Python").replace("http://127.0.0.1:8080", server.url)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        assert "3 Registered" in lines[0] and lines[1] == "0 OK"
        env = {**os.environ, "EJOIN_URL": server.url, "COLUMNS": "200"}
        for line in _block(ROOT / "README.md", "sh", "## From a terminal").splitlines():
            args = shlex.split(line)
            assert args[0] == "ejoin"
            run = subprocess.run(
                [sys.executable, "-m", "ejoin", *args[1:]], capture_output=True, text=True, timeout=60, env=env
            )
            assert run.returncode == 0, (line, run.stdout, run.stderr)
    finally:
        server.stop()


def _device_state_sync(url: str) -> dict:
    import httpx

    auth = {"username": "root", "password": "root"}
    params = httpx.get(f"{url}/goip_send_cmd.html", params={**auth, "op": "get"}).json()["data"]
    slots = httpx.get(f"{url}/goip_get_status.html", params={**auth, "all_slots": "1"}).json()["status"]
    waiting = [
        httpx.get(f"{url}/goip_get_tasks.html", params={**auth, "port": str(p)}).json()["total_num"]
        for p in range(1, 9)
    ]
    return {
        "params": {k: v for k, v in params.items() if k not in _SIM_DATA},
        "slots": {e["port"]: (e["st"], e["led"], e["active"]) for e in slots},
        "waiting": waiting,
    }


def test_client_sdk_example_works_and_leaves_the_device_clean(tmp_path):
    from .threaded import ServerThread

    receiver_port = free_port()
    receiver = subprocess.Popen(
        [sys.executable, "-m", "ejoin", "receive", "--port", str(receiver_port), "--db", str(tmp_path / "p.db")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    server = ServerThread(str(tmp_path / "data"), ports=8, slots=4).start()
    try:
        assert "receiving pushes" in receiver.stderr.readline()
        before = _device_state_sync(server.url)
        code = (
            _block(ROOT / "docs" / "client.md", "python", "## SDK")
            .replace("http://127.0.0.1:8080", server.url)
            .replace("127.0.0.1:9000", f"127.0.0.1:{receiver_port}")
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert "'sms_url': 'http://127.0.0.1:" in out.stdout
        assert _device_state_sync(server.url) == before
    finally:
        server.stop()
        receiver.terminate()
        receiver.wait(10)
