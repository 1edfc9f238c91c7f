"""The ``ejoin`` command."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import ssl
import sys
from typing import Any

import click
from aiohttp import web

from . import __version__
from .gateway.config import ConfigError, GatewayConfig, load_config

log = logging.getLogger("ejoin")


@click.group()
@click.version_option(__version__, prog_name="ejoin")
def main() -> None:
    """EJOIN gateways: run a simulated device, or drive one."""


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="TOML file; flags override it.")
@click.option("--host", help="Address to listen on.  [default: 127.0.0.1]")
@click.option("--port", type=int, help="HTTP port.  [default: 8080]")
@click.option("--ports", type=int, help="GSM modules of the device.  [default: 8]")
@click.option("--slots", type=int, help="SIM slots per module.  [default: 4]")
@click.option("--username", help="Device account.  [default: root]")
@click.option("--password", help="Device password.  [default: root]")
@click.option("--data", help="Data directory (SQLite store).  [default: ./ejoin-data]")
@click.option("--modems", help="Driver of the GSM modules, by name.  [default: simulated]")
@click.option("--seed", type=int, help="Seed of the generated SIMs and timings.  [default: 1]")
@click.option("--fast", is_flag=True, default=None, help="Every simulated delay zero (tests, benchmarks).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), help="[default: info]")
def gateway(config_path: str | None, **flags: Any) -> None:
    """Run a simulated EJOIN device (HTTP API + simulated GSM network)."""
    overrides = {k: v for k, v in flags.items() if v is not None}
    try:
        config = load_config(config_path, overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    _run(_serve(config))


@main.command("modem-emulator")
@click.option("--profile", default="quectel", show_default=True, help="The vendor the modules play.")
@click.option("--count", type=click.IntRange(1, 256), default=1, show_default=True, help="Modules.")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of their generated SIMs.")
@click.option("--dir", "directory", default="ejoin-modems", show_default=True, help="Where their tty links go.")
def modem_emulator(profile: str, count: int, seed: int, directory: str) -> None:
    """Emulated GSM modules on pseudo-terminals, speaking AT; prints their paths (Ctrl-C stops)."""
    from . import drivers

    try:
        from .modems.at.profiles import profile as check_profile

        check_profile(profile)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        _run(drivers.run_modem_emulators(profile, count, seed, directory))
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
    from .store.opening import StoreOpenError
    from .web.access_log import RedactingAccessLogger
    from .web.app import create_app
    from .web.connections import GuardedRunner, QuietClientErrors

    ssl_context = _tls_context(config)
    # The address first: a busy port must fail before a data directory or SIMs are made.
    sock = _listen(config.host, config.port)
    logging.getLogger("aiohttp.server").addFilter(QuietClientErrors())
    gw = Gateway(config)
    # Requests are logged at debug level, with credentials masked.
    access = logging.getLogger("ejoin.access")
    runner = GuardedRunner(
        create_app(gw),
        max_connections=config.max_connections,
        read_timeout=config.read_timeout,
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
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping")
    await runner.cleanup()
    log.info("stopped")


def _listen(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family = infos[0][0]
        return socket.create_server((host, port), family=family, backlog=1024, reuse_port=False)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _tls_context(config: GatewayConfig) -> ssl.SSLContext | None:
    if not config.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(config.tls_cert, config.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise click.ClickException(f"cannot load the TLS certificate/key: {exc}") from None
    return context


def _add_client_commands() -> None:
    from .client.cli import COMMANDS

    for command in COMMANDS:
        main.add_command(command)


_add_client_commands()

if __name__ == "__main__":
    main()
