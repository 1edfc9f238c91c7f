"""Who may bind: the device's own credentials, and ``[[smpp_accounts]]`` each with its throughput."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Account:
    system_id: str
    password: str
    throughput: float  # submit_sm a second, 0: no limit
    tokens: float = 0.0
    refilled: float = 0.0

    def take_token(self, now: float) -> bool:
        if self.throughput <= 0:
            return True
        burst = max(1.0, self.throughput)
        self.tokens = min(burst, self.tokens + (now - self.refilled) * self.throughput)
        self.refilled = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True
