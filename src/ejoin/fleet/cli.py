"""``ejoin fleet``: serve many member devices as one EJOIN device."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

import click
from aiohttp import web

from ..credentials import open_door
from ..serving import read_config, server_options
from ..store.opening import StoreOpenError
from .config import FleetConfig, load_fleet_config
from .members_cli import member

log = logging.getLogger("ejoin.fleet")


@click.group(invoke_without_command=True)
@server_options(
    FleetConfig,
    config="TOML with [[member]]s (to serve).",
    username="The fleet's own device account.",
    password="The fleet's own device password.",
    data="Data directory of the embedded store.",
    allowed_origins="Comma-separated origins whose browser pages may call the fleet's API.",
)
@click.option(
    "--db", help="Store: none for the embedded SQLite file in --data, sqlite:PATH, or postgresql://... (replicas)."
)
@click.pass_context
def fleet(ctx: click.Context, config_path: str | None, **flags: Any) -> None:
    """Serve member EJOIN devices as one device whose ports are all of theirs.

    \b
    Examples:
      ejoin fleet --config fleet.toml
      ejoin fleet --config fleet.toml --port 8090 --username api --password secret
      ejoin fleet member list --url http://127.0.0.1:8090
      ejoin fleet --config fleet.toml --db postgresql://fleet@db/fleet   # one of many replicas
    """
    if ctx.invoked_subcommand is not None:
        if config_path is not None or any(v is not None for v in flags.values()):
            raise click.UsageError("the serving options (--config, --host, ...) go without a subcommand")
        return
    if config_path is None:
        raise click.UsageError("--config FILE is required to serve (see examples/fleet.toml)")
    from .. import logs

    config = read_config(load_fleet_config, config_path, flags)
    logs.configure(config.log_level, config.log_format)
    asyncio.run(_serve(config))


async def _serve(config: FleetConfig) -> None:
    from ..serving import settle_config_password, tls_context
    from ..smpp import for_fleet
    from ..web.connections import GuardedRunner
    from .api.app import create_fleet_app
    from .engine.runtime import Fleet

    ssl_context = tls_context(config)
    scheme = "https" if ssl_context else "http"
    if not config.public_url:
        config.public_url = f"{scheme}://{config.host}:{config.port}"
        if config.db.startswith(("postgresql://", "postgres://")):
            log.warning(
                "public_url is not set: members push to this replica alone (%s); set it to the load "
                "balancer's address in every replica's configuration",
                config.public_url,
            )
    settle_config_password(config)
    fleet = Fleet(config)
    for_fleet(fleet)  # started with the fleet, when smpp_port is set
    # The gateway's connection guards and HTTP edge: a cap on connections, a deadline for a request's head.
    runner = GuardedRunner(
        create_fleet_app(fleet),
        access_log=None,
        handle_signals=False,
    )
    try:
        await runner.setup()
    except (ConnectionError, StoreOpenError) as exc:  # a wrong --db, a server away, a file it cannot use: said
        raise click.ClickException(str(exc)) from None
    await web.TCPSite(runner, config.host, config.port, ssl_context=ssl_context).start()
    log.info(
        "EJOIN fleet of %d members (%d ports) on %s://%s:%d",
        len(fleet.links),
        max((m.last for m in fleet.members.values()), default=0),
        scheme,
        config.host,
        config.port,
    )
    door = open_door(config.host, config.username, config.password)
    if door:
        log.warning("the fleet's device API is open to anyone: %s", door)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    heard: list[str] = []

    def stop_on(sig: signal.Signals) -> None:
        heard.append(sig.name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop_on, sig)
    await stop.wait()
    # said, so that a stop is told from a crash in the log (replicas: its leases go to the others now)
    log.info("stopping (%s): pushing what waits, releasing the leases", heard[0] if heard else "asked")
    await runner.cleanup()
    log.info("stopped")


fleet.add_command(member)
