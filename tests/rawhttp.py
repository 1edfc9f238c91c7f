"""Raw HTTP/1.1 over a socket: exactly the bytes a test gives, and the answers read back as they come.

For what an HTTP client library would never send (spaces before a colon, two
Content-Lengths, a bare LF, ...).  ``exchange`` (asyncio, for a server on the
test's loop) and ``exchange_sync`` (for a server on another thread) write the
bytes, then read answers until the server closes or ``answers`` are complete.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes

    @property
    def json(self) -> Any:
        assert self.headers.get("content-type", "").startswith("application/json"), (self.status, self.headers)
        return json.loads(self.body)


@dataclass
class Conversation:
    answers: list[Answer] = field(default_factory=list)
    closed: bool = False  # the server closed the connection after them


def parse_answers(data: bytes) -> list[Answer]:
    answers = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            break
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        if len(rest) < length:
            break
        answers.append(Answer(status, headers, rest[:length]))
        data = rest[length:]
    return answers


def _complete(data: bytes, answers: int | None) -> bool:
    if answers is None:
        return False
    done = parse_answers(data)
    return len(done) >= answers and all(a.status != 100 for a in done[-1:])


async def exchange(host: str, port: int, *parts: bytes, answers: int | None = None, deadline: float = 5.0):
    """Send ``parts`` (in order, each written and drained), then read until the server closes the
    connection or ``answers`` complete answers (100 Continue not counted last) have come."""
    reader, writer = await asyncio.open_connection(host, port)
    data = b""
    closed = False
    try:
        for part in parts:
            writer.write(part)
            await writer.drain()
        async with asyncio.timeout(deadline):
            while not _complete(data, answers):
                chunk = await reader.read(65536)
                if not chunk:
                    closed = True
                    break
                data += chunk
    except ConnectionResetError:
        closed = True
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass
    return Conversation(parse_answers(data), closed)


def exchange_sync(host: str, port: int, *parts: bytes, answers: int | None = None, deadline: float = 5.0):
    """``exchange`` for a server running on another thread."""
    data = b""
    closed = False
    end = time.monotonic() + deadline
    with socket.create_connection((host, port), timeout=deadline) as sock:
        try:
            for part in parts:
                sock.sendall(part)
            while not _complete(data, answers):
                sock.settimeout(max(0.01, end - time.monotonic()))
                chunk = sock.recv(65536)
                if not chunk:
                    closed = True
                    break
                data += chunk
        except ConnectionResetError:
            closed = True
    return Conversation(parse_answers(data), closed)


def php_curl(
    method: str, target: str, host: str, headers: list[str], body: bytes | None = None, *, form_type: bool = True
) -> bytes:
    """What PHP's curl extension (libcurl) sends for ``CURLOPT_HTTPHEADER => $headers`` (and
    ``CURLOPT_POSTFIELDS => $body``): its own Host and Accept, the array's lines as given, then
    Content-Length and, as libcurl recognises a hand-built header only as ``Name:`` (its
    Curl_checkheaders), its own form Content-Type beside a hand-built ``Content-Type : ...``;
    ``Expect: 100-continue`` for bodies over 1 KB (libcurl before 8.x)."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Accept: */*", *headers]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
        if form_type:
            lines.append("Content-Type: application/x-www-form-urlencoded")
        if len(body) > 1024:
            lines.append("Expect: 100-continue")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")
