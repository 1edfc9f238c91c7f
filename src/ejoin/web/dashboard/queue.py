"""The push queue as the dashboard shows it, for any device with an outbox: a gateway's pushes, or
a fleet's to its platform."""

from __future__ import annotations

from typing import Protocol

from ...gateway.activity import Activity
from ..pushes import QueueParts, push_destinations
from .board import PushLine


class PushesParts(QueueParts, Protocol):
    @property
    def activity(self) -> Activity: ...


async def push_lines(parts: PushesParts) -> list[PushLine]:
    """Each destination with pushes waiting or dead (the store's), then those only tried since the start."""
    activity = parts.activity
    lines = []
    for d in await push_destinations(parts):
        stats = activity.destinations.get(activity.label(d.url))
        lines.append(
            PushLine(
                dest=activity.label(d.url),
                queued=d.queued,
                dead=d.dead,
                oldest_age=d.oldest_age,
                attempts=d.attempts,
                next_retry_in=d.next_retry_in,
                last_error=d.last_error,
                last_error_at=stats.last_error_at if stats is not None else 0.0,
            )
        )
    shown = {line.dest for line in lines}
    for dest, stats in activity.destinations.items():  # tried since the start, nothing waiting
        if dest not in shown:
            lines.append(PushLine(dest, 0, 0, None, 0, None, stats.last_error, stats.last_error_at))
    return lines
