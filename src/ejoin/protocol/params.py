"""Device parameter names for ``op=get``/``op=set``: ``sms_url``, ``sim_imei(21)``."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ParamName", "ParamNameError", "parse_param_name"]


class ParamNameError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class ParamName:
    name: str
    index: int | None = None  # None: the whole parameter (an array as a list)

    def __str__(self) -> str:
        return self.name if self.index is None else f"{self.name}({self.index})"


_NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_]{0,63})(?:\((\d{1,6})\))?$")


def parse_param_name(text: str) -> ParamName:
    m = _NAME.match(text.strip())
    if not m:
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise ParamNameError(f"{shown!r} is not a parameter name (like sms_url or sim_imei(3))")
    return ParamName(m[1].lower(), int(m[2]) if m[2] is not None else None)
