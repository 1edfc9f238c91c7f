"""The dashboard's pages and actions.

Thin: every action calls what the device API's handlers call (command planning,
the send engine's intake and pause/resume/remove, the parameter table), so the
dashboard can do nothing the API cannot, and checks input the same way.  The
overview, ports, tasks, inbox and pushes pages read the device only through its
``Board`` (board.py), so a fleet shows them too; compose, settings and USSD use
the gateway (a gateway's pages only: ``install_gateway_pages``).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import secrets
from typing import Any
from urllib.parse import quote

from aiohttp import web

from ...gateway.parameters import ParameterError
from ...protocol.codes import TaskStatus
from ...protocol.errors import DeviceError
from ...protocol.messages import PORT_OPS, WireError, decode_lenient, encode
from ...protocol.sms import SendSmsRequest
from ...store.base import InboxRecord
from ..endpoint import GATEWAY
from .auth import HOME, LOGIN_CSRF_COOKIE, LoginSession, action, page, see_other, session_of, set_cookie
from .board import Board, Refused
from .render import chart, fragment, render, task_rows

SETTINGS = ("sms_url", "sr_url", "mms_url", "status_url", "status_period", "sms_cnt", "sms_prd", "push_secret")
COMPOSE_MAX_NUMBERS = 1000
INBOX_PAGE = 200
DETAIL_ROWS = 1000  # recipients listed per lane on a task's page

TASK_OPS = ("pause", "resume", "remove")

# What the pages show of the device: a gateway's board, or another device kind's (see board.py).
BOARD: web.AppKey[Board] = web.AppKey("dashboard_board", Board)


def screen(request: web.Request, name: str, status: int = 200, **context: Any) -> web.Response:
    """A page of the logged-in dashboard: the device's pages in the bar, the banner when it is open to anyone."""
    board = request.app[BOARD]
    return render(name, status, open_door=board.open_door, kind=board.kind, pages=board.pages, **context)


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html")


async def login_page(request: web.Request) -> web.StreamResponse:
    if session_of(request) is not None:
        return see_other(HOME)
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    errors = {"login": "Wrong user name or password.", "stale": "The login form had expired; try again."}
    error = errors.get(request.query.get("error", ""), "")
    response = render("login.html", csrf=token, error=error, kind=request.app[BOARD].kind)
    set_cookie(response, request, LOGIN_CSRF_COOKIE, token)
    return response


# --- overview ------------------------------------------------------------------


@page
async def overview(request: web.Request, session: LoginSession) -> web.StreamResponse:
    board = request.app[BOARD]
    figures = await board.overview()
    return screen(request, "overview.html", session=session, active="overview", o=figures, chart=chart(figures.minutes))


# --- ports -------------------------------------------------------------------


def _number(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) < 6 else None


@page
async def ports(request: web.Request, session: LoginSession) -> web.StreamResponse:
    """The matrix: a row per port, a cell per slot; ``?port=N`` opens port N's card beside it."""
    board = request.app[BOARD]
    number = _number(request.query.get("port", ""))
    detail = await board.port(number) if number is not None else None
    return screen(
        request,
        "ports.html",
        session=session,
        active="ports",
        ports=await board.ports(),
        size=board.size,
        detail=detail,
    )


@page
async def port_detail(request: web.Request, session: LoginSession) -> web.StreamResponse:
    """A port's card: the detail panel's content (htmx), or the ports page with it open."""
    board = request.app[BOARD]
    number = _number(request.match_info["number"])
    port = await board.port(number) if number is not None else None
    if port is None:
        return web.Response(status=404, text=f"there is no port {request.match_info['number'][:8]} on this device")
    if not request.headers.get("HX-Request"):
        return see_other(f"/dashboard/ports?port={port.number}")
    return _html(fragment("_port.html", port=port))


@action
async def port_command(request: web.Request, session: LoginSession, form: dict[str, str]) -> web.StreamResponse:
    board = request.app[BOARD]
    op = form.get("op", "")
    if op not in PORT_OPS:
        return web.Response(status=400, text=f"unknown operation {op[:20]!r}")
    try:
        number = await board.command(op, form.get("ports", ""))
    except Refused as exc:
        return web.Response(status=400, text=exc.reason)
    port = await board.port(number)
    return _html(fragment("_port.html", port=port))


# --- tasks -------------------------------------------------------------------


@page
async def tasks(request: web.Request, session: LoginSession) -> web.StreamResponse:
    """Every task, or (``?tid=``) those with that tid: one found opens its page."""
    board = request.app[BOARD]
    tid = request.query.get("tid", "").strip()[:40]
    if not tid:
        rows = task_rows(await board.tasks())
        return screen(request, "tasks.html", session=session, active="tasks", tasks=rows, tid="")
    found = await board.find(tid)
    if len(found) == 1:
        return see_other(f"/dashboard/tasks/{found[0].id}?tid={quote(tid)}")
    status = 200 if found else 404
    return screen(
        request, "tasks.html", status=status, session=session, active="tasks", tasks=task_rows(found), tid=tid
    )


@page
async def task_rows_fragment(request: web.Request, session: LoginSession) -> web.StreamResponse:
    return _html(fragment("_task_rows.html", tasks=task_rows(await request.app[BOARD].tasks())))


@page
async def task_detail(request: web.Request, session: LoginSession) -> web.StreamResponse:
    board = request.app[BOARD]
    task_id = _number(request.match_info["id"])
    tid = request.query.get("tid", "").strip()[:40]
    task = await board.task(task_id, tid) if task_id is not None else None
    if task is None:
        return screen(request, "task.html", status=404, session=session, active="tasks", task=None, rows=[])
    rows = await board.recipients(task, DETAIL_ROWS)
    split = await board.split(task)
    # A task's counts move first; its recipients' outcomes reach the store in the next batch: the page
    # keeps following until its rows say as much (a task finished a moment ago showed one row behind).
    done = sum(row.state in ("sent", "failed") for row in rows)
    behind = bool(rows) and task.n <= DETAIL_ROWS and done < task.sent + task.failed  # no rows: pruned
    return screen(
        request,
        "task.html",
        session=session,
        active="tasks",
        task=task_rows([task])[0],
        rows=rows,
        split=split,
        behind=behind,
    )


def _task_op(op: str):
    async def handler(request: web.Request, session: LoginSession, form: dict[str, str]) -> web.StreamResponse:
        board = request.app[BOARD]
        await board.change(op, form.get("tid", ""))
        return _html(fragment("_task_rows.html", tasks=task_rows(await board.tasks())))

    handler.__name__ = f"task_{op}"
    return action(handler)


pause_task, resume_task, remove_task = (_task_op(op) for op in TASK_OPS)


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
    found = await request.app[BOARD].find(str(tid))
    return see_other(f"/dashboard/tasks/{found[0].id}" if found else "/dashboard/tasks")


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
    q = request.query
    port, search, kind = q.get("port", "").strip(), q.get("q", "").strip().lower(), q.get("kind", "")
    since, until = _day(q.get("since", ""), False), _day(q.get("until", ""), True)
    rows = []
    for rec in await request.app[BOARD].received():
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
    lines = await request.app[BOARD].pushes()
    return screen(request, "pushes.html", session=session, active="pushes", rows=lines)


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
