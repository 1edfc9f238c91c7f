"""``ejoin pushes list|retry|drop``: the push queue of an ejoin gateway.

A push that keeps failing for the device's retry window (3 days by default)
goes to a dead-letter table; these commands show it, replay it or delete it.
"""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.text import Text

from .connection import _client, device_options
from .terminal import REFUSED, dump, out, table


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s >= 86_400:
        return f"{s // 86_400}d{s % 86_400 // 3_600}h"
    if s >= 3_600:
        return f"{s // 3_600}h{s % 3_600 // 60}m"
    if s >= 60:
        return f"{s // 60}m{s % 60}s"
    return f"{s}s"


@click.group()
def pushes() -> None:
    """The device's push queue: waiting and dead-letter pushes per destination.

    \b
    Examples:
    ejoin pushes list
    ejoin pushes retry http://platform.example/sr   (or --all)
    ejoin pushes drop http://gone.example/sr --queued
    """


@pushes.command(name="list")
@device_options
def pushes_list(s: dict[str, Any], as_json: bool) -> None:
    """Every destination with pushes waiting or dead.

    \b
    Examples:
      ejoin pushes list
      ejoin pushes list --json
    """
    with _client(s) as dev:
        queue = dev.pushes()
    if as_json:
        dump(queue)
        return
    if not queue.destinations:
        out().print("no pushes waiting or dead")
        return
    rows = [
        [
            Text(d.url),
            d.queued,
            d.dead,
            _age(d.oldest_age),
            d.attempts,
            "-" if d.next_retry_in is None else f"in {_age(d.next_retry_in)}",
            Text(d.last_error or "-"),
        ]
        for d in queue.destinations
    ]
    table(
        f"pushes: {queue.queued} waiting, {queue.dead} dead (dead after {_age(queue.window)} of failures)",
        ["destination", "waiting", "dead", "oldest", "tries", "next try", "last error"],
        rows,
    )


def _target(dest: str | None, every: bool) -> str | None:
    if bool(dest) == every:
        raise click.UsageError("name one destination (as `ejoin pushes list` shows it) or give --all")
    return dest


def _said(as_json: bool, counts: dict[str, int], verb: str, done: str, dest: str | None) -> None:
    if as_json:
        dump({"count": sum(counts.values()), "destinations": counts})
    elif not counts:
        out().print(f"nothing to {verb} for {dest or 'any destination'}", highlight=False, markup=False)
    else:
        for url, n in sorted(counts.items()):
            out().print(f"{done} {n} push{'es' if n != 1 else ''} of {url}", highlight=False, markup=False)
    if not counts:
        sys.exit(REFUSED)


@pushes.command(name="retry")
@device_options
@click.argument("dest", required=False)
@click.option("--all", "every", is_flag=True, help="Every destination's dead pushes.")
def pushes_retry(s: dict[str, Any], as_json: bool, dest: str | None, every: bool) -> None:
    """Replay dead pushes of DEST: queued again in their old order and tried at once.

    \b
    Examples:
      ejoin pushes retry http://platform.example/sr
      ejoin pushes retry --all
    """
    url = _target(dest, every)
    with _client(s) as dev:
        moved = dev.retry_pushes(url)
    _said(as_json, moved, "replay", "replaying", url)


@pushes.command(name="drop")
@device_options
@click.argument("dest", required=False)
@click.option("--all", "every", is_flag=True, help="Every destination's dead pushes.")
@click.option("--queued", is_flag=True, help="Also the pushes still waiting (a URL that will never answer).")
@click.option(
    "--forget", is_flag=True, help="And those queued for DEST later, for the retry window (implies --queued)."
)
def pushes_drop(s: dict[str, Any], as_json: bool, dest: str | None, every: bool, queued: bool, forget: bool) -> None:
    """Delete dead pushes of DEST (with --queued the waiting ones too): they are never sent.

    \b
    Examples:
      ejoin pushes drop http://gone.example/sr
      ejoin pushes drop http://gone.example/sr --queued
      ejoin pushes drop http://gone.example/sr --forget
    """
    url = _target(dest, every)
    if forget and url is None:
        raise click.UsageError("--forget names one destination, not --all")
    with _client(s) as dev:
        dropped = dev.drop_pushes(url, queued=queued or forget, forget=forget)
    _said(as_json, dropped, "drop", "dropped", url)
