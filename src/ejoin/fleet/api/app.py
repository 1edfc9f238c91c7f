"""The fleet's device API: the same paths, answers and error handling as a device (``web/endpoint.py``)."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ...gateway import commands
from ...protocol.codes import ResultCode
from ...protocol.messages import DevStatus, Reply, WireError, decode_lenient
from ...web.command import requested_command, requested_op
from ...web.cross_site import refuse_cross_site
from ...web.endpoint import DEVICE, ApiRequest, endpoint, flag, json_errors
from ...web.session import crypt_session
from ...web.sms import change_endpoints, send_endpoint
from ...web.status import push_settings
from ..engine.members import MemberDown
from ..engine.runtime import Fleet
from ..engine.status import every_slot
from . import admin, inbox, queue, routed, settings, stats

FLEET: web.AppKey[Fleet] = web.AppKey("fleet", Fleet)
log = logging.getLogger(__name__)


@endpoint()
async def get_status(req: ApiRequest, fleet: Fleet) -> DevStatus:
    all_sims = flag(req.param("all_sims"), "all_sims")
    all_slots = flag(req.param("all_slots"), "all_slots")
    url, period = push_settings(req)
    # Members known down are not waited for (a silent one would hold every answer for member_timeout):
    # the poll notices when they come back.
    up = [link for link in fleet.links.values() if link.up]
    answers = None
    if all_sims or all_slots:  # passed on: each member answers for its own slots (all_slots wins, as on a device)
        answers = await every_slot(up, "all_slots" if all_slots else "all_sims")
    else:
        await fleet.refresh(up)
    if url is not None or period is not None:
        await fleet.status_push.configure(url, period)
    if answers is not None:
        return fleet.dev_status(fleet.status_push.period, answers)
    return fleet.status_push.dev_status()


@endpoint()
async def send_cmd(req: ApiRequest, fleet: Fleet) -> Any:
    op = requested_op(req)
    if op in ("get", "set"):
        return await settings.get_or_set(req, fleet, op)
    cmd = requested_command(req)
    try:
        steps = commands.plan(cmd, fleet.size)  # every op and port checked before any member is asked
    except commands.CommandError as exc:
        return Reply(code=exc.code, reason=exc.reason)
    per_member: dict[str, list[dict[str, str]]] = defaultdict(list)
    for step in steps:
        if not step.ports:  # save, reboot: every member
            for name in fleet.links:
                per_member[name].append({"op": step.op})
            continue
        local: dict[str, list[str]] = defaultdict(list)
        for addr in step.ports:
            mapped = fleet.ports.to_member(addr)
            if mapped is None:
                return Reply(code=ResultCode.INVALID_PORT, reason=f"port {addr.port} belongs to no member")
            local[mapped[0].name].append(mapped[1].dotted)
        for name, names in local.items():
            per_member[name].append({"op": step.op, "ports": ",".join(names)})

    async def run(name: str, ops: list[dict[str, str]]) -> Reply:
        body: dict[str, Any] = (
            {"type": "command", **ops[0]} if len(ops) == 1 else {"type": "command", "op": "multiple", "ops": ops}
        )
        try:
            answer = await fleet.links[name].call("/goip_send_cmd.html", body=body)
        except MemberDown as exc:
            return Reply(code=ResultCode.SERVER_ERROR, reason=str(exc))
        code = answer.get("code") if isinstance(answer, dict) else None
        if code == ResultCode.OK:
            return Reply(code=ResultCode.OK, reason="OK")
        return Reply(code=int(code or ResultCode.SERVER_ERROR), reason=f"member {name}: {answer.get('reason', '')}")

    replies = await asyncio.gather(*(run(n, ops) for n, ops in per_member.items()))
    return next((r for r in replies if r.code != ResultCode.OK), Reply(code=ResultCode.OK, reason="OK"))


post_sms = send_endpoint(lambda fleet, request: settings.accept(fleet, request))


MAX_TIDS = 10_000  # per request, as a device's max_tasks_per_request


pause_sms, resume_sms, remove_sms = change_endpoints(
    lambda fleet, op, tids: fleet.control.change(op, tids), lambda fleet: MAX_TIDS
)


def _member_push(handle: Callable[[Fleet, str, Any], Awaitable[None]]):
    """A member's push to its URL on the fleet: the path's secret says it is one the fleet gave."""

    async def handler(request: web.Request) -> web.Response:
        fleet = request.app[FLEET]
        if not fleet.secret_ok(request.match_info["secret"]):
            return web.json_response({"code": ResultCode.INVALID_USER, "reason": "Invalid User"}, status=403)
        try:
            body = decode_lenient(await request.read(), dict[str, Any])
        except WireError as exc:
            return web.json_response({"code": ResultCode.BAD_REQUEST, "reason": str(exc)}, status=400)
        try:
            await handle(fleet, request.match_info["member"], body)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Not recorded (its store busy or away): the member's outbox pushes it again, so say that,
            # not a server error, and keep the traceback in the fleet's log.
            log.exception("a push of member %s could not be recorded now", request.match_info["member"])
            return web.json_response(
                {"code": 503, "reason": "the fleet could not record this push now; push it again"}, status=503
            )
        return web.json_response({"code": 0, "reason": "OK"})

    return handler


async def _report(fleet: Fleet, member: str, body: Any) -> None:
    await fleet.reports.member_report(member, body)


async def _status(fleet: Fleet, member: str, body: Any) -> None:
    link = fleet.links.get(member)
    if link is not None:  # a member removed since is not the fleet's any more
        await fleet.status_push.member_push(link, body)


async def _sms(fleet: Fleet, member: str, body: Any) -> None:
    link = fleet.links.get(member)
    if link is not None:
        await fleet.inbound.member_push(link, body)


def create_fleet_app(fleet: Fleet) -> web.Application:
    app = web.Application(client_max_size=fleet.config.max_body, middlewares=[json_errors, refuse_cross_site])
    app[DEVICE] = app[FLEET] = fleet  # DEVICE: what the endpoint machinery reads, see runtime.Fleet
    for path, handler in (
        ("/goip_get_status.html", get_status),
        ("/goip_send_cmd.html", send_cmd),
        ("/goip_pause_sms.html", pause_sms),
        ("/goip_resume_sms.html", resume_sms),
        ("/goip_remove_sms.html", remove_sms),
        ("/goip_get_tasks.html", queue.get_tasks),
        ("/goip_get_sms.html", inbox.get_sms),
        ("/goip_get_sms_stat.html", stats.sms_stat),
        ("/goip_get_call_stat.html", stats.call_stat),
        ("/goip_send_ussd.html", routed.send_ussd),
        ("/goip_send_at.html", routed.send_at),
        ("/goip_get_esims.html", routed.get_esims),
        ("/goip_write_esims.html", routed.write_esims),
        ("/goip_delete_esims.html", routed.delete_esims),
    ):
        app.router.add_route("GET", path, handler)
        app.router.add_route("POST", path, handler)
    app.router.add_route("POST", "/goip_post_sms.html", post_sms)
    app.router.add_route("GET", "/crypt_sess.json", crypt_session)
    app.router.add_route("POST", "/crypt_sess.json", crypt_session)
    app.router.add_route("POST", "/fleet/reports/{member}/{secret}", _member_push(_report))
    app.router.add_route("POST", "/fleet/status/{member}/{secret}", _member_push(_status))
    app.router.add_route("POST", "/fleet/sms/{member}/{secret}", _member_push(_sms))
    for method, path, handler in admin.ROUTES:
        app.router.add_route(method, path, handler)

    async def lifecycle(app: web.Application):
        await fleet.start()
        yield
        await fleet.stop()

    app.cleanup_ctx.append(lifecycle)
    return app
