"""What the CLI prints: tables for people on a terminal, plain lines in a pipe, JSON with --json.

Consoles are made per call, so that whatever stdout/stderr is at that moment
(a pipe, a terminal, a test's capture) decides wrapping and colour.
"""

from __future__ import annotations

import sys
import time
from typing import Any, NoReturn

import click
import msgspec
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..protocol.codes import PortState
from .models import InboundSms

# Exit codes (documented in docs/client.md).
REFUSED, USAGE, SOME_FAILED, UNREACHABLE, STOPPED, INTERRUPTED = 1, 2, 3, 4, 5, 130


class UserError(click.ClickException):
    """Wrong usage found by a command itself: one line, exit 2, never a traceback."""

    exit_code = USAGE

    def show(self, file: Any = None) -> None:
        click.echo(f"Error: {self.format_message()}", err=True)


def out() -> Console:
    # soft_wrap: a line is never broken by us; a terminal wraps it, a pipe gets it whole.
    return Console(soft_wrap=True, highlight=False)


def err() -> Console:
    return Console(stderr=True, soft_wrap=True, highlight=False)


def say(message: str) -> None:
    """A line for the person (stderr), rich markup allowed."""
    err().print(message)


def dump(obj: Any) -> None:
    click.echo(msgspec.json.encode(obj).decode())


def fail(as_json: bool, kind: str, message: str, exit_code: int, **details: Any) -> NoReturn:
    """Report a failure: one line on stderr, or one JSON object on stdout under --json."""
    if as_json:
        dump({"error": kind, "message": message, **details})
    else:
        err().print(Text(f"Error: {message}", style="red"))
    sys.exit(exit_code)


_STATE_STYLES = {
    PortState.REGISTERED: "green",
    PortState.CALL_CONNECTED: "green",
    PortState.REGISTERING: "yellow",
    PortState.CARD_DETECTED: "yellow",
    PortState.ACCESS_NETWORK: "yellow",
    PortState.IDLE_SIM: "yellow",
    PortState.NO_SIM: "dim",
}


def state_cell(state: int, text: str) -> Text:
    """A port state, coloured on a terminal: green can send, yellow on its way, red cannot, dim no SIM."""
    return Text(text, style=_STATE_STYLES.get(state, "red"))  # type: ignore[call-overload]


def table(title: str | None, columns: list[str], rows: list[list[Any]]) -> None:
    """A table on a terminal; tab-separated lines (header first) in a pipe, never cut or wrapped."""
    console = out()
    if not console.is_terminal:
        if title:
            click.echo(f"# {title}")
        click.echo("\t".join(columns))
        for r in rows:
            click.echo("\t".join(str(x) for x in r))
        return
    t = Table(title=title)
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*[x if isinstance(x, Text) else str(x) for x in r])
    console.print(t)


def sms_line(m: InboundSms) -> str:
    """One received SMS or delivery report as a line a person reads."""
    ident = f"#{m.id} " if m.id is not None else ""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(m.ts)) if m.ts > 0 else "?"
    if m.delivery is not None:
        outcome = "delivered" if m.delivery.delivered else f"not delivered (code {m.delivery.code})"
        return f"{ident}{when} {m.port} delivery report for {m.recipient}: {outcome}, at {m.delivery.scts}"
    return f"{ident}{when} {m.port} from {m.sender}: {m.text}"


def fdr_line(row: list[Any]) -> str:
    """A failed-recipient row of a status report: number, port and the reasons the device gave."""
    cells = [str(c) for c in row] + [""] * (6 - len(row))
    reasons = "; ".join(c for c in cells[4:6] if c) or "no reason given"
    return f"{cells[1]} (port {cells[2] or '?'}): {reasons}"
