"""``ejoin fleet``: serve many member devices as one EJOIN device."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

import click
from aiohttp import web

from ..credentials import open_door
from ..gateway.config import ConfigError
from ..store.opening import StoreOpenError
from .members_cli import member

log = logging.getLogger("ejoin.fleet")


@click.group(invoke_without_command=True)
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="TOML with [[member]]s (to serve).")
@click.option("--host", help="Address to listen on.  [default: 127.0.0.1]")
@click.option("--port", type=int, help="HTTP port.  [default: 8090]")
@click.option(
    "--db", help="Store: none for the embedded SQLite file in --data, sqlite:PATH, or postgresql://... (replicas)."
)
@click.option("--data", help="Data directory of the embedded store.  [default: ./ejoin-fleet]")
@click.option("--username", help="The fleet's own device account.  [default: root]")
@click.option("--password", help="The fleet's own device password.  [default: root]")
@click.option(
    "--password-file",
    metavar="FILE",
    help="Instead: EJOIN_PASSWORD, else FILE (in --data), generated and printed once at the first start.",
)
@click.option(
    "--allowed-origins",
    metavar="ORIGINS",
    help="Comma-separated origins whose browser pages may call the fleet's API.  [default: none]",
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
    from .config import load_fleet_config

    try:
        config = load_fleet_config(config_path, {k: v for k, v in flags.items() if v is not None})
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    logs.configure("info", "text")
    asyncio.run(_serve(config))


async def _serve(config: Any) -> None:
    from ..serving import settle_config_password
    from ..web.connections import GuardedRunner
    from .api.app import create_fleet_app
    from .engine.runtime import Fleet

    if not config.public_url:
        config.public_url = f"http://{config.host}:{config.port}"
        if config.db.startswith(("postgresql://", "postgres://")):
            log.warning(
                "public_url is not set: members push to this replica alone (%s); set it to the load "
                "balancer's address in every replica's configuration",
                config.public_url,
            )
    settle_config_password(config)
    fleet = Fleet(config)
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
    await web.TCPSite(runner, config.host, config.port).start()
    log.info(
        "EJOIN fleet of %d members (%d ports) on http://%s:%d",
        len(fleet.links),
        max((m.last for m in fleet.members.values()), default=0),
        config.host,
        config.port,
    )
    door = open_door(config.host, config.username, config.password)
    if door:
        log.warning("the fleet's device API is open to anyone: %s", door)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


fleet.add_command(member)
