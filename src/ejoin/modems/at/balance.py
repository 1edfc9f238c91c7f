"""How a SIM's balance is read over AT: a USSD code per SIM or network, and where the amount is in
the network's answer (``[[balance]]`` tables).  Without a rule the balance is unknown, never 0.00."""

from __future__ import annotations

import re
from dataclasses import dataclass

BALANCE_TIMEOUT = 30.0  # seconds the network has to answer a balance code
BALANCE_AFTER_SEND = 30.0  # a balance read follows sends this long after the first of them


@dataclass(frozen=True)
class BalanceRule:
    """A ``[[balance]]`` table: the USSD code that reads a SIM's balance, and where the number is in
    the answer (the first group of ``pattern``, else its whole match).  ``iccid`` (a prefix) names
    SIMs, ``operator`` (a PLMN, or its prefix) a network; a rule with neither serves every SIM."""

    code: str
    pattern: str
    operator: str = ""
    iccid: str = ""

    def balance_in(self, text: str) -> float | None:
        found = re.search(self.pattern, text)
        if found is None:
            return None
        return parse_amount(found.group(1) if found.groups() else found.group(0))


def parse_amount(text: str) -> float | None:
    """``12.30``, ``12,30``, ``1,234.50``, ``1.234,50``, ``-3``: the number; None if there is none."""
    value = text.strip().replace(" ", "").replace("\u00a0", "")
    if "," in value and "." in value:
        value = value.replace("," if value.rfind(",") < value.rfind(".") else ".", "")
    value = value.replace(",", ".")
    try:
        return float(value)
    except ValueError:
        return None


def rule_for(rules: list[BalanceRule], iccid: str, imsi: str, operator: str) -> BalanceRule | None:
    """The rule of a card: the first naming its ICCID, else its network (home network by the IMSI, or
    the operator's PLMN), else one that names neither."""
    plmn = operator.split(" ", 1)[0]
    for fits in (
        lambda r: bool(r.iccid) and iccid.startswith(r.iccid),
        lambda r: bool(r.operator) and not r.iccid and (imsi.startswith(r.operator) or plmn.startswith(r.operator)),
        lambda r: not r.operator and not r.iccid,
    ):
        for rule in rules:
            if fits(rule):
                return rule
    return None
