"""The corpus itself: every vector says where it comes from and who says what it must come to."""

from __future__ import annotations

import re

from .loader import categories, vectors

REASON = re.compile(r"^(issue 24 class [1-8]: |not among issue 24's classes: )")


def test_every_vector_has_its_provenance_and_an_expectation():
    seen: set[str] = set()
    total = 0
    for category in categories():
        for v in vectors(category):
            total += 1
            assert v.id not in seen, f"{v.id} twice"
            seen.add(v.id)
            assert v.source.repo.startswith("https://") and v.source.commit and v.source.licence, v.id
            assert v.at and v.get("expected_from") and "expected" in v.data, v.id
            reasons = v.get("xfail") or {}
            for reason in reasons.values() if isinstance(reasons, dict) else [reasons]:
                assert REASON.match(reason), f"{v.id}: say which class of issue 24 it is, or that it is none: {reason}"
    assert total >= 200, total
