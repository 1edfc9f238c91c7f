"""The dashboard's pages and actions.

Thin: every action calls what the device API's handlers call (command planning,
the send engine's intake and pause/resume/remove, the parameter table), so the
dashboard can do nothing the API cannot, and checks input the same way.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import secrets
from typing import Any

from aiohttp import web

from ...gateway import commands
from ...gateway.activity import DestinationStats
from ...gateway.parameters import ParameterError
from ...gateway.sending.tasks import CHUNK
from ...protocol.codes import TaskStatus
from ...protocol.errors import DeviceError
from ...protocol.messages import CommandRequest, WireError, decode_lenient, encode
from ...protocol.sms import SendSmsRequest
from ...store.base import InboxRecord
from ..endpoint import GATEWAY
from .auth import LOGIN_CSRF_COOKIE, LoginSession, action, page, see_other, session_of, set_cookie
from .render import TaskRow, all_tasks, fragment, port_view, render, today_counts

SETTINGS = ("sms_url", "sr_url", "mms_url", "status_url", "status_period", "sms_cnt", "sms_prd", "push_secret")
COMPOSE_MAX_NUMBERS = 1000
INBOX_PAGE = 200
DETAIL_ROWS = 1000  # recipients listed per lane on a task's page
PORT_OPS = ("lock", "unlock", "switch", "reset", "ledon", "ledoff")


def screen(request: web.Request, name: str, status: int = 200, **context: Any) -> web.Response:
    """A page of the logged-in dashboard: with the banner when the device is open to anyone."""
    return render(name, status, open_door=request.app[GATEWAY].open_door, **context)


async def login_page(request: web.Request) -> web.StreamResponse:
    if session_of(request) is not None:
        return see_other("/dashboard/ports")
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    errors = {"login": "Wrong user name or password.", "stale": "The login form had expired; try again."}
    response = render("login.html", csrf=token, error=errors.get(request.query.get("error", ""), ""))
    set_cookie(response, request, LOGIN_CSRF_COOKIE, token)
    return response


# --- ports -------------------------------------------------------------------


@page
async def ports(request: web.Request, session: LoginSession) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    today = await today_counts(gw)
    views = [port_view(gw, p, today) for p in gw.device.ports]
    return screen(request, "ports.html", session=session, active="ports", ports=views, size=gw.size)


@action
async def port_command(request: web.Request, session: LoginSession, form: dict[str, str]) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    op = form.get("op", "")
    if op not in PORT_OPS:
        return web.Response(status=400, text=f"unknown operation {op[:20]!r}")
    try:
        steps = commands.plan(CommandRequest(op=op, ports=form.get("ports", "")), gw.size)
    except commands.CommandError as exc:
        return web.Response(status=400, text=exc.reason)
    commands.run(steps, gw.device, save=gw.save, reboot=gw.reboot)
    number = steps[0].ports[0].port if steps and steps[0].ports else 1
    today = await today_counts(gw)
    html = fragment("_port.html", port=port_view(gw, gw.device.port(number), today), session=session)
    return web.Response(text=html, content_type="text/html")


# --- tasks -------------------------------------------------------------------


@page
async def tasks(request: web.Request, session: LoginSession) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    return screen(request, "tasks.html", session=session, active="tasks", tasks=all_tasks(gw))


@page
async def task_rows(request: web.Request, session: LoginSession) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    return web.Response(text=fragment("_task_rows.html", tasks=all_tasks(gw)), content_type="text/html")


@page
async def task_detail(request: web.Request, session: LoginSession) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    try:
        task_id = int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    task = gw.activity.task(task_id)
    if task is None:
        return screen(request, "task.html", status=404, session=session, active="tasks", task=None, rows=[])
    outcomes = {(j.lane, j.idx): j for j in await gw.store.jobs_done_since(task.id, 0)}
    shown = min(task.n, DETAIL_ROWS)
    numbers: list[str] = []
    for chunk in range((shown + CHUNK - 1) // CHUNK):
        numbers.extend(await gw.store.task_chunk(task.id, chunk))  # empty once the task is pruned
    rows = []
    for lane in range(task.lanes):
        for idx, number in enumerate(numbers[:shown]):
            job = outcomes.get((lane, idx))
            state = "waiting"
            if job is not None:
                state = {1: "in a module", 2: "sent", 3: "failed"}.get(job.state, "?")
            rows.append(
                {
                    "idx": idx,
                    "number": number,
                    "port": job.port if job else "",
                    "state": state,
                    "reason": job.reason if job else "",
                    "ts": job.ts if job else 0,
                }
            )
    return screen(request, "task.html", session=session, active="tasks", task=TaskRow(task), rows=rows)


def _task_op(op: str):
    async def handler(request: web.Request, session: LoginSession, form: dict[str, str]) -> web.StreamResponse:
        gw = request.app[GATEWAY]
        tid = form.get("tid", "")
        await getattr(gw.sending, op)([tid])
        return web.Response(text=fragment("_task_rows.html", tasks=all_tasks(gw)), content_type="text/html")

    handler.__name__ = f"task_{op}"
    return action(handler)


pause_task, resume_task, remove_task = _task_op("pause"), _task_op("resume"), _task_op("remove")


# --- compose -----------------------------------------------------------------


def _numbers(text: str) -> list[str]:
    return [n for n in re.split(r"[\s,;]+", text) if n]


@page
async def compose(request: web.Request, session: LoginSession) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    return screen(request, "compose.html", session=session, active="compose", form={}, error="", size=gw.size)


@action
async def compose_send(request: web.Request, session: LoginSession, form: dict[str, str]) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    numbers = _numbers(form.get("to", ""))

    def again(error: str) -> web.Response:
        return screen(
            request, "compose.html", status=400, session=session, active="compose", form=form, error=error, size=gw.size
        )

    if not numbers:
        return again("Give at least one number.")
    if len(numbers) > COMPOSE_MAX_NUMBERS:
        return again(f"At most {COMPOSE_MAX_NUMBERS} numbers at once here; use the API for larger sends.")
    gw.activity.tids_issued += 1
    # A tid the API's clients are unlikely to use: milliseconds of the clock, then a counter.
    tid = int(gw.clock.time() * 1000) % 1_000_000_000 * 100 + gw.activity.tids_issued % 100
    task: dict[str, Any] = {"tid": tid, "to": ",".join(numbers), "sms": form.get("sms", "")}
    if form.get("from", "").strip():
        task["from"] = form["from"].strip()
    try:
        request_body = decode_lenient(encode({"type": "send-sms", "tasks": [task]}), SendSmsRequest)
    except WireError as exc:
        return again(str(exc))
    [result] = await gw.sending.accept(request_body)
    status = result[1]
    if status is not TaskStatus.OK:
        why = f" ({result[2]})" if len(result) > 2 else ""
        return again(f"The device refused the task: {status.label}{why}.")
    task_id = next((t.id for t in gw.activity.tasks() if t.tid == tid), None)
    return see_other(f"/dashboard/tasks/{task_id}" if task_id is not None else "/dashboard/tasks")


# --- inbox -------------------------------------------------------------------


def _text_of(rec: InboxRecord) -> str:
    if rec.flag != 0:
        return f"delivery report: {rec.content}"
    try:
        return base64.b64decode(rec.content).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return rec.content


def _day(text: str, end: bool) -> int | None:
    try:
        day = dt.datetime.strptime(text.strip(), "%Y-%m-%d").replace(tzinfo=dt.UTC)
    except ValueError:
        return None
    return int((day + dt.timedelta(days=1 if end else 0)).timestamp())


@page
async def inbox(request: web.Request, session: LoginSession) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    q = request.query
    port, search, kind = q.get("port", "").strip(), q.get("q", "").strip().lower(), q.get("kind", "")
    since, until = _day(q.get("since", ""), False), _day(q.get("until", ""), True)
    records, _ = await gw.inbox.page(1, 0, False)
    rows = []
    for rec in reversed(records):
        if port and rec.port != port and rec.port.split(".", 1)[0] != port:
            continue
        if kind in ("sms", "report") and (rec.flag == 0) != (kind == "sms"):
            continue
        if (since is not None and rec.ts < since) or (until is not None and rec.ts >= until):
            continue
        text = _text_of(rec)
        if search and search not in text.lower() and search not in rec.sender.lower():
            continue
        rows.append(
            {"id": rec.id, "port": rec.port, "ts": rec.ts, "sender": rec.sender, "text": text, "flag": rec.flag}
        )
        if len(rows) >= INBOX_PAGE:
            break
    return screen(request, "inbox.html", session=session, active="inbox", rows=rows, query=dict(q), limit=INBOX_PAGE)


# --- pushes ------------------------------------------------------------------


@page
async def pushes(request: web.Request, session: LoginSession) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    now = gw.clock.time()
    rows = []
    for dest in await gw.store.outbox_destinations():
        items = await gw.store.outbox_head(dest, 1000)
        stats = gw.activity.destinations.get(gw.activity.label(dest)) or DestinationStats()
        head = items[0] if items else None
        rows.append(
            {
                "dest": gw.activity.label(dest),
                "queued": len(items),
                "more": len(items) >= 1000,
                "oldest": now - min(i.created for i in items) if items else 0,
                "attempts": head.attempts if head else 0,
                "next_retry": max(0.0, head.next_at - now) if head and head.attempts else 0,
                "last_error": stats.last_error,
                "last_error_at": stats.last_error_at,
            }
        )
    known = {r["dest"] for r in rows}
    for dest, stats in gw.activity.destinations.items():
        if dest not in known:
            rows.append(
                {
                    "dest": dest,
                    "queued": 0,
                    "more": False,
                    "oldest": 0,
                    "attempts": 0,
                    "next_retry": 0,
                    "last_error": stats.last_error,
                    "last_error_at": stats.last_error_at,
                }
            )
    return screen(request, "pushes.html", session=session, active="pushes", rows=rows, activity=gw.activity)


# --- settings ----------------------------------------------------------------


def _current(gw) -> dict[str, Any]:
    return dict(gw.parameters.get(name) for name in SETTINGS)


@page
async def settings(request: web.Request, session: LoginSession) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    return screen(
        request, "settings.html", session=session, active="settings", values=_current(gw), error="", saved=False
    )


@action
async def settings_save(request: web.Request, session: LoginSession, form: dict[str, str]) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    current = _current(gw)
    changes = []
    for name in SETTINGS:
        if name not in form:
            continue
        value = form[name].strip() if name != "push_secret" else form[name]
        if name == "push_secret" and value == "":
            continue  # write-only: an empty field keeps the secret
        if str(current[name]) != value:
            changes.append((name, value))
    try:
        if changes:
            gw.parameters.set_many(changes)
    except ParameterError as exc:
        values = {**current, **{k: v for k, v in changes if k != "push_secret"}}
        return screen(
            request,
            "settings.html",
            status=400,
            session=session,
            active="settings",
            values=values,
            error=str(exc),
            saved=False,
        )
    return screen(
        request, "settings.html", session=session, active="settings", values=_current(gw), error="", saved=True
    )


# --- USSD console ----------------------------------------------------------------


@page
async def ussd(request: web.Request, session: LoginSession) -> web.StreamResponse:
    return screen(
        request, "ussd.html", session=session, active="ussd", port="1", answer=None, session_open=False, error=""
    )


@action
async def ussd_send(request: web.Request, session: LoginSession, form: dict[str, str]) -> web.StreamResponse:
    """A code or a menu reply through the same device function as goip_send_ussd.html."""
    gw = request.app[GATEWAY]
    port = form.get("port", "").strip()
    cancel = form.get("cancel") == "1"
    try:
        answer = await gw.passthrough.ussd(port, None if cancel else form.get("code", ""), 30.0, cancel)
    except DeviceError as exc:
        return screen(
            request,
            "ussd.html",
            status=400,
            session=session,
            active="ussd",
            port=port,
            answer=None,
            session_open=False,
            error=exc.reason,
        )
    return screen(
        request,
        "ussd.html",
        session=session,
        active="ussd",
        port=port,
        answer=answer,
        session_open=answer.session_open,
        error="",
    )
