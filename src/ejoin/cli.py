"""The ``ejoin`` command."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
from typing import Any

import click
from aiohttp import web

from . import __version__, logs, systemd
from .drivers import load_gateway_config
from .fleet.cli import fleet as fleet_command
from .gateway.config import GatewayConfig
from .serving import read_config, server_options, settle_config_password, tls_context, with_default

log = logging.getLogger("ejoin")


class _OneLineErrors(click.Group):
    """Usage errors as one line (the message and where help is), never click's three-line block."""

    def main(
        self,
        args: Any = None,
        prog_name: Any = None,
        complete_var: Any = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, False, **extra)
        except click.UsageError as exc:
            where = f" (see {exc.ctx.command_path} -h)" if exc.ctx is not None else ""
            click.echo(f"Error: {exc.format_message()}{where}", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(
    cls=_OneLineErrors,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="""\b
Examples:
  ejoin gateway                     a simulated device on http://127.0.0.1:8080
  ejoin status                      its ports (any device: --url, --username, --password)
  ejoin send --to 13800000001 --text "Hello"
  ejoin inbox --follow
  ejoin COMMAND -h                  a command's options, with examples
""",
)
@click.version_option(__version__, prog_name="ejoin")
def main() -> None:
    """EJOIN gateways: run a simulated device, or drive one."""


@main.command()
@server_options(GatewayConfig, data="Data directory (SQLite store).")
@click.option("--ports", type=int, help=with_default(GatewayConfig, "ports", "GSM modules of the device."))
@click.option("--slots", type=int, help=with_default(GatewayConfig, "slots", "SIM slots per module."))
@click.option("--modems", help=with_default(GatewayConfig, "modems", "Driver of the GSM modules, by name."))
@click.option("--seed", type=int, help=with_default(GatewayConfig, "seed", "Seed of the generated SIMs and timings."))
@click.option("--fast", is_flag=True, default=None, help="Every simulated delay zero (tests, benchmarks).")
def gateway(config_path: str | None, **flags: Any) -> None:
    """Run a simulated EJOIN device (HTTP API + simulated GSM network).

    \b
    Examples:
      ejoin gateway
      ejoin gateway --port 8081 --ports 32 --slots 8 --data /var/lib/ejoin
      ejoin gateway --config examples/ejoin.toml --log-level debug
    """
    config = read_config(load_gateway_config, config_path, flags)
    logs.configure(config.log_level, config.log_format)
    _run(_serve(config))


@main.command("modem-emulator")
@click.option("--profile", default="quectel", show_default=True, help="The vendor the modules play.")
@click.option("--count", type=click.IntRange(1, 256), default=1, show_default=True, help="Modules.")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of their generated SIMs.")
@click.option("--dir", "directory", default="ejoin-modems", show_default=True, help="Where their tty links go.")
def modem_emulator(profile: str, count: int, seed: int, directory: str) -> None:
    """Emulated GSM modules on pseudo-terminals, speaking AT; prints their paths (Ctrl-C stops).

    Point minicom, gammu or your own code at a path it prints.

    \b
    Examples:
      ejoin modem-emulator --profile quectel --count 4
      ejoin modem-emulator --profile simcom --count 1 --dir /tmp/modems
    """
    from .sim.emulator.standalone import run

    try:
        from .modems.at.profiles import profile as check_profile

        check_profile(profile)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        _run(run(profile, count, seed, directory))
    except KeyboardInterrupt:
        pass


def _run(coro: Any) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)


async def _serve(config: GatewayConfig) -> None:
    from .gateway.runtime import Gateway, tune_gc_for_server
    from .smpp import for_gateway
    from .store.opening import StoreOpenError
    from .web.access_log import RedactingAccessLogger
    from .web.app import create_app
    from .web.connections import GuardedRunner

    ssl_context = tls_context(config)
    # The address first: a busy port must fail before a data directory or SIMs are made.
    sock = _listen(config.host, config.port)
    settle_config_password(config, sock)
    gw = Gateway(config)
    for_gateway(gw)  # started with the device, when smpp_port is set
    # Requests are logged at debug level, with credentials masked.
    access = logging.getLogger("ejoin.access")
    runner = GuardedRunner(
        create_app(gw),
        handle_signals=False,
        access_log=access if access.isEnabledFor(logging.DEBUG) else None,
        access_log_class=RedactingAccessLogger,
    )
    try:
        await runner.setup()
    except StoreOpenError as exc:
        sock.close()
        raise click.ClickException(str(exc)) from None
    except Exception as exc:
        sock.close()
        log.debug("start failed", exc_info=True)
        raise click.ClickException(f"cannot start the device: {exc}") from None
    tune_gc_for_server()
    site = web.SockSite(runner, sock, ssl_context=ssl_context)
    await site.start()
    host, port = sock.getsockname()[:2]
    log.info(
        "EJOIN device listening on %s://%s:%d (%d ports x %d slots%s, data in %s)",
        "https" if ssl_context else "http",
        host,
        port,
        config.ports,
        config.slots,
        ", fast" if config.fast else "",
        config.data,
    )
    if gw.open_door:
        log.warning("the device API is open to anyone: %s", gw.open_door)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # Ready only once a stop request would be heard: the modules run and the API answers.
    systemd.notify("READY=1")
    await stop.wait()
    log.info("stopping")
    systemd.notify("STOPPING=1")
    await runner.cleanup()
    log.info("stopped")


def _listen(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family = infos[0][0]
        return socket.create_server((host, port), family=family, backlog=1024, reuse_port=False)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _add_client_commands() -> None:
    from .client.cli import COMMANDS

    for command in COMMANDS:
        main.add_command(command)


_add_client_commands()
main.add_command(fleet_command)

if __name__ == "__main__":
    main()
