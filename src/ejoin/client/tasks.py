"""Building send tasks: texts, MMS attachments from files, per-recipient subjects."""

from __future__ import annotations

import base64
import itertools
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec

from ..protocol.numbers import NumberError, phone_number

_TYPES = {".jpg": "jpg", ".jpeg": "jpg", ".gif": "gif", ".txt": "txt", ".mp3": "mp3"}
_tids = itertools.count(int(time.time() * 1000))


def new_tid() -> int:
    """A fresh task id (milliseconds, as many platforms use ``Date.now()``)."""
    return next(_tids)


class SendTask(msgspec.Struct, omit_defaults=True, rename={"from_": "from"}):
    """One task of goip_post_sms, encoded exactly as the device expects (unset fields omitted)."""

    tid: int
    to: str | None = None
    sms: str | None = None
    from_: str | None = None
    to_all: int | None = None
    chs: str | None = None
    coding: int | None = None
    smstype: int | None = None
    smstitle: str | None = None
    to_title_array: list[list[str]] | None = None
    attachments: str | None = None
    smsc: str | None = None
    intvl: int | None = None
    tmo: int | None = None
    sdr: int | None = None
    fdr: int | None = None
    dr: int | None = None
    sr_prd: int | None = None
    sr_cnt: int | None = None

    @classmethod
    def text(cls, to: str | Iterable[str], text: str, *, tid: int | None = None, **fields: Any) -> SendTask:
        return cls(tid=tid if tid is not None else new_tid(), to=_numbers(to), sms=text, **fields)

    @classmethod
    def mms(
        cls,
        to: str | Iterable[str],
        *,
        subject: str = "",
        text: str = "",
        files: Iterable[str | Path] = (),
        tid: int | None = None,
        **fields: Any,
    ) -> SendTask:
        return cls(
            tid=tid if tid is not None else new_tid(),
            to=_numbers(to),
            sms=text,
            smstype=1,
            smstitle=subject,
            attachments=attachments_of(files),
            **fields,
        )

    @classmethod
    def mms_with_titles(
        cls,
        pairs: Iterable[tuple[str, str]],
        *,
        text: str = "",
        files: Iterable[str | Path] = (),
        tid: int | None = None,
        **fields: Any,
    ) -> SendTask:
        return cls(
            tid=tid if tid is not None else new_tid(),
            to_title_array=[[n, t] for n, t in pairs],
            sms=text,
            smstype=2,
            attachments=attachments_of(files),
            **fields,
        )


def _numbers(to: str | Iterable[str]) -> str:
    return to if isinstance(to, str) else ",".join(str(n).strip() for n in to)


def attachments_of(files: Iterable[str | Path]) -> str:
    parts = []
    for f in files:
        path = Path(f)
        kind = _TYPES.get(path.suffix.lower())
        if kind is None:
            raise ValueError(f"{path.name}: MMS attachments are jpg, gif, txt or mp3")
        parts.append(f"{kind} {base64.b64encode(path.read_bytes()).decode('ascii')}")
    return ";".join(parts)


class NumbersFileError(ValueError):
    """A file of numbers holding entries that are not phone numbers; ``problems`` has one line per entry."""

    def __init__(self, path: str | Path, problems: list[str]) -> None:
        super().__init__(f"{path}: " + "; ".join(problems))
        self.problems = problems


def read_numbers(path: str | Path, *, problems: list[str] | None = None) -> list[str]:
    """Numbers from a file: one per line or separated by commas; blank lines and # comments skipped.

    An entry that is not a phone number (protocol/numbers.py) is never returned: it is described
    ("line 3: 'abc' is not a phone number ...") in ``problems`` when that list is given, else every such
    entry is named in a ``NumbersFileError``.
    """
    out: list[str] = []
    found: list[str] = []
    for line_no, line in enumerate(Path(path).read_text().splitlines(), start=1):
        line = line.split("#", 1)[0]
        for entry in (n.strip() for n in line.split(",")):
            if not entry:
                continue
            try:
                out.append(phone_number(entry))
            except NumberError as exc:
                found.append(f"line {line_no}: {exc}")
    if problems is not None:
        problems.extend(found)
    elif found:
        raise NumbersFileError(path, found)
    return out
