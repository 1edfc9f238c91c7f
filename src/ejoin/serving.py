"""What both servers' commands (``ejoin gateway``, ``ejoin fleet``) do alike: the flags of the keys
they share, reading their config, the password, TLS."""

from __future__ import annotations

import functools
import socket
import ssl
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click
import msgspec

from .config import ConfigError, ServerConfig, split_origins
from .config.server import LogFormat, LogLevel
from .credentials import PasswordError, announce, settle_password

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C")


class BadConfig(click.ClickException):
    """A config that cannot be used: its one line (file or flag, key, what was expected), exit code 2."""

    exit_code = 2


def _origins(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    return None if value is None else split_origins(value)


@functools.cache  # reading a Struct's fields evaluates every annotation: once per command, not per flag
def _defaults(config: type[msgspec.Struct]) -> dict[str, Any]:
    return {
        f.name: f.default if f.default is not msgspec.NODEFAULT else f.default_factory()
        for f in msgspec.structs.fields(config)
        if f.default is not msgspec.NODEFAULT or f.default_factory is not msgspec.NODEFAULT
    }


def with_default(config: type[msgspec.Struct], key: str, text: str) -> str:
    """A flag's help and the default of its key, read from the config Struct (never written twice)."""
    value = _defaults(config)[key]
    return f"{text}  [default: {value if value not in ('', []) else 'none'}]"


def server_options(defaults: type[ServerConfig], **helps: str) -> Callable[[F], F]:
    """``--config`` and the flags of the keys both servers share; each flag sets the top-level key of its
    name (``--log-level`` → ``log_level``), its ``[default: ...]`` read from ``defaults``.  ``helps``: a
    program's own words for a flag, by key."""

    def shown(key: str, text: str) -> str:
        return with_default(defaults, key, helps.get(key, text))

    options = [
        click.option(
            "--config",
            "config_path",
            type=click.Path(dir_okay=False),
            help=helps.get("config", "TOML file; flags override it."),
        ),
        click.option("--host", help=shown("host", "Address to listen on.")),
        click.option("--port", type=int, help=shown("port", "HTTP port.")),
        click.option("--username", help=shown("username", "Device account.")),
        click.option("--password", help=shown("password", "Device password.")),
        click.option(
            "--password-file",
            metavar="FILE",
            help="Instead: EJOIN_PASSWORD, else FILE (in --data), generated and printed once at the first start.",
        ),
        click.option("--data", help=shown("data", "Data directory.")),
        click.option(
            "--log-level",
            type=click.Choice(typing.get_args(LogLevel)),
            help=shown("log_level", "info: a line per SMS and push; debug: every request too."),
        ),
        click.option(
            "--log-format",
            type=click.Choice(typing.get_args(LogFormat)),
            help=shown("log_format", "json: one JSON object a line, for log collectors."),
        ),
        click.option(
            "--allowed-origins",
            metavar="ORIGINS",
            callback=_origins,
            help=shown(
                "allowed_origins",
                "Comma-separated origins (https://host[:port]) whose browser pages may call the API; "
                "other sites' pages are refused.",
            ),
        ),
        click.option("--smpp-port", type=int, help=shown("smpp_port", "SMPP 3.4 server port (docs/smpp.md); 0: off.")),
    ]

    def apply(command: F) -> F:
        for option in reversed(options):
            command = option(command)
        return command

    return apply


def read_config(load: Callable[..., C], path: str | Path | None, flags: Mapping[str, Any]) -> C:
    """``load(path, the flags given, flags=True)``, or ``BadConfig``: one line naming the file or the flag."""
    given = {key: value for key, value in flags.items() if value is not None}
    try:
        return load(path, given, flags=True)
    except ConfigError as exc:
        raise BadConfig(str(exc)) from None


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


def tls_context(config: ServerConfig) -> ssl.SSLContext | None:
    """The server's TLS context when ``tls_cert``/``tls_key`` are set (HTTPS), else None."""
    if not config.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(config.tls_cert, config.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise click.ClickException(f"cannot load the TLS certificate/key: {exc}") from None
    return context
