"""Every captured answer to a command, asked through AT pass-through (``goip_send_at.html``): the answer
comes back whole, as the module gave it, and nothing of another command's or of the module's own."""

from __future__ import annotations

from typing import Any

import pytest

from .loader import Vector, cases
from .replay import Replay


def answered(v: Vector) -> bool:
    """A command's whole answer, final result included, captured as such."""
    return bool(v.command) and "raw" not in v.data and v.get("final") is not None and "raw_first" not in v.data


def solicited(category: str) -> list[Any]:
    return cases(category, "passthrough", lambda v: answered(v) and v.get("solicited", True))


CATEGORIES = ("sms_stored", "registration", "card", "identity", "signal")


@pytest.mark.parametrize("v", [case for c in CATEGORIES for case in solicited(c)])
async def test_the_answer_comes_back_whole(v: Vector) -> None:
    rp = Replay({v.command: v.answer()})
    try:
        await rp.up()
        answer = await rp.run(rp.driver.at_command(rp.PORT, v.command, 5.0), within=4.0)
        lines = [line.strip() for line in v.lines if line.strip()]
        assert answer.split("\r\n") == [*lines, v["final"]]
    finally:
        await rp.close()
