"""The client commands of ``ejoin``: drive any EJOIN device from a terminal.

Device options come from flags, then EJOIN_URL / EJOIN_USERNAME / EJOIN_PASSWORD,
then a profile (``--profile NAME`` in ``~/.config/ejoin/profiles.toml`` or
EJOIN_PROFILES), then the defaults (http://127.0.0.1:8080, root/root).

Exit codes: 0 done; 1 the device refused; 2 wrong usage; 3 some SMS failed;
4 no EJOIN device could be reached at the URL; 5 ``send`` stopped following
before its task ended; 130 interrupted (Ctrl-C) while following a task.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import sqlite3
import sys
import time
from collections.abc import Callable
from typing import Any

import click
import msgspec

from ..protocol.ports import DeviceSize, PortSpecError, parse_port_spec
from . import calls
from .client import Client
from .connection import _client, device_options
from .errors import DeviceUnreachable
from .follow import FollowOutcome, Trail, check_ports, port_problem, send_and_follow
from .models import EsimResult, status_code
from .pushes_cli import pushes
from .tasks import SendTask, new_tid, read_numbers
from .terminal import (
    INTERRUPTED,
    REFUSED,
    SOME_FAILED,
    STOPPED,
    UserError,
    dump,
    err,
    fail,
    fdr_line,
    out,
    say,
    sms_line,
    state_cell,
    table,
)
from .ussd_cli import COMMANDS as PASSTHROUGH

PORT_OPS = ("lock", "unlock", "switch", "reset", "ledon", "ledoff")
DEVICE_OPS = ("save", "reboot")
PORTS_HELP = "Ports: 1 (a port), 1-4 (a range), 1,3 (a list), 2.02 or 2B (port 2, slot 2), all."


def _raw(call: calls.Call[Any]) -> calls.Call[dict[str, Any]]:
    """The same request, answered as the device's own JSON object (every field kept)."""
    return dataclasses.replace(call, parse=lambda answer: answer)


def _check_ports(text: str, what: str) -> None:
    """The port notation, checked here; whether the ports exist is the device's to say."""
    try:
        parse_port_spec(text, DeviceSize(256, 32))
    except PortSpecError as exc:
        raise UserError(f"{what}: {exc}") from None


# --- status and commands ---------------------------------------------------------


@click.command(
    epilog="""\b
Examples:
  ejoin status
  ejoin status --all-slots
  ejoin status --json | jq '.status[] | select(.st != 3)'
"""
)
@device_options
@click.option("--all-slots", is_flag=True, help="Every slot, empty ones included.")
@click.option("--all-sims", is_flag=True, help="Every slot holding a SIM.")
def status(s: dict[str, Any], as_json: bool, all_slots: bool, all_sims: bool) -> None:
    """Device and port status (one row per port, or per slot)."""
    call = calls.status(all_slots=all_slots, all_sims=all_sims)
    with _client(s) as dev:
        if as_json:
            return dump(dev.execute(_raw(call)))
        st = dev.execute(call)
    table(
        f"{st.mac}  {st.ver}  {st.max_ports} ports x {st.max_slots} slots",
        ["port", "status", "operator", "number", "signal", "balance", "imei", "iccid"],
        [[p.port, state_cell(p.state, p.state_text), p.opr, p.sn, p.sig, p.bal, p.imei, p.iccid] for p in st.status],
    )


@click.command(
    context_settings={"ignore_unknown_options": True},
    epilog=f"""\b
OP is one of:
  lock|unlock|switch|reset|ledon|ledoff PORTS
  save | reboot
  get [NAME...]            (no NAME: every parameter)
  set NAME=VALUE...
{PORTS_HELP}

\b
Examples:
  ejoin cmd lock 1.01
  ejoin cmd switch 2.02
  ejoin cmd reset 1-4
  ejoin cmd get sms_url sim_number
  ejoin cmd set 'sim_number(0)=+15550100'
""",
)
@device_options
@click.argument("op")
@click.argument("args", nargs=-1)
def cmd(s: dict[str, Any], as_json: bool, op: str, args: tuple[str, ...]) -> None:
    """Run a device command, or get/set device parameters."""
    if op in PORT_OPS:
        if not args:
            raise UserError(f"{op} takes PORTS, e.g. ejoin cmd {op} 1.02. {PORTS_HELP}")
        ports = ",".join(args)
        _check_ports(ports, op)
    elif op in DEVICE_OPS:
        if args:
            raise UserError(f"{op} takes no ports")
        ports = None
    elif op == "set":
        pairs = dict(a.split("=", 1) for a in args if "=" in a)
        if len(pairs) != len(args) or not pairs:
            raise UserError("set takes NAME=VALUE pairs, e.g. ejoin cmd set sms_url=http://192.0.2.1/sms")
    elif op != "get":
        raise UserError(f"unknown op {op!r}; use one of {', '.join(PORT_OPS + DEVICE_OPS)}, get, set")
    with _client(s) as dev:
        if op == "get":
            data = dev.get_params(*args)
            if as_json:
                return dump(data)
            rows = []
            for name, value in data.items():
                if isinstance(value, list):  # an array parameter: one row per index, as set takes it
                    rows += [[f"{name}({i})", v] for i, v in enumerate(value)]
                else:
                    rows.append([name, value])
            return table(None, ["name", "value"], rows)
        if op == "set":
            n = dev.set_params(pairs)
            return dump({"par_set": n}) if as_json else out().print(f"{n} set")
        dev.command(op, ports)
    return dump({"code": 0, "reason": "OK"}) if as_json else out().print("OK")


# --- sending -------------------------------------------------------------------------


@click.command(
    epilog=f"""\b
--from takes port notation. {PORTS_HELP}

\b
Examples:
  ejoin send --to 13800000001,13800000002 --text "Hello"
  ejoin send --to-file numbers.txt --text "Hello" --from 1-4 --json
  ejoin send --to 13800000001 --text "Report" --attach pic.jpg --subject "Hi"
  ejoin send --to 13800000001 --text "Later" --no-wait

\b
The CLI serves the task's status reports on this machine for as long as it
follows (a per-request sr_url; no device setting is changed), and when it
ends asks the gateway to drop the pushes for that URL. Ctrl-C or --timeout
stops following only: the task goes on on the device (ejoin pause TID,
ejoin remove TID).

\b
Exit codes: 0 all sent; 1 refused, or a port cannot send; 3 some failed;
5 stopped following (--timeout, or its ports cannot send); 130 Ctrl-C.
"""
)
@device_options
@click.option("--to", "to", multiple=True, metavar="NUMBERS", help="Recipients, separated by ','. Repeatable.")
@click.option(
    "--to-file",
    type=click.Path(exists=True, dir_okay=False),
    metavar="FILE",
    help="A file of numbers, one a line or ','.",
)
@click.option("--text", default="", help="The text (for an MMS: its text part).")
@click.option("--from", "from_", metavar="PORTS", help="Ports to send from, e.g. 1, 1-4, 2.02.  [default: any]")
@click.option("--tid", type=click.IntRange(0, 2**63 - 1), help="Task id.  [default: a fresh one]")
@click.option(
    "--attach",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    metavar="FILE",
    help="MMS attachment (jpg, gif, txt, mp3).",
)
@click.option("--subject", default=None, help="MMS subject.")
@click.option("--wait/--no-wait", default=True, help="Follow the status reports to the end.  [default: wait]")
@click.option("--timeout", default=600.0, type=click.FloatRange(0), help="Seconds to follow at most.  [default: 600]")
@click.option("--report-host", default=None, metavar="HOST", help="Address the device reaches this machine at.")
@click.option("--sdr", is_flag=True, help="Ask for a row per sent number too (shown with --json).")
@click.option("--dr", is_flag=True, help="Ask for delivery reports (they arrive in `ejoin inbox`).")
def send(
    s: dict[str, Any],
    as_json: bool,
    to: tuple[str, ...],
    to_file: str | None,
    text: str,
    from_: str | None,
    tid: int | None,
    attach: tuple[str, ...],
    subject: str | None,
    wait: bool,
    timeout: float,
    report_host: str | None,
    sdr: bool,
    dr: bool,
) -> None:
    """Send an SMS (or an MMS with --attach) and follow it to the end."""
    numbers = [n.strip() for t in to for n in t.split(",") if n.strip()]
    if to_file:
        problems: list[str] = []
        numbers += read_numbers(to_file, problems=problems)
        for problem in problems:
            err().print(f"not sent ({to_file}, {problem})", markup=False)
    if not numbers and to_file:
        raise UserError(f"no number to send: {to_file} holds none")
    if not numbers:
        raise UserError("give --to NUMBERS or --to-file FILE")
    if not text and not attach:
        raise UserError("give --text (or --attach for an MMS)")
    if from_:
        _check_ports(from_, "--from")
    if report_host is not None and (not report_host.strip() or any(c.isspace() or c in "/?#@" for c in report_host)):
        raise UserError(f"--report-host {report_host!r} is not a host name or address")
    tid = tid if tid is not None else new_tid()
    fields: dict[str, Any] = {"tid": tid, "fdr": 1, "sdr": 1 if sdr else 0}
    if dr:
        fields["dr"] = 1
    if from_:
        fields["from_"] = from_
    if wait:  # a report per ~2% done, and at least every 2 s, so the bar moves
        fields.update(sr_cnt=max(1, len(numbers) // 50), sr_prd=2)
    try:
        task = (
            SendTask.mms(numbers, subject=subject or "", text=text, files=attach, **fields)
            if attach
            else SendTask.text(numbers, text, **fields)
        )
    except ValueError as exc:
        raise UserError(f"--attach {exc}") from None
    except OSError as exc:
        raise UserError(f"--attach {exc.filename}: {exc.strerror}") from None
    with _client(s) as dev:
        st = dev.status()
    wrong_ports = check_ports(st, from_)
    if wrong_ports:
        raise UserError(wrong_ports)
    blocked = port_problem(st, from_)
    if blocked and wait:
        fail(
            as_json,
            "port",
            f"the task would wait for ports that cannot send now ({blocked}). "
            f"Unlock or fix them (ejoin cmd unlock {from_ or 'PORTS'}), choose others with --from, "
            f"or queue the task anyway with --no-wait",
            REFUSED,
        )
    if blocked:
        say(f"[yellow]the task waits on the device for ports that cannot send now ({blocked})[/yellow]")
    trail, outcome = Trail(tid), FollowOutcome()
    try:
        asyncio.run(
            send_and_follow(s, task, trail, outcome, wait=wait, timeout=timeout, report_host=report_host, quiet=as_json)
        )
    except KeyboardInterrupt:
        if not outcome.status:
            say(
                f"interrupted before the device answered: task {tid} may exist; "
                f"see `ejoin tasks --port PORT`, remove it with `ejoin remove {tid}`"
            )
        else:
            _goes_on(tid, "interrupted")
        sys.exit(INTERRUPTED)
    sys.exit(_send_result(as_json, tid, outcome, trail, wait))


def _goes_on(tid: int, why: str) -> None:
    say(
        f"[yellow]stopped following task {tid}: {why}.[/yellow] The task goes on on the device "
        f"(its later status reports were addressed to this command: an ejoin gateway drops them): "
        f"pause it with `ejoin pause {tid}`, remove it with `ejoin remove {tid}`, "
        f"see what waits with `ejoin tasks --port PORT`"
    )


def _send_result(as_json: bool, tid: int, outcome: FollowOutcome, trail: Trail, wait: bool) -> int:
    if not outcome.accepted:
        fail(as_json, "refused", f"task {tid} refused: {outcome.status}", REFUSED, tid=tid, status=outcome.status)
    if not wait:
        if as_json:
            dump({"tid": tid, "status": outcome.status})
        else:
            out().print(f"task {tid}: {outcome.status}")
        return 0
    summary = trail.summary()
    if as_json:
        dump(
            {
                "tid": tid,
                "status": outcome.status,
                "finished": outcome.finished,
                "stopped": outcome.stopped_because or None,
                "seconds": round(outcome.followed, 3),
                "report": summary,
            }
        )
    else:
        for row in trail.fdr:
            out().print(f"failed: {fdr_line(row)}")
        if trail.report is None:
            out().print(f"task {tid}: {outcome.status}, no status report yet")
        else:
            done, seconds = summary["sent"] + summary["failed"], outcome.followed
            out().print(
                f"task {tid}: sent {summary['sent']}, failed {summary['failed']}, unsent {summary['unsent']}"
                + (f", sending {summary['sending']}" if summary["sending"] else "")
                + f" ({seconds:.1f} s, {done / max(seconds, 1e-3):,.0f} SMS/s)"
            )
    if not outcome.finished:
        _goes_on(tid, outcome.stopped_because or "the task did not end")
        return STOPPED
    return SOME_FAILED if summary["failed"] else 0


@click.command(epilog="\b\nExamples:\n  ejoin tasks --port 2\n  ejoin tasks --port 2 --content --num 50\n")
@device_options
@click.option("--port", required=True, type=click.IntRange(1), help="The port whose waiting tasks are listed.")
@click.option("--pos", default=0, type=click.IntRange(0), help="Index of the first task shown.  [default: 0]")
@click.option("--num", default=10, type=click.IntRange(1), help="How many tasks at most.  [default: 10]")
@click.option("--content", is_flag=True, help="Show the texts.")
def tasks(s: dict[str, Any], as_json: bool, port: int, pos: int, num: int, content: bool) -> None:
    """Tasks waiting to be sent by a port."""
    with _client(s) as dev:
        page = dev.tasks(port, pos, num, content)
    if as_json:
        return dump(page)
    table(
        f"{page.task_num} of {page.total_num} waiting on port {port}",
        ["tid", "state", "from", "to", "sms"],
        [[t.tid, "paused" if t.state else "queued", t.from_, t.to, t.sms or ""] for t in page.tasks],
    )


_NO_SUCH_TASK = 11  # the spec's "11 TID Expected", answered for a tid the device does not have


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def _asked(question: str) -> bool:
    """Whether a person at a terminal said yes; a script (stdin not a terminal) is not asked."""
    if not _stdin_is_terminal():
        return True
    return click.confirm(question, default=False, err=True)


def _task_change(op: str) -> click.Command:
    every_help = f"{op.capitalize()} every task of the device (needed when no TID is given)."
    examples = f"\b\nExamples:\n  ejoin {op} 1767225600000\n  ejoin {op} --all"
    if op == "remove":
        examples += "\n  ejoin remove --all --yes      (no question, also on a terminal)"

    def command(s: dict[str, Any], as_json: bool, tids: tuple[int, ...], every: bool, yes: bool = False) -> None:
        # Without tids the device acts on every task: a forgotten argument must not empty the queue.
        if tids and every:
            raise UserError("give TIDs or --all, not both")
        if not tids and not every:
            raise UserError(f"name the tasks to {op} (ejoin {op} TID...), or give --all to {op} every task")
        if every and op == "remove" and not yes:
            question = f"Remove every task of {s['url']}? SMS not sent yet will never be sent"
            if not _asked(question):
                raise click.Abort()
        with _client(s) as dev:
            results = getattr(dev, op)(list(tids) if tids else None)
        if as_json:
            dump({"results": results})
        else:
            for r in results or []:
                if status_code(r.status) == _NO_SUCH_TASK:
                    out().print(f"{r.tid}: no such task ({r.status})")
                else:
                    out().print(f"{r.tid}: {r.status}")
            if results is None:
                out().print("OK (every task)")
        if results and not all(r.ok for r in results):
            sys.exit(REFUSED)

    if op == "remove":
        command = click.option("--yes", "-y", is_flag=True, help="Do not ask before removing every task.")(command)
    command = click.option("--all", "every", is_flag=True, help=every_help)(command)
    command = click.argument("tids", nargs=-1, type=click.IntRange(0))(command)
    return click.command(
        name=op, help=f"{op.capitalize()} the tasks TID... (or every task with --all).", epilog=examples
    )(device_options(command))


pause, resume, remove = _task_change("pause"), _task_change("resume"), _task_change("remove")


# --- receiving, statistics, eSIM ---------------------------------------------------------


_SEEN_MAX = 100_000  # messages remembered by inbox --follow, to skip them when a restarted device replays


@click.command(
    epilog="""\b
Examples:
  ejoin inbox
  ejoin inbox --from-id 20 --num 10
  ejoin inbox --follow
"""
)
@device_options
@click.option("--from-id", default=1, type=click.IntRange(1), help="First SMS id.  [default: 1]")
@click.option("--num", default=0, type=click.IntRange(0), help="How many (0: all).  [default: 0]")
@click.option("--delete", is_flag=True, help="Delete what was shown from the device.")
@click.option("--follow", is_flag=True, help="Keep showing new SMS (Ctrl-C stops); rides out device restarts.")
@click.option(
    "--interval", default=2.0, type=click.FloatRange(0.1), help="Seconds between polls with --follow.  [default: 2]"
)
def inbox(
    s: dict[str, Any], as_json: bool, from_id: int, num: int, delete: bool, follow: bool, interval: float
) -> None:
    """Received SMS and delivery reports."""
    next_id, ssrc, shown = from_id, None, 0
    waiting_said, lost = False, False
    # After a restart the spec says to read from the first SMS again; what was shown already is not shown twice.
    seen: dict[tuple[Any, ...], None] = {}
    replaying = False
    # Following retries itself, like tail -F: one attempt per poll, not the SDK's quick retries.
    with _client(s, retries=0 if follow else 2) as dev:
        try:
            while True:
                try:
                    page = dev.inbox(next_id, num, delete)
                except DeviceUnreachable as exc:
                    if not follow:
                        raise
                    if not lost:
                        say(f"[yellow]cannot reach {s['url']} ({exc.reason}); retrying every {interval:g} s[/yellow]")
                        lost = True
                    time.sleep(interval)
                    continue
                if lost:
                    say(f"{s['url']} is back")
                    lost = False
                if ssrc is not None and page.ssrc != ssrc:  # the device restarted: read from the start (spec 8.1)
                    next_id, ssrc, replaying = 1, page.ssrc, True
                    continue
                ssrc = page.ssrc
                for m in page.messages:
                    key = (m.flag, m.port, m.ts, m.sender, m.recipient, m.content)
                    if replaying and key in seen:
                        continue
                    if follow:
                        seen[key] = None
                        if len(seen) > _SEEN_MAX:
                            del seen[next(iter(seen))]
                    if as_json:
                        dump(m)
                    else:
                        out().print(sms_line(m), markup=False)
                    shown += 1
                replaying = replaying and bool(page.messages)
                next_id = page.next_sms
                if not follow:
                    if not shown and not as_json:
                        say("no messages")
                    return
                if not waiting_said:
                    say("waiting for new messages (Ctrl-C to stop)")
                    waiting_said = True
                time.sleep(interval)
        except KeyboardInterrupt:
            return


@click.command(
    epilog="""\b
Examples:
  ejoin stats sms
  ejoin stats sms --ports 1-4 --slots 1 --type 3
  ejoin stats calls --type 2 --json
"""
)
@device_options
@click.argument("kind", type=click.Choice(["sms", "calls"]))
@click.option("--ports", default=None, metavar="PORTS", help="Ports, e.g. 1, 1-4, 1,3.  [default: all]")
@click.option("--slots", default=None, metavar="SLOTS", help="Slots, e.g. 1, 1-2.  [default: all]")
@click.option(
    "--type",
    "kind_of_window",
    default=0,
    type=click.IntRange(0, 3),
    help="0 last hour, 1 last two hours, 2 today, 3 since the start.  [default: 0]",
)
def stats(
    s: dict[str, Any], as_json: bool, kind: str, ports: str | None, slots: str | None, kind_of_window: int
) -> None:
    """SMS or call statistics per port and slot."""
    with _client(s) as dev:
        fetch = dev.sms_stats if kind == "sms" else dev.call_stats
        rows = fetch(ports, slots, kind_of_window)
    if as_json:
        return dump(rows)
    fields = list(msgspec.structs.asdict(rows[0])) if rows else ["port", "slot"]
    table(None, fields, [list(msgspec.structs.asdict(r).values()) for r in rows])


@click.group()
def esim() -> None:
    """eSIM profiles: list, write, delete."""


@esim.command(name="list", epilog="\b\nExamples:\n  ejoin esim list\n  ejoin esim list --ports 1-4")
@device_options
@click.option("--ports", default=None, metavar="PORTS", help="Ports, e.g. 1, 1-4, 1,3.  [default: all]")
def esim_list(s: dict[str, Any], as_json: bool, ports: str | None) -> None:
    """The eSIM profiles of each port's eUICC."""
    with _client(s) as dev:
        cards = dev.esims(ports)
    if as_json:
        return dump(cards)
    rows = [
        [c.port, c.eid, p.slot, "yes" if p.written else "", p.iccid, p.provider, p.op, p.status, p.reason]
        for c in cards
        for p in c.profiles
    ]
    table(None, ["port", "eid", "slot", "profile", "iccid", "provider", "op", "status", "reason"], rows)


@esim.command(name="write", epilog="\b\nExample:\n  ejoin esim write 1 2 'LPA:1$smdp.example.com$MATCHING-ID'")
@device_options
@click.argument("port", type=click.IntRange(1))
@click.argument("slot", type=click.IntRange(1))
@click.argument("ac")
@click.option("--cc", default="", help="Confirmation code, when the profile needs one.")
def esim_write(s: dict[str, Any], as_json: bool, port: int, slot: int, ac: str, cc: str) -> None:
    """Download a profile (activation code AC) into PORT's eUICC, as SLOT."""
    with _client(s) as dev:
        _check_slot(dev, port, slot)
        [r] = dev.write_esims([{"port": port, "slot": slot, "ac": ac, "cc": cc}])
    _esim_answer(as_json, r)


@esim.command(name="delete", epilog="\b\nExample:\n  ejoin esim delete 1 2")
@device_options
@click.argument("port", type=click.IntRange(1))
@click.argument("slot", type=click.IntRange(1))
def esim_delete(s: dict[str, Any], as_json: bool, port: int, slot: int) -> None:
    """Delete the profile in SLOT of PORT's eUICC."""
    with _client(s) as dev:
        _check_slot(dev, port, slot)
        [r] = dev.delete_esims([{"port": port, "slot": slot}])
    _esim_answer(as_json, r)


def _check_slot(dev: Client, port: int, slot: int) -> None:
    """A port or slot outside the device, named with its size (the eSIM answer itself only says 3)."""
    st = dev.status()
    size = DeviceSize(max(1, min(256, st.max_ports or 1)), max(1, min(32, st.max_slots)))
    try:
        parse_port_spec(f"{port}.{slot}", size)
    except PortSpecError as exc:
        raise UserError(str(exc)) from None


def _esim_answer(as_json: bool, r: EsimResult) -> None:
    if as_json:
        dump(r)
    elif r.status == 1:
        out().print("submitted; `ejoin esim list` shows its progress")
    elif r.status == 2:
        out().print("refused: the port is busy with another eSIM operation")
    else:
        out().print(f"refused (status {r.status}); `ejoin esim list --ports {r.port}` shows the slot")
    if r.status != 1:
        sys.exit(REFUSED)


# --- the push receiver --------------------------------------------------------------------


def _push_lines(kind: str, item: Any) -> list[str]:
    if kind == "recv-sms":
        return [sms_line(item)]
    if kind == "status-report":
        head = f"task {item.tid}: sent {item.sent}, failed {item.failed}, unsent {item.unsent}, sending {item.sending}"
        return [head, *(f"  failed: {fdr_line(row)}" for row in item.fdr)]
    if kind == "port-status":
        return [f"{item.port}: {item.state_text}"]
    if kind == "dev-status":
        ready = sum(1 for p in item.status if p.state in (3, 4))
        return [f"device status: {len(item.status)} ports, {ready} registered"]
    if kind == "mms":
        return [f"MMS from {item.sender} to {item.recipient}: {item.subject!r}, {len(item.parts)} parts"]
    return [f"{kind} push"]


@click.command(
    epilog="""\b
Point the device at it, e.g.:
  ejoin cmd set sms_url=http://192.0.2.1:9000/sms sr_url=http://192.0.2.1:9000/sr
and reset them when done:
  ejoin cmd set sms_url= sr_url=

\b
Examples:
  ejoin receive --port 9000
  ejoin receive --host 0.0.0.0 --secret s3cret --json
"""
)
@click.option("--host", default="127.0.0.1", help="Address to listen on.  [default: 127.0.0.1]")
@click.option("--port", default=9000, type=click.IntRange(0, 65535), help="Port to listen on.  [default: 9000]")
@click.option("--db", default="ejoin-pushes.sqlite3", help="Where pushes are stored.  [default: ejoin-pushes.sqlite3]")
@click.option("--secret", envvar="EJOIN_PUSH_SECRET", default=None, help="Verify push signatures with it.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line: {type, push}.")
def receive(host: str, port: int, db: str, secret: str | None, as_json: bool) -> None:
    """Receive a device's pushes: print them and store them in SQLite."""
    from aiohttp import web

    from .receiver import create_receiver_app, open_store

    def show(kind: str) -> Callable[[Any], None]:
        def print_it(item: Any) -> None:
            if as_json:
                click.echo(msgspec.json.encode({"type": kind, "push": item}).decode())
            else:
                for line in _push_lines(kind, item):
                    out().print(line, markup=False)
            sys.stdout.flush()

        return print_it

    def rejected(remote: str, reason: str) -> None:
        say(f"[red]rejected a push from {remote}[/red]: {reason}")

    try:  # a store that cannot be opened is said now, not at the first push (which would get a 500)
        open_store(db).close()
    except (sqlite3.Error, RuntimeError) as exc:
        raise UserError(f"cannot use --db {db}: {exc}") from None
    try:
        sock = socket.create_server((host, port))
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    app = create_receiver_app(
        db,
        secret=secret,
        on_dev_status=show("dev-status"),
        on_port_status=show("port-status"),
        on_report=show("status-report"),
        on_sms=show("recv-sms"),
        on_mms=show("mms"),
        on_other=show("other"),
        on_rejected=rejected,
    )
    say(f"receiving pushes on http://{host}:{sock.getsockname()[1]}/ (stored in {db}; Ctrl-C stops)")
    web.run_app(app, sock=sock, print=None, access_log=None)


COMMANDS = [status, cmd, send, tasks, pause, resume, remove, inbox, stats, esim, receive, pushes, *PASSTHROUGH]
