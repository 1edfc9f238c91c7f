"""What both servers' commands (``ejoin gateway``, ``ejoin fleet``) do alike before they serve."""

from __future__ import annotations

import socket
from typing import Any

import click

from .credentials import PasswordError, announce, settle_password


def settle_config_password(config: Any, sock: socket.socket | None = None) -> None:
    """``config.password`` (a gateway's or a fleet's) as ``password_file`` and the environment say
    (ejoin.credentials); a password this start generated is printed here, once, on stderr (never
    through logging)."""
    try:
        settled = settle_password(config.password, config.password_file, config.data)
    except PasswordError as exc:
        if sock is not None:
            sock.close()
        raise click.ClickException(str(exc)) from None
    config.password = settled.value
    line = announce(config.username, settled)
    if line:
        click.echo(line, err=True)
