"""The aiohttp application: the device's URL space."""

from __future__ import annotations

from aiohttp import web

from ..gateway.runtime import Gateway
from ..protocol.messages import encode
from . import command, receiving, session, sms, stats, status
from .connections import track_handlers
from .endpoint import GATEWAY, json_errors
from .health import healthz
from .openapi import build_openapi


def create_app(gw: Gateway) -> web.Application:
    app = web.Application(client_max_size=gw.config.max_body, middlewares=[track_handlers, json_errors])
    app[GATEWAY] = gw
    device_routes = {
        "/goip_get_status.html": status.get_status,
        "/goip_send_cmd.html": command.send_cmd,
    }
    device_routes.update(
        {
            "/goip_pause_sms.html": sms.pause_sms,
            "/goip_resume_sms.html": sms.resume_sms,
            "/goip_remove_sms.html": sms.remove_sms,
            "/goip_get_tasks.html": sms.get_tasks,
            "/goip_get_sms.html": receiving.get_sms,
            "/goip_get_sms_stat.html": stats.sms_stat,
            "/goip_get_call_stat.html": stats.call_stat,
            "/goip_get_esims.html": stats.get_esims,
            "/goip_write_esims.html": stats.write_esims,
            "/goip_delete_esims.html": stats.delete_esims,
        }
    )
    app.router.add_route("POST", "/goip_post_sms.html", sms.post_sms)
    app.router.add_route("GET", "/crypt_sess.json", session.crypt_session)
    document = encode(build_openapi(gw.modems.routes))

    async def openapi(_: web.Request) -> web.Response:
        return web.Response(body=document, content_type="application/json")

    app.router.add_route("GET", "/openapi.json", openapi)
    app.router.add_route("GET", "/healthz", healthz)
    app.router.add_route("POST", "/crypt_sess.json", session.crypt_session)
    for path, handler in device_routes.items():
        app.router.add_route("GET", path, handler)
        app.router.add_route("POST", path, handler)
    # What the driver adds (the simulator's /sim/*): there only while that driver runs.
    for route in gw.modems.routes:
        app.router.add_route("GET", route.path, route.handler)
        app.router.add_route("POST", route.path, route.handler)

    async def lifecycle(app: web.Application):
        await gw.start()
        yield
        await gw.stop()

    app.cleanup_ctx.append(lifecycle)
    return app
