"""MMS receive pushes (spec 11): a multipart/related body with Emms-* headers.

The body follows spec 11.3: a SMIL part first (``Content-ID: <0.smil>``), then
every part with its ``Content-Type`` and ``Content-Location``.  Header values
are base64 with parameters, e.g. ``Emms-From: Kzg2MTM3...=; type=PLMN; charset=UTF-8``.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from email.utils import formatdate

__all__ = ["MmsPart", "MmsMessage", "build_mms_push"]


@dataclass(frozen=True)
class MmsPart:
    content_type: str  # "image/jpeg", "text/plain; charset=UTF-8", ...
    name: str  # Content-Location, e.g. "IMG_3337.jpg"
    data: bytes


@dataclass(frozen=True)
class MmsMessage:
    subject: str
    sender: str
    recipient: str
    parts: tuple[MmsPart, ...]
    ts: float


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _smil(parts: tuple[MmsPart, ...]) -> bytes:
    body = []
    for part in parts:
        kind = part.content_type.split("/", 1)[0]
        tag = {"image": "img", "text": "text", "audio": "audio", "video": "video"}.get(kind, "ref")
        body.append(f'<par dur="5000ms"><{tag} src="{part.name}"/></par>')
    return ("<smil><head><layout><root-layout/></layout></head><body>" + "".join(body) + "</body></smil>").encode()


def build_mms_push(msg: MmsMessage) -> tuple[dict[str, str], bytes]:
    """Headers (the Emms-* ones, Date and Content-Type) and the body of the push."""
    # Deterministic boundary from the content: the same MMS gives the same bytes.
    digest = hashlib.sha256(repr((msg.subject, msg.sender, msg.recipient, msg.ts)).encode())
    for p in msg.parts:
        digest.update(p.data)
    boundary = "ejoin" + digest.hexdigest()[:24]
    chunks: list[bytes] = []

    def part(headers: list[str], data: bytes) -> None:
        chunks.append(
            f"--{boundary}\r\n".encode() + "".join(h + "\r\n" for h in headers).encode() + b"\r\n" + data + b"\r\n"
        )

    part(["Content-Type: application/smil", "Content-ID: <0.smil>"], _smil(msg.parts))
    for p in msg.parts:
        part(
            [
                f'Content-Type: {p.content_type}; name="{p.name}"'
                if not p.content_type.startswith("text/")
                else f"Content-Type: {p.content_type}",
                f"Content-Location: {p.name}",
            ],
            p.data,
        )
    body = b"".join(chunks) + f"--{boundary}--\r\n".encode()
    headers = {
        "Emms-Subject": f"{_b64(msg.subject)}; charset=UTF-8",
        "Emms-From": f"{_b64(msg.sender)}; type=PLMN; charset=UTF-8",
        "Emms-To": f"{_b64(msg.recipient)}; type=PLMN; charset=UTF-8",
        "Date": formatdate(msg.ts, usegmt=True),
        "Content-Type": f'multipart/related; boundary={boundary}; type="application/smil"; start="<0.smil>"',
    }
    return headers, body
