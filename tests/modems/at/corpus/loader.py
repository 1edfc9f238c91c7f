"""The corpus of real module answers: one JSON file per category under data/.

Each file names its ``sources`` (repository, commit, licence); each vector says which source it comes
from and where in it (``at``: a file, a test function), the device when the source names it, what the
module answered (``lines`` framed as a module frames them, then ``final``; or ``raw`` bytes exactly as
captured), what it must come to (``expected``) and who says so (``expected_from``: the source's own
assertion, or python-gammu as an oracle: data/oracle.py).  A vector the driver gets wrong today says
why in ``xfail`` (one reason, or one per test that replays it): the test is marked
``xfail(strict=True)`` and turns into a failure the day the driver gets it right.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from .replay import frame

DATA = Path(__file__).parent / "data"


@dataclass(frozen=True)
class Source:
    repo: str
    commit: str
    licence: str


@dataclass(frozen=True)
class Vector:
    id: str
    category: str
    source: Source
    at: str
    data: dict[str, Any]

    @property
    def expected(self) -> dict[str, Any]:
        return self.data["expected"]

    @property
    def command(self) -> str:
        return self.data.get("command", "")

    @property
    def lines(self) -> list[str]:
        return list(self.data.get("lines", []))

    def answer(self) -> bytes:
        """What the module said, as bytes on the line."""
        if "raw" in self.data:
            return self.data["raw"].encode("latin-1")
        return frame(*self.lines, final=self.data.get("final"))

    def xfail(self, test: str) -> str | None:
        """Why the driver fails this vector in ``test``: a reason given for that test, or a plain reason,
        which covers the category's own tests (not the pass-through test every category shares)."""
        reason = self.data.get("xfail")
        if isinstance(reason, dict):
            return reason.get(test)
        return None if test == "passthrough" else reason

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)


@cache
def vectors(category: str) -> tuple[Vector, ...]:
    raw = json.loads((DATA / f"{category}.json").read_text(encoding="utf-8"))
    sources = {name: Source(**s) for name, s in raw["sources"].items()}
    return tuple(Vector(v["id"], category, sources[v["source"]], v["at"], v) for v in raw["vectors"])


def categories() -> list[str]:
    return sorted(p.stem for p in DATA.glob("*.json"))


def cases(category: str, test: str = "", where: Any = None) -> list[Any]:
    """pytest params of the category's vectors (those ``where(vector)`` keeps), with their xfail marks."""
    out = []
    for v in vectors(category):
        if where is not None and not where(v):
            continue
        reason = v.xfail(test)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        out.append(pytest.param(v, id=v.id, marks=marks))
    return out
