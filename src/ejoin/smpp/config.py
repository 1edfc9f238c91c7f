"""The SMPP server's settings, the same for ``ejoin gateway`` and ``ejoin fleet``.

``smpp_port`` (0: off), ``smpp_window`` (requests a bind may have unanswered; more are answered
``ESME_RTHROTTLED``) and ``[[smpp_accounts]]``: ``system_id``, ``password`` and ``throughput``
(submit_sm a second, 0: no limit).  The device's own username and password bind as well, without
a limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class SmppConfigError(ValueError):
    pass


@dataclass
class SmppAccount:
    system_id: str = ""
    password: str = ""
    throughput: float = 0.0  # submit_sm a second; 0: no limit


def accounts_of(raw: Any) -> list[SmppAccount]:
    """``[[smpp_accounts]]`` tables as accounts (a fleet's TOML is read without dataclasses)."""
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        raise SmppConfigError("smpp_accounts is a list of [[smpp_accounts]] tables")
    out = []
    for i, table in enumerate(raw):
        unknown = set(table) - {"system_id", "password", "throughput"}
        if unknown:
            raise SmppConfigError(f"[[smpp_accounts]] #{i + 1}: unknown keys {', '.join(sorted(unknown))}")
        out.append(SmppAccount(**table))
    return out


def problem(port: int, window: int, accounts: list[SmppAccount]) -> str | None:
    """Why these settings cannot be used, or None."""
    if not 0 <= port <= 65535:
        return f"smpp_port must be 0 (off) to 65535, not {port}"
    if not 1 <= window <= 10_000:
        return f"smpp_window must be 1 to 10000, not {window}"
    seen: set[str] = set()
    for i, account in enumerate(accounts):
        where = f"[[smpp_accounts]] #{i + 1}"
        if not isinstance(account.system_id, str) or not 1 <= len(account.system_id) <= 15:
            return f"{where}: system_id is 1 to 15 characters (SMPP 3.4)"
        if not isinstance(account.password, str) or not 1 <= len(account.password) <= 8:
            return f"{where}: password is 1 to 8 characters (SMPP 3.4)"
        if not isinstance(account.throughput, (int, float)) or account.throughput < 0:
            return f"{where}: throughput is submit_sm a second, 0 for no limit"
        if account.system_id in seen:
            return f"{where}: system_id {account.system_id!r} is listed twice"
        seen.add(account.system_id)
    return None
