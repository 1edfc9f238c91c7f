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


def test_the_docs_have_examples():
    assert all(curls(p) for p in DOCS), "every API page shows curl examples"


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs the curl command")
async def test_every_documented_curl_works(tmp_path):
    gw = GatewayProcess(tmp_path, free_port(), ports=8, slots=4)
    await gw.start()
    try:
        for path in DOCS:
            for line in curls(path):
                cmd = line.replace("127.0.0.1:8080", f"127.0.0.1:{gw.port}").replace("curl ", "curl -sS ", 1)
                proc = await asyncio.create_subprocess_shell(
                    cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
                )
                out, err = await asyncio.wait_for(proc.communicate(), 10)
                assert proc.returncode == 0, (path.name, line, err)
                answer = json.loads(out)
                assert succeeded(answer), (path.name, line, answer)
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
