"""The fleet's dashboard at ``/``: the device dashboard's pages (web/dashboard/) read through the
fleet's board (board.py), and a page of its own: its members, their health and port ranges."""

from __future__ import annotations

import msgspec
from aiohttp import web

from ...web import dashboard
from ...web.dashboard.auth import LoginSession, page
from ...web.dashboard.views import screen
from ..engine.runtime import Fleet
from .admin import listed
from .board import FleetBoard


def install(app: web.Application, fleet: Fleet) -> None:
    dashboard.install(app, FleetBoard(fleet), fleet)

    @page
    async def members(request: web.Request, session: LoginSession) -> web.StreamResponse:
        rows = [msgspec.structs.asdict(m) for m in await listed(fleet)]
        for row in rows:
            link = fleet.links.get(row["name"])
            a = link.answers if link is not None else None
            timed = sum(a.buckets) if a is not None else 0
            row["answers"] = a
            row["mean_ms"] = round(1000 * a.seconds / timed, 1) if a is not None and timed else None
            row["down_for"] = fleet.clock.time() - row["down_since"] if row["down_since"] is not None else None
            first, _, last = str(row["ports"]).partition("-")
            row["port_count"] = int(last or first) - int(first) + 1 if first.isdigit() else 0
        return screen(request, "members.html", session=session, active="members", members=rows, ports=fleet.size.ports)

    app.router.add_get("/dashboard/members", members)
