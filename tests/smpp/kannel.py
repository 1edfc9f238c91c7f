"""Kannel (Debian's ``kannel``: bearerbox + smsbox) in front of an SMPP server on loopback, and an HTTP
receiver for what Kannel calls out to (received SMS through an sms-service, delivery reports through a
dlr-url).  The configuration is the one docs/smpp.md shows, with free ports and files in a temporary
directory.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

BEARERBOX = shutil.which("bearerbox") or (Path("/usr/sbin/bearerbox").is_file() and "/usr/sbin/bearerbox") or None
SMSBOX = shutil.which("smsbox") or (Path("/usr/sbin/smsbox").is_file() and "/usr/sbin/smsbox") or None
ADMIN_PASSWORD = "admin-secret"
SENDSMS_USER, SENDSMS_PASSWORD = "platform", "sendsms-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(
    directory: Path, smpp_port: int, callbacks: str, ports: dict[str, int], system_id: str, password: str
) -> str:
    """bearerbox + smsbox talking SMPP 3.4 to ejoin as one transceiver (docs/smpp.md, "Kannel")."""
    return f"""
group = core
admin-port = {ports["admin"]}
admin-password = {ADMIN_PASSWORD}
smsbox-port = {ports["smsbox"]}
box-allow-ip = 127.0.0.1
log-file = "{directory / "bearerbox.log"}"
log-level = 0
dlr-storage = internal

group = smsc
smsc = smpp
smsc-id = ejoin
host = 127.0.0.1
port = {smpp_port}
transceiver-mode = true
smsc-username = {system_id}
smsc-password = {password}
system-type = ""
msg-id-type = 0x00
reconnect-delay = 1
enquire-link-interval = 30

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {ports["smsbox"]}
sendsms-port = {ports["sendsms"]}
mo-recode = true
log-file = "{directory / "smsbox.log"}"
log-level = 0

group = sendsms-user
username = {SENDSMS_USER}
password = {SENDSMS_PASSWORD}

group = sms-service
keyword = default
catch-all = yes
max-messages = 0
get-url = "{callbacks}/mo?from=%p&to=%P&text=%a&coding=%c"
"""


@dataclass(frozen=True)
class Call:
    path: str
    query: dict[str, str]


class Callbacks:
    """Records the GET requests Kannel makes (sms-service get-url, dlr-url), in order."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._cond = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urllib.parse.urlsplit(self.path)
                call = Call(parts.path, dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True)))
                with outer._cond:
                    outer.calls.append(call)
                    outer._cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Callbacks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait_for(self, predicate: Callable[[Call], bool], timeout: float = 15.0) -> Call:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for call in self.calls:
                    if predicate(call):
                        return call
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"Kannel made no such call within {timeout:g} s: {self.calls}")
                self._cond.wait(left)


class Kannel:
    def __init__(
        self, directory: Path, smpp_port: int, callbacks: str, *, system_id: str = "root", password: str = "root"
    ) -> None:
        assert BEARERBOX and SMSBOX
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.ports = {"admin": free_port(), "smsbox": free_port(), "sendsms": free_port()}
        self.conf = directory / "kannel.conf"
        self.conf.write_text(config(directory, smpp_port, callbacks, self.ports, system_id, password))
        self._procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Kannel:
        for program in (BEARERBOX, SMSBOX):
            assert program is not None
            out = open(self.directory / f"{Path(program).name}.out", "wb")  # noqa: SIM115 - lives with the process
            self._procs.append(subprocess.Popen([program, str(self.conf)], stdout=out, stderr=subprocess.STDOUT))
            if program == BEARERBOX:
                self._wait(lambda status: "Status: running" in status, "bearerbox running")
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self._procs):
            proc.terminate()
        for proc in self._procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def status(self) -> str:
        url = f"http://127.0.0.1:{self.ports['admin']}/status.txt?password={ADMIN_PASSWORD}"
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return answer.read().decode("utf-8", "replace")
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return ""

    def _wait(self, ready: Callable[[str], bool], what: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            if ready(status):
                return status
            for proc in self._procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{proc.args[0]} exited: {self.logs()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"Kannel: not {what} within {timeout:g} s:\n{status}\n{self.logs()}")
            time.sleep(0.05)  # polling another program's status page: nothing to be woken by

    def wait_online(self) -> str:
        """Until the SMSC link to ejoin is bound and smsbox is connected to bearerbox."""
        return self._wait(lambda s: "online" in s and "smsbox:" in s, "online with smsbox connected")

    def sendsms(self, **params: str) -> tuple[int, str]:
        query = urllib.parse.urlencode({"username": SENDSMS_USER, "password": SENDSMS_PASSWORD, **params})
        url = f"http://127.0.0.1:{self.ports['sendsms']}/cgi-bin/sendsms?{query}"
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:
                return answer.status, answer.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8", "replace")

    def logs(self) -> str:
        tails = []
        for name in ("bearerbox.log", "smsbox.log", "bearerbox.out", "smsbox.out"):
            path = self.directory / name
            if path.exists():
                lines = path.read_text(errors="replace").splitlines()
                tails.append(f"--- {name}\n" + "\n".join(line for line in lines[-40:] if "DEBUG" not in line))
        return "\n".join(tails)
