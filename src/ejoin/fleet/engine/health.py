"""Is this fleet process fit to take traffic?  What ``GET /healthz`` answers (a load balancer's check).

Failing (503): its ledger does not answer, it has not renewed its leases for a lease (replicas: the
others take its tasks), or no member answers it (nothing it accepts could be sent by it; with
replicas, one cut off from the members while the others reach them leaves the balancer's rotation).
Degraded (200, the problems named): some members do not answer; the others send for them, and every
replica sees the same members, so taking this one out would help nothing.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...client.errors import unreachable_reason

if TYPE_CHECKING:
    from .runtime import Fleet

PING_TIMEOUT = 2.0  # seconds the ledger has to answer the check


@dataclass
class Health:
    failing: list[str] = field(default_factory=list)
    degraded: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return "failing" if self.failing else "degraded" if self.degraded else "ok"

    def body(self) -> dict[str, Any]:
        return {"status": self.status, "problems": self.failing + self.degraded, **self.facts}


def _age(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


async def check(fleet: Fleet) -> Health:
    health = Health()
    try:
        async with asyncio.timeout(PING_TIMEOUT):
            await fleet.ledger.ping()
    except TimeoutError:
        health.failing.append(f"ledger: does not answer within {PING_TIMEOUT:g} s")
    except Exception as exc:  # whatever the database's driver raises is the answer
        health.failing.append(f"ledger: does not answer: {unreachable_reason(exc)}")
    if fleet.db is not None:
        lease = fleet.ledger.lease
        age = None if fleet.renewed_at is None else time.monotonic() - fleet.renewed_at
        if age is None or age > lease:
            since = "since it started" if age is None else f"for {_age(age)}"
            health.failing.append(
                f"leases: not renewed {since} (a lease is {lease:g} s): the other replicas take its tasks"
            )
    links = sorted(fleet.links.values(), key=lambda link: link.config.first)
    up = [link for link in links if link.up]
    now = fleet.clock.time()
    if not links:
        health.failing.append("members: none yet (add them with `ejoin fleet member add`)")
    elif not up:
        health.failing.append(f"members: none of {len(links)} answers")
    for link in links:
        if not link.up:
            why = link.problem.words if link.problem else "not reached yet"
            down = f" for {_age(now - link.down_since)}" if link.down_since is not None else ""
            health.degraded.append(f"member {link.name} (ports {link.config.ports}) is down{down}: {why}")
    registered = sum(len(link.registered()) for link in up)
    health.facts = {
        "members": {"total": len(links), "up": len(up)},
        "ports": {"total": sum(link.config.last - link.config.first + 1 for link in links), "registered": registered},
        "replica": {
            "replicas": fleet.replicas,
            "tasks": len(fleet.owned),
            "status_role": fleet.status_push.leading,
        },
    }
    return health
