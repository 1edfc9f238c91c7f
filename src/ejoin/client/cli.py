"""The client commands of ``ejoin``: drive any EJOIN device from a terminal.

Device options come from flags, then EJOIN_URL / EJOIN_USERNAME / EJOIN_PASSWORD,
then a profile (``--profile NAME`` in ``~/.config/ejoin/profiles.toml`` or
EJOIN_PROFILES), then the defaults (http://127.0.0.1:8080, root/root).

Exit codes: 0 done; 1 the device refused; 2 wrong usage; 3 some SMS failed;
4 the device could not be reached.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import msgspec
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .client import AsyncClient, Client
from .errors import DeviceUnreachable, EjoinError
from .tasks import SendTask, new_tid, read_numbers

REFUSED, SOME_FAILED, UNREACHABLE = 1, 3, 4
out = Console()
err = Console(stderr=True)


def _profile(name: str | None) -> dict[str, str]:
    path = Path(os.environ.get("EJOIN_PROFILES", Path.home() / ".config" / "ejoin" / "profiles.toml"))
    if not path.exists():
        if name:
            raise click.UsageError(f"no profile file at {path}")
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise click.UsageError(f"{path} is not valid TOML: {exc}") from None
    section = data.get(name or "default", {})
    if name and not section:
        raise click.UsageError(f"no profile [{name}] in {path}")
    return {k: str(v) for k, v in section.items()}


def device_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    @click.option("--url", envvar="EJOIN_URL", help="Device base URL.  [default: http://127.0.0.1:8080]")
    @click.option("--username", envvar="EJOIN_USERNAME", help="[default: root]")
    @click.option("--password", envvar="EJOIN_PASSWORD", help="[default: root]")
    @click.option("--profile", envvar="EJOIN_PROFILE", help="A profile of the profile file.")
    @click.option("--secure", is_flag=True, help="Use a secure session (spec 3) instead of sending the password.")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @functools.wraps(fn)
    def wrapper(url, username, password, profile, secure, as_json, **kwargs):
        prof = _profile(profile)
        settings = {
            "url": url or prof.get("url") or "http://127.0.0.1:8080",
            "username": username or prof.get("username") or "root",
            "password": password or prof.get("password") or "root",
            "secure": secure or prof.get("secure", "").lower() in ("1", "true", "yes"),
        }
        try:
            return fn(settings, as_json, **kwargs)
        except DeviceUnreachable as exc:
            err.print(f"[red]cannot reach {settings['url']}[/red]: {exc.reason}")
            sys.exit(UNREACHABLE)
        except EjoinError as exc:
            err.print(f"[red]the device refused[/red]: {exc.code} {exc.reason}")
            sys.exit(REFUSED)

    return wrapper


def _client(s: dict[str, Any]) -> Client:
    return Client(s["url"], s["username"], s["password"], secure=s["secure"])


def _dump(obj: Any) -> None:
    click.echo(msgspec.json.encode(obj).decode())


def _table(title: str | None, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(title=title)
    for c in columns:
        table.add_column(c)
    for r in rows:
        table.add_row(*[str(x) for x in r])
    out.print(table)


# --- status and commands ---------------------------------------------------------


@click.command()
@device_options
@click.option("--all-slots", is_flag=True, help="Every slot, empty ones included.")
@click.option("--all-sims", is_flag=True, help="Every slot holding a SIM.")
def status(s, as_json, all_slots, all_sims):
    """Device and port status."""
    with _client(s) as dev:
        st = dev.status(all_slots=all_slots, all_sims=all_sims)
    if as_json:
        return _dump(st)
    _table(
        f"{st.mac}  {st.ver}  {st.max_ports} ports x {st.max_slots} slots",
        ["port", "status", "operator", "number", "signal", "balance", "imei", "iccid"],
        [[p.port, p.state_text, p.opr, p.sn, p.sig, p.bal, p.imei, p.iccid] for p in st.status],
    )


@click.command(context_settings={"ignore_unknown_options": True})
@device_options
@click.argument("op")
@click.argument("args", nargs=-1)
def cmd(s, as_json, op, args):
    """Commands: OP PORTS (lock, unlock, switch, reset, ledon, ledoff), save, reboot,
    get NAME..., set NAME=VALUE..."""
    with _client(s) as dev:
        if op == "get":
            data = dev.get_params(*args)
            return _dump(data) if as_json else _table(None, ["name", "value"], [[k, v] for k, v in data.items()])
        if op == "set":
            pairs = dict(a.split("=", 1) for a in args if "=" in a)
            if len(pairs) != len(args) or not pairs:
                raise click.UsageError("set takes NAME=VALUE pairs")
            n = dev.set_params(pairs)
            return _dump({"par_set": n}) if as_json else out.print(f"{n} set")
        dev.command(op, ",".join(args) if args else None)
    return _dump({"code": 0, "reason": "OK"}) if as_json else out.print("OK")


# --- sending -------------------------------------------------------------------------


@click.command()
@device_options
@click.option("--to", "to", multiple=True, help="Recipients, separated by ','. Repeatable.")
@click.option("--to-file", type=click.Path(exists=True, dir_okay=False), help="A file of numbers.")
@click.option("--text", default="", help="The text.")
@click.option("--from", "from_", help="Ports to send from (1, 1-4, 2.02...).")
@click.option("--tid", type=int, help="Task id (default: a fresh one).")
@click.option("--attach", multiple=True, type=click.Path(exists=True, dir_okay=False), help="MMS attachment.")
@click.option("--subject", default=None, help="MMS subject.")
@click.option("--wait/--no-wait", default=True, help="Follow the status reports to the end.  [default: wait]")
@click.option("--timeout", default=600.0, help="Seconds to follow at most.")
@click.option("--report-host", default=None, help="Address the device reaches this machine at.")
def send(s, as_json, to, to_file, text, from_, tid, attach, subject, wait, timeout, report_host):
    """Send an SMS (or MMS with --attach) and follow it to the end."""
    numbers = [n.strip() for t in to for n in t.split(",") if n.strip()]
    if to_file:
        numbers += read_numbers(to_file)
    if not numbers:
        raise click.UsageError("give --to or --to-file")
    if not text and not attach:
        raise click.UsageError("give --text (or --attach for an MMS)")
    tid = tid if tid is not None else new_tid()
    fields: dict[str, Any] = {"tid": tid, "fdr": 1, "sdr": 1}
    if from_:
        fields["from_"] = from_
    task = (
        SendTask.mms(numbers, subject=subject or "", text=text, files=attach, **fields)
        if attach
        else SendTask.text(numbers, text, **fields)
    )
    sys.exit(asyncio.run(_send_and_follow(s, as_json, task, len(numbers), wait, timeout, report_host)))


async def _send_and_follow(
    s, as_json, task: SendTask, count: int, wait: bool, timeout: float, report_host: str | None
) -> int:
    from aiohttp import web

    from .receiver import create_receiver_app

    latest: dict[str, Any] = {}
    done = asyncio.Event()

    def on_report(report) -> None:
        if str(report.tid) == str(task.tid):
            latest["report"] = report
            if report.unsent == 0 and report.sending == 0:
                done.set()

    runner = None
    request: dict[str, Any] = {}
    if wait:
        task.sr_cnt = max(1, count // 50)
        task.sr_prd = 2
        runner = web.AppRunner(create_receiver_app(":memory:", on_report=on_report), access_log=None)
        await runner.setup()
        host = report_host or _local_host(s["url"])
        site = web.TCPSite(runner, "0.0.0.0" if report_host else "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        request = {"sr_url": f"http://{host}:{port}/ejoin-cli", "sr_cnt": 1, "sr_prd": 1}
    try:
        async with AsyncClient(s["url"], s["username"], s["password"], secure=s["secure"]) as dev:
            [result] = await dev.send([task], **request)
        if not result.ok:
            err.print(f"[red]task {result.tid} refused[/red]: {result.status}")
            return REFUSED
        if not wait:
            return _report_result(as_json, {"tid": result.tid, "status": result.status}, None)
        with Progress(
            TextColumn(f"task {task.tid}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=err,
            disable=as_json,
        ) as progress:
            bar = progress.add_task("send", total=None, info="")
            deadline = time.monotonic() + timeout
            while not done.is_set() and time.monotonic() < deadline:
                try:
                    await asyncio.wait_for(done.wait(), 0.2)
                except TimeoutError:
                    pass
                r = latest.get("report")
                if r is not None:
                    total = r.sent + r.failed + r.unsent + r.sending
                    progress.update(bar, total=total, completed=r.done, info=f"sent {r.sent}  failed {r.failed}")
        report = latest.get("report")
        if not done.is_set():
            err.print("[yellow]stopped following before the task ended[/yellow]")
        return _report_result(as_json, {"tid": result.tid, "status": result.status}, report)
    finally:
        if runner is not None:
            await runner.cleanup()


def _local_host(url: str) -> str:
    import socket
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname or "127.0.0.1"
    if host in ("127.0.0.1", "localhost", "::1"):
        return "127.0.0.1"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:  # no packet is sent
        probe.connect((host, 80))
        return probe.getsockname()[0]


def _report_result(as_json: bool, accepted: dict[str, Any], report: Any) -> int:
    if as_json:
        _dump({**accepted, "report": report})
    elif report is not None:
        out.print(f"task {accepted['tid']}: sent {report.sent}, failed {report.failed}, unsent {report.unsent}")
    else:
        out.print(f"task {accepted['tid']}: {accepted['status']}")
    return SOME_FAILED if report is not None and report.failed else 0


@click.command()
@device_options
@click.option("--port", required=True, type=int)
@click.option("--pos", default=0)
@click.option("--num", default=10)
@click.option("--content", is_flag=True, help="Show the texts.")
def tasks(s, as_json, port, pos, num, content):
    """Tasks waiting to be sent by a port."""
    with _client(s) as dev:
        page = dev.tasks(port, pos, num, content)
    if as_json:
        return _dump(page)
    _table(
        f"{page.task_num} of {page.total_num} waiting on port {port}",
        ["tid", "state", "from", "to", "sms"],
        [[t.tid, "paused" if t.state else "queued", t.from_, t.to[:60], t.sms or ""] for t in page.tasks],
    )


def _task_change(op: str) -> click.Command:
    @click.command(name=op, help=f"{op.capitalize()} tasks (all when no TID is given).")
    @device_options
    @click.argument("tids", nargs=-1, type=int)
    def command(s, as_json, tids):
        with _client(s) as dev:
            results = getattr(dev, op)(list(tids) if tids else None)
        if as_json:
            return _dump({"results": results})
        for r in results or []:
            out.print(f"{r.tid}: {r.status}")
        if results is None:
            out.print("OK (every task)")
        if results and not all(r.ok for r in results):
            sys.exit(REFUSED)

    return command


pause, resume, remove = _task_change("pause"), _task_change("resume"), _task_change("remove")


# --- receiving, statistics, eSIM ---------------------------------------------------------


@click.command()
@device_options
@click.option("--from-id", default=1, help="First SMS id.")
@click.option("--num", default=0, help="How many (0: all).")
@click.option("--delete", is_flag=True, help="Delete what was shown from the device.")
@click.option("--follow", is_flag=True, help="Keep showing new SMS.")
@click.option("--interval", default=2.0, help="Seconds between polls with --follow.")
def inbox(s, as_json, from_id, num, delete, follow, interval):
    """Received SMS and delivery reports."""
    next_id, ssrc = from_id, None
    with _client(s) as dev:
        while True:
            page = dev.inbox(next_id, num, delete)
            if ssrc is not None and page.ssrc != ssrc:  # the device restarted: start again (spec 8.1)
                next_id, ssrc = 1, page.ssrc
                continue
            ssrc = page.ssrc
            for m in page.messages:
                if as_json:
                    _dump(m)
                elif m.delivery is not None:
                    out.print(
                        f"#{m.id} {m.port} delivery report for {m.recipient}: "
                        f"{'delivered' if m.delivery.delivered else 'not delivered'} ({m.delivery.scts})"
                    )
                else:
                    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(m.ts))
                    out.print(f"#{m.id} {when} {m.port} from {m.sender}: {m.text}")
            next_id = page.next_sms
            if not follow:
                return
            time.sleep(interval)


@click.command()
@device_options
@click.argument("kind", type=click.Choice(["sms", "calls"]))
@click.option("--ports", default=None)
@click.option("--slots", default=None)
@click.option(
    "--type",
    "kind_of_window",
    default=0,
    type=click.IntRange(0, 3),
    help="0 last hour, 1 two hours, 2 today, 3 cumulative.",
)
def stats(s, as_json, kind, ports, slots, kind_of_window):
    """SMS or call statistics."""
    with _client(s) as dev:
        fetch = dev.sms_stats if kind == "sms" else dev.call_stats
        rows = fetch(ports, slots, kind_of_window)
    if as_json:
        return _dump(rows)
    fields = list(msgspec.structs.asdict(rows[0])) if rows else ["port", "slot"]
    _table(None, fields, [list(msgspec.structs.asdict(r).values()) for r in rows])


@click.group()
def esim():
    """eSIM profiles."""


@esim.command(name="list")
@device_options
@click.option("--ports", default=None)
def esim_list(s, as_json, ports):
    with _client(s) as dev:
        cards = dev.esims(ports)
    if as_json:
        return _dump(cards)
    rows = [
        [c.port, c.eid, p.slot, "yes" if p.written else "", p.iccid, p.provider, p.op, p.status, p.reason]
        for c in cards
        for p in c.profiles
    ]
    _table(None, ["port", "eid", "slot", "profile", "iccid", "provider", "op", "status", "reason"], rows)


@esim.command(name="write")
@device_options
@click.argument("port", type=int)
@click.argument("slot", type=int)
@click.argument("ac")
@click.option("--cc", default="")
def esim_write(s, as_json, port, slot, ac, cc):
    with _client(s) as dev:
        [r] = dev.write_esims([{"port": port, "slot": slot, "ac": ac, "cc": cc}])
    _esim_answer(as_json, r)


@esim.command(name="delete")
@device_options
@click.argument("port", type=int)
@click.argument("slot", type=int)
def esim_delete(s, as_json, port, slot):
    with _client(s) as dev:
        [r] = dev.delete_esims([{"port": port, "slot": slot}])
    _esim_answer(as_json, r)


def _esim_answer(as_json: bool, r: Any) -> None:
    if as_json:
        _dump(r)
    else:
        out.print({1: "submitted", 2: "refused: the port is busy", 3: "refused"}.get(r.status, str(r.status)))
    if r.status != 1:
        sys.exit(REFUSED)


# --- the push receiver --------------------------------------------------------------------


@click.command()
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=9000)
@click.option("--db", default="ejoin-pushes.sqlite3", help="Where pushes are stored.")
@click.option("--secret", envvar="EJOIN_PUSH_SECRET", default=None, help="Verify push signatures with it.")
@click.option("--json", "as_json", is_flag=True)
def receive(host, port, db, secret, as_json):
    """Receive a device's pushes: print them and store them in SQLite."""
    from aiohttp import web

    from .receiver import create_receiver_app

    def show(kind: str) -> Callable[[Any], None]:
        def print_it(item: Any) -> None:
            if as_json:
                click.echo(msgspec.json.encode({"type": kind, "push": item}).decode())
            elif kind == "recv-sms":
                out.print(f"{item.port} from {item.sender}: {item.text if item.delivery is None else item.delivery}")
            elif kind == "status-report":
                out.print(f"task {item.tid}: sent {item.sent} failed {item.failed} unsent {item.unsent}")
            elif kind == "port-status":
                out.print(f"{item.port}: {item.state_text}")
            elif kind == "dev-status":
                out.print(f"dev-status: {len(item.status)} ports")
            else:
                out.print(f"{kind}: {item}")

        return print_it

    app = create_receiver_app(
        db,
        secret=secret,
        on_dev_status=show("dev-status"),
        on_port_status=show("port-status"),
        on_report=show("status-report"),
        on_sms=show("recv-sms"),
        on_mms=show("mms"),
    )
    err.print(f"receiving pushes on http://{host}:{port}/ (stored in {db})")
    web.run_app(app, host=host, port=port, print=None, access_log=None)


COMMANDS = [status, cmd, send, tasks, pause, resume, remove, inbox, stats, esim, receive]
from .ussd_cli import COMMANDS as PASSTHROUGH  # noqa: E402  (last: it builds on the helpers above)

COMMANDS += PASSTHROUGH
