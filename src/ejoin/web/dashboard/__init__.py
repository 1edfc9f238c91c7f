"""The web dashboard: server-rendered pages (Jinja2 + htmx), served by the gateway at ``/``.

Everything it needs ships in the package (templates/, static/): gateways often run offline.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from ...gateway.runtime import Gateway
from . import auth, live, views
from .gateway_board import GatewayBoard

STATIC = Path(__file__).parent / "static"


def install(app: web.Application, gw: Gateway) -> None:
    board = app[views.BOARD] = GatewayBoard(gw)
    app[auth.SESSIONS] = auth.Sessions(gw)
    live.install(app, board)
    r = app.router
    r.add_get("/", views.login_page)
    r.add_get("/favicon.ico", _favicon)
    r.add_post("/login", auth.login)
    r.add_post("/logout", auth.logout)
    r.add_get("/dashboard", _home)
    r.add_get("/dashboard/overview", views.overview)
    r.add_get("/dashboard/ports", views.ports)
    r.add_get("/dashboard/ports/{number}", views.port_detail)
    r.add_post("/dashboard/ports/command", views.port_command)
    r.add_get("/dashboard/events", live.events)
    r.add_get("/dashboard/tasks", views.tasks)
    r.add_get("/dashboard/tasks/rows", views.task_rows_fragment)
    r.add_get("/dashboard/tasks/{id}", views.task_detail)
    r.add_post("/dashboard/tasks/pause", views.pause_task)
    r.add_post("/dashboard/tasks/resume", views.resume_task)
    r.add_post("/dashboard/tasks/remove", views.remove_task)
    r.add_get("/dashboard/compose", views.compose)
    r.add_post("/dashboard/compose", views.compose_send)
    r.add_get("/dashboard/inbox", views.inbox)
    r.add_get("/dashboard/pushes", views.pushes)
    r.add_get("/dashboard/ussd", views.ussd)
    r.add_post("/dashboard/ussd", views.ussd_send)
    r.add_get("/dashboard/settings", views.settings)
    r.add_post("/dashboard/settings", views.settings_save)
    r.add_static("/dashboard/static", STATIC, append_version=False)
    app.on_response_prepare.append(_page_headers)


# The pages load nothing from elsewhere and must not be framed (their buttons act on the device).
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


async def _page_headers(request: web.Request, response: web.StreamResponse) -> None:
    if request.path in ("/", "/favicon.ico") or request.path.startswith(("/dashboard", "/login", "/logout")):
        response.headers.update(PAGE_HEADERS)
        if not request.path.startswith("/dashboard/static/"):  # pages show live state: never from a cache
            response.headers.setdefault("Cache-Control", "no-store")


async def _home(_: web.Request) -> web.StreamResponse:
    return auth.see_other(auth.HOME)


async def _favicon(_: web.Request) -> web.StreamResponse:
    # Browsers and bookmarks ask the root for it whatever the page says.
    return web.FileResponse(STATIC / "favicon.ico", headers={"Cache-Control": "max-age=86400"})
