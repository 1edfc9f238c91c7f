"""The fleet's device API: the same paths, answers and error handling as a device (``web/endpoint.py``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ...gateway import commands
from ...protocol import operations as op
from ...protocol.codes import ResultCode
from ...protocol.messages import DevStatus, Reply, WireError, decode_lenient
from ...web import cross_site, pushes
from ...web.api import device_app
from ...web.command import requested_command, requested_op
from ...web.endpoint import ApiRequest, endpoint, flag
from ...web.route import Route
from ...web.session import crypt_session
from ...web.sms import change_endpoints, send_endpoint
from ...web.status import push_settings
from ..engine.commands import route
from ..engine.runtime import Fleet
from ..engine.status import every_slot
from . import admin, dashboard, health, inbox, metrics, queue, routed, settings, stats

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
    return await route(fleet, steps)


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


ROUTES: tuple[Route, ...] = (
    Route(op.GET_STATUS, get_status),
    Route(op.SEND_CMD, send_cmd),
    Route(op.POST_SMS, post_sms),
    Route(op.PAUSE_SMS, pause_sms),
    Route(op.RESUME_SMS, resume_sms),
    Route(op.REMOVE_SMS, remove_sms),
    Route(op.GET_TASKS, queue.get_tasks),
    Route(op.GET_SMS, inbox.get_sms),
    Route(op.GET_SMS_STAT, stats.sms_stat),
    Route(op.GET_CALL_STAT, stats.call_stat),
    Route(op.GET_ESIMS, routed.get_esims),
    Route(op.WRITE_ESIMS, routed.write_esims),
    Route(op.DELETE_ESIMS, routed.delete_esims),
    Route(op.SEND_USSD, routed.send_ussd),
    Route(op.SEND_AT, routed.send_at),
    Route(op.CRYPT_SESSION, crypt_session),
    Route(op.FLEET_MEMBERS, admin.list_members),
    Route(op.FLEET_MEMBER_ADD, admin.add_member),
    Route(op.FLEET_MEMBER_REMOVE, admin.remove_member),
    Route(op.MEMBER_REPORTS, _member_push(_report)),
    Route(op.MEMBER_STATUS, _member_push(_status)),
    Route(op.MEMBER_SMS, _member_push(_sms)),
    # the push queue to the platform, as a gateway's (docs/api/pushes.md), and the load balancer's check
    Route(op.PUSHES, pushes.list_pushes),
    Route(op.PUSHES_RETRY, pushes.retry_pushes),
    Route(op.PUSHES_DROP, pushes.drop_pushes),
    Route(op.FLEET_HEALTHZ, health.healthz),
)


def create_fleet_app(fleet: Fleet) -> web.Application:
    app = device_app(fleet, ROUTES, "EJOIN HTTP API (ejoin fleet)", also=[op.METRICS])  # its DEVICE: see runtime.Fleet
    app[FLEET] = fleet
    metrics.install(app, fleet)
    cross_site.install(app)  # refusals are counted by the metrics
    dashboard.install(app, fleet)
    return app
