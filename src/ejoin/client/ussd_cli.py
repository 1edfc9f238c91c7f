"""``ejoin ussd`` and ``ejoin at``: USSD codes and menus, and one AT command, from a terminal.

``ejoin ussd PORT CODE`` prints the network's answer; ``--menu`` keeps the
session open: each line typed is the next reply, until the network ends the
session or Ctrl-D (end of input) cancels it.  ``ejoin at PORT COMMAND`` prints
the module's raw answer and exits 1 if its final result is not OK.
"""

from __future__ import annotations

import sys
from typing import Any

import click
import msgspec

from ..protocol.requests import AT_TIMEOUT, MAX_TIMEOUT, USSD_TIMEOUT
from .connection import _client, device_options
from .models import AtAnswer, UssdAnswer
from .terminal import REFUSED, err


def _show(answer: UssdAnswer, as_json: bool) -> None:
    if as_json:
        click.echo(msgspec.json.encode(answer).decode())
    else:
        click.echo(answer.text)  # the network's text as it is: no markup


@click.command()
@device_options
@click.argument("port")
@click.argument("code")
@click.option(
    "--timeout",
    type=click.FloatRange(1, MAX_TIMEOUT),
    help=f"Seconds the network may take.  [default: {USSD_TIMEOUT:g}]",
)
@click.option("--menu", "-m", is_flag=True, help="Stay in the menu: type each reply; Ctrl-D ends the session.")
def ussd(s: dict[str, Any], as_json: bool, port: str, code: str, timeout: float | None, menu: bool) -> None:
    """Send a USSD code (or a menu reply) from PORT; print the network's answer.

    PORT is a port number (its active slot asks) or port.slot (1.02).

    \b
    Examples:
      ejoin ussd 1 '*100#'                     the balance
      ejoin ussd 1 '*125*10*5551234#' --menu   a menu: type each reply, Ctrl-D ends it
      ejoin ussd 1 1                           a reply while the session is open
    """
    with _client(s) as dev:
        answer = dev.ussd(port, code, timeout)
        _show(answer, as_json)
        while menu and answer.session_open:
            reply = _read_reply()
            if reply is None:
                dev.ussd_cancel(port)
                if not as_json:
                    err().print("session ended")
                return
            answer = dev.ussd(port, reply, timeout)
            _show(answer, as_json)
        if answer.session_open and not as_json:
            err().print(f"the network awaits a reply: ejoin ussd {port} REPLY (or --menu)")


def _read_reply() -> str | None:
    """The next non-empty line typed; None at the end of input."""
    while True:
        if sys.stdin.isatty():
            err().print("> ", end="")
        line = sys.stdin.readline()
        if not line:
            return None
        if line.strip():
            return line.strip()


@click.command(name="at")
@device_options
@click.argument("port")
@click.argument("command")
@click.option(
    "--timeout", type=click.FloatRange(1, MAX_TIMEOUT), help=f"Seconds the module may take.  [default: {AT_TIMEOUT:g}]"
)
def at_command(s: dict[str, Any], as_json: bool, port: str, command: str, timeout: float | None) -> None:
    """Send one AT COMMAND line to the module of PORT; print its raw answer.

    \b
    Examples:
      ejoin at 1 AT+CSQ
      ejoin at 3 'AT+COPS?' --json
    """
    with _client(s) as dev:
        answer: AtAnswer = dev.at(port, command, timeout)
    if as_json:
        click.echo(msgspec.json.encode(answer).decode())
    else:
        for line in answer.lines:
            click.echo(line)
    if not answer.ok:
        sys.exit(REFUSED)


COMMANDS = [ussd, at_command]
