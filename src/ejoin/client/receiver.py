"""A push receiver for platforms: status, reports, received SMS and MMS from any device.

    from ejoin.client.receiver import create_receiver_app
    app = create_receiver_app("pushes.sqlite3", on_sms=lambda sms: print(sms.sender, sms.text))
    aiohttp.web.run_app(app, port=9000)

Every push is checked (HMAC signature when a secret is given), decoded, stored
in SQLite and then handed to the callbacks.  Devices deliver at least once, so a
push seen before (the same body) is acknowledged and not stored or handed on
again.  Real devices' variations are accepted: ``st`` as a number or as text,
``max-slot``/``max-slots``, recv-sms rows with more than six fields.
"""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import hashlib
import inspect
import json
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
from aiohttp import web

from ..protocol import crypt
from ..store.migrations import Schema, migrate_sqlite
from ..store.thread import DatabaseThread
from .models import DevStatus, InboundSms, PortStatus, TaskReport

log = logging.getLogger(__name__)
T = TypeVar("T")

# Version 1 is the schema of the receivers before versions were kept (``IF NOT EXISTS``: a file of
# theirs takes it as it is).
SCHEMA = Schema.of_sqlite(
    "the push store",
    [
        """
CREATE TABLE IF NOT EXISTS push (
    id       INTEGER PRIMARY KEY,
    digest   TEXT NOT NULL UNIQUE,
    kind     TEXT NOT NULL,
    received REAL NOT NULL,
    body     BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS sms (
    id        INTEGER PRIMARY KEY,
    push_id   INTEGER NOT NULL,
    flag      INTEGER NOT NULL,
    port      TEXT NOT NULL,
    ts        INTEGER NOT NULL,
    sender    TEXT NOT NULL,
    recipient TEXT NOT NULL,
    text      TEXT,
    content   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS report (
    id      INTEGER PRIMARY KEY,
    push_id INTEGER NOT NULL,
    tid     TEXT NOT NULL,
    sending INTEGER, sent INTEGER, failed INTEGER, unsent INTEGER,
    body    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS port_status (
    port  TEXT PRIMARY KEY,
    seq   INTEGER NOT NULL,
    state INTEGER NOT NULL,
    body  TEXT NOT NULL
);
"""
    ],
)


def open_store(path: str) -> sqlite3.Connection:
    """The receiver's file, opened and brought to the newest schema."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        migrate_sqlite(conn, SCHEMA)
    except BaseException:
        conn.close()
        raise
    return conn


@dataclass
class MmsPart:
    content_type: str
    name: str
    data: bytes


@dataclass
class MmsPush:
    subject: str
    sender: str
    recipient: str
    date: str
    parts: list[MmsPart] = field(default_factory=list)


def _header_value(value: str | None) -> str:
    """``"c3ViamVjdDAw; charset=UTF-8"`` -> ``"subject00"`` (base64 before the parameters)."""
    if not value:
        return ""
    encoded, _, params = value.partition(";")
    charset = "utf-8"
    for p in params.split(";"):
        k, _, v = p.strip().partition("=")
        if k.lower() == "charset" and v:
            charset = v.strip('"')
    try:
        return base64.b64decode(encoded.strip()).decode(charset, "replace")
    except (ValueError, LookupError):
        return encoded.strip()


def _payload(part: Any) -> bytes:
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def parse_mms(headers: dict[str, str] | Any, body: bytes) -> MmsPush:
    raw = b"Content-Type: " + headers.get("Content-Type", "").encode() + b"\r\n\r\n" + body
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    parts = []
    for part in msg.iter_parts() if msg.is_multipart() else []:
        if part.get_content_type() == "application/smil":
            continue
        parts.append(
            MmsPart(
                part.get_content_type(),
                part.get("Content-Location", "") or part.get_filename() or "",
                _payload(part),
            )
        )
    return MmsPush(
        _header_value(headers.get("Emms-Subject")),
        _header_value(headers.get("Emms-From")),
        _header_value(headers.get("Emms-To")),
        headers.get("Date", ""),
        parts,
    )


class ReceiverStore:
    """The receiver's SQLite file, owned by one thread (opened at its first use)."""

    def __init__(self, path: str) -> None:
        self._thread = DatabaseThread("ejoin-receiver-db", lambda: open_store(path))
        self._opening = asyncio.Lock()

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if not self._thread.running:
            async with self._opening:
                if not self._thread.running:
                    await self._thread.start()
        return await self._thread.submit(fn)

    async def close(self) -> None:
        await self._thread.stop()

    async def save(self, digest: str, kind: str, body: bytes, decoded: Any) -> bool:
        """Store a push and what it carried; False if it was seen before."""

        def work(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "INSERT OR IGNORE INTO push(digest, kind, received, body) VALUES(?,?,?,?)",
                (digest, kind, time.time(), body),
            )
            if cur.rowcount == 0:
                return False
            push_id = cur.lastrowid
            if kind == "recv-sms":
                conn.executemany(
                    "INSERT INTO sms(push_id, flag, port, ts, sender, recipient, text, content) "
                    "VALUES(?,?,?,?,?,?,?,?)",
                    [(push_id, s.flag, s.port, s.ts, s.sender, s.recipient, s.text, s.content) for s in decoded],
                )
            elif kind == "status-report":
                conn.executemany(
                    "INSERT INTO report(push_id, tid, sending, sent, failed, unsent, body) VALUES(?,?,?,?,?,?,?)",
                    [
                        (
                            push_id,
                            str(r.tid),
                            r.sending,
                            r.sent,
                            r.failed,
                            r.unsent,
                            msgspec.json.encode(r).decode(),
                        )
                        for r in decoded
                    ],
                )
            elif kind == "port-status":
                conn.execute(
                    "INSERT INTO port_status(port, seq, state, body) VALUES(?,?,?,?) ON CONFLICT(port) DO "
                    "UPDATE SET seq = excluded.seq, state = excluded.state, body = excluded.body "
                    "WHERE excluded.seq >= port_status.seq",
                    (decoded.port, decoded.seq, decoded.state, msgspec.json.encode(decoded).decode()),
                )
            return True

        return await self.run(work)

    async def messages(self) -> list[InboundSms]:
        def work(conn: sqlite3.Connection) -> list[InboundSms]:
            rows = conn.execute("SELECT flag, port, ts, sender, recipient, content FROM sms ORDER BY id")
            return [InboundSms.from_row(list(r)) for r in rows]

        return await self.run(work)

    async def count(self, kind: str | None = None) -> int:
        def work(conn: sqlite3.Connection) -> int:
            if kind is None:
                row = conn.execute("SELECT COUNT(*) FROM push").fetchone()
            else:
                row = conn.execute("SELECT COUNT(*) FROM push WHERE kind = ?", (kind,)).fetchone()
            return int(row[0])

        return await self.run(work)


Callback = Callable[[Any], Any]


def _decode(kind: str, data: dict[str, Any]) -> Any:
    if kind == "dev-status":
        return msgspec.convert(data, DevStatus, strict=False)
    if kind == "port-status":
        return msgspec.convert(data, PortStatus, strict=False)
    if kind == "status-report":
        return msgspec.convert(data.get("rpts") or [], list[TaskReport], strict=False)
    if kind == "recv-sms":
        rows = data.get("sms") or []
        if not isinstance(rows, list) or not all(isinstance(r, list) and len(r) >= 6 for r in rows):
            raise ValueError("recv-sms rows are arrays of at least six fields")
        return [InboundSms.from_row(r) for r in rows]
    return data


RECEIVER: web.AppKey[Any] = web.AppKey("receiver", object)


class PushReceiver:
    def __init__(
        self,
        db: str,
        *,
        secret: str | None = None,
        max_age: float = 300.0,
        callbacks: dict[str, Callback | None] | None = None,
        on_rejected: Callable[[str, str], Any] | None = None,
    ) -> None:
        self.store = ReceiverStore(db)
        self.on_rejected = on_rejected
        self.secret = secret
        self.max_age = max_age
        self.callbacks = {k: v for k, v in (callbacks or {}).items() if v is not None}
        self.duplicates = 0

    def _verified(self, request: web.Request, body: bytes) -> bool:
        if not self.secret:
            return True
        try:
            ts = int(request.headers.get("X-Ejoin-Timestamp", ""))
        except ValueError:
            return False
        if abs(time.time() - ts) > self.max_age:
            return False
        return crypt.verify_push(self.secret, ts, body, request.headers.get("X-Ejoin-Signature", ""))

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not self._verified(request, body):
            return self._reject(request, 401, "missing or wrong push signature")
        digest = hashlib.sha256(body).hexdigest()
        is_mms = request.content_type == "multipart/related" or "Emms-From" in request.headers
        try:
            if is_mms:
                kind, decoded = "mms", parse_mms(request.headers, body)
            else:
                data = json.loads(body)
                if not isinstance(data, dict):
                    raise ValueError("a push is a JSON object")
                kind = str(data.get("type", "unknown"))
                decoded = _decode(kind, data)
        except (ValueError, msgspec.ValidationError, UnicodeDecodeError) as exc:
            return self._reject(request, 400, f"not a push this receiver reads: {exc}")
        if not await self.store.save(digest, kind, body, decoded):
            self.duplicates += 1
            return web.json_response({"code": 0, "reason": "duplicate, already received"})
        await self._notify(kind, decoded)
        return web.json_response({"code": 0, "reason": "OK"})

    def _reject(self, request: web.Request, status: int, reason: str) -> web.Response:
        if self.on_rejected is not None:
            try:
                self.on_rejected(request.remote or "?", reason)
            except Exception:  # a failing observer must not change what the device is answered
                log.exception("the on_rejected callback failed")
        return web.json_response({"code": status, "reason": reason}, status=status)

    async def _notify(self, kind: str, decoded: Any) -> None:
        name = {
            "dev-status": "on_dev_status",
            "port-status": "on_port_status",
            "status-report": "on_report",
            "recv-sms": "on_sms",
            "mms": "on_mms",
        }.get(kind, "on_other")
        callback = self.callbacks.get(name)
        if callback is None:
            return
        items = decoded if kind in ("status-report", "recv-sms") else [decoded]
        for item in items:
            try:
                result = callback(item)
                if inspect.isawaitable(result):
                    await result
            except Exception:  # the push is stored; a failing callback must not make the device resend it
                log.exception("a %s callback failed", kind)


def create_receiver_app(
    db: str = "ejoin-pushes.sqlite3",
    *,
    secret: str | None = None,
    max_age: float = 300.0,
    on_dev_status: Callback | None = None,
    on_port_status: Callback | None = None,
    on_report: Callback | None = None,
    on_sms: Callback | None = None,
    on_mms: Callback | None = None,
    on_other: Callback | None = None,
    on_rejected: Callable[[str, str], Any] | None = None,
) -> web.Application:
    """The receiver as an aiohttp app; ``on_rejected(remote, reason)`` hears of refused pushes."""
    receiver = PushReceiver(
        db,
        secret=secret,
        max_age=max_age,
        callbacks={
            "on_dev_status": on_dev_status,
            "on_port_status": on_port_status,
            "on_report": on_report,
            "on_sms": on_sms,
            "on_mms": on_mms,
            "on_other": on_other,
        },
        on_rejected=on_rejected,
    )
    app = web.Application(client_max_size=32 * 1024 * 1024)
    app[RECEIVER] = receiver
    app.router.add_post("/{tail:.*}", receiver.handle)

    async def close(_: web.Application) -> None:
        await receiver.store.close()

    app.on_cleanup.append(close)
    return app
