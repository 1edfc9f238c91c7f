"""``ejoin send``: post one task and follow its status reports to the end.

The reports come to a receiver this command serves for its own lifetime, named
by the request-level ``sr_url`` of goip_post_sms (spec 6.3.1.3).  That URL
belongs to this one request: no device parameter is changed, and when the
command ends it asks an ejoin gateway to drop the pushes for that URL, those
waiting and those a task still going on would queue later, so nothing of the
CLI is left on the device when it exits.
"""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ..protocol.codes import PortState
from ..protocol.ports import DeviceSize, PortAddress, PortSpecError, parse_port_spec
from .client import AsyncClient
from .models import DevStatus, PortStatus, TaskReport
from .tasks import SendTask
from .terminal import err

# Without progress for this long, the CLI asks the device whether any port of the task can still send.
STALL_CHECK = 5.0


@dataclass
class Trail:
    """Everything the status reports of one task said: the latest counts, every sdr/fdr row."""

    tid: int
    report: TaskReport | None = None
    sdr: list[list[Any]] = field(default_factory=list)
    fdr: list[list[Any]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, report: TaskReport) -> None:
        if str(report.tid) != str(self.tid):
            return
        self.report = report
        # Rows are those since the previous report (spec 6.3.2 tips 3, 4): keep them all.
        self.sdr.extend(report.sdr)
        self.fdr.extend(report.fdr)
        self.changed.set()

    @property
    def finished(self) -> bool:
        r = self.report
        return r is not None and r.unsent == 0 and r.sending == 0

    def summary(self) -> dict[str, Any]:
        r = self.report or TaskReport(tid=self.tid)
        return {
            "tid": self.tid,
            "sending": r.sending,
            "sent": r.sent,
            "failed": r.failed,
            "unsent": r.unsent,
            "sdr": self.sdr,
            "fdr": self.fdr,
        }


@dataclass
class FollowOutcome:
    accepted: bool = False
    status: str = ""
    finished: bool = False
    stopped_because: str = ""
    followed: float = 0.0  # seconds from acceptance to the end (or the stop)


def _size(st: DevStatus) -> DeviceSize:
    return DeviceSize(max(1, min(256, st.max_ports or 1)), max(1, min(32, st.max_slots)))


def _can_send(entry: PortStatus) -> bool:
    return entry.state in (PortState.REGISTERED, PortState.CALL_CONNECTED)


def port_problem(st: DevStatus, from_: str | None) -> str | None:
    """Why (part of) a task would wait for a port: None when it can be sent now.

    ``st`` is the default status: one entry per port, its active slot.  Without
    ``from_`` the device picks any port that can send.  With it, every port it
    names sends (``to_all`` defaults to 1), so each must be able to; a named
    slot sends only while it is its port's active slot.
    """
    active: dict[int, PortStatus] = {}
    for entry in st.status:
        try:
            active.setdefault(PortAddress.parse(entry.port).port, entry)
        except PortSpecError:
            continue
    if not from_:
        if any(_can_send(e) for e in active.values()):
            return None
        return ", ".join(f"{e.port}: {e.state_text}" for e in active.values()) or "the device reports no port"
    problems = []
    for addr in parse_port_spec(from_, _size(st)):
        found = active.get(addr.port)
        if found is None:
            problems.append(f"{addr.port}: no status")
        elif addr.slot is not None and PortAddress.parse(found.port).slot != addr.slot:
            problems.append(f"{addr}: not the active slot ({found.port} is)")
        elif not _can_send(found):
            problems.append(f"{found.port}: {found.state_text}")
    return ", ".join(problems) or None


def check_ports(st: DevStatus, from_: str | None) -> str | None:
    """A port notation error with the device's size in it, or None."""
    if not from_:
        return None
    try:
        parse_port_spec(from_, _size(st))
    except PortSpecError as exc:
        return f"--from {exc}"
    return None


def local_host(url: str) -> str:
    """The address the device reaches this machine at: loopback for a local device, else the outgoing one."""
    host = urlsplit(url).hostname or "127.0.0.1"
    if host in ("127.0.0.1", "localhost", "::1"):
        return "127.0.0.1"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:  # no packet is sent
        probe.connect((host, 80))
        return str(probe.getsockname()[0])


async def send_and_follow(
    s: dict[str, Any],
    task: SendTask,
    trail: Trail,
    outcome: FollowOutcome,
    *,
    wait: bool,
    timeout: float,
    report_host: str | None,
    quiet: bool,
) -> None:
    """Post the task; with ``wait``, follow it until it ends, ``timeout`` passes or no port can send."""
    from aiohttp import web

    from .receiver import create_receiver_app

    runner = None
    request: dict[str, Any] = {}
    if wait:
        host = report_host or local_host(s["url"])
        runner = web.AppRunner(create_receiver_app(":memory:", on_report=trail.add), access_log=None)
        await runner.setup()
        # A device on this machine reaches loopback; any other must reach the address named in sr_url.
        await web.TCPSite(runner, "127.0.0.1" if host == "127.0.0.1" else "0.0.0.0", 0).start()
        port = runner.addresses[0][1]
        request = {"sr_url": f"http://{host}:{port}/ejoin-cli", "sr_cnt": 1, "sr_prd": 1}
    try:
        async with AsyncClient(s["url"], s["username"], s["password"], secure=s["secure"]) as dev:
            try:
                [result] = await dev.send([task], **request)
                outcome.status = result.status
                outcome.accepted = result.ok
                if not result.ok or not wait:
                    return
                if not quiet:
                    err().print(f"task {task.tid} accepted; following its status reports (Ctrl-C stops following)")
                await _follow(dev, task, trail, outcome, timeout, quiet)
            finally:
                if request:
                    await forget_report_url(dev, request["sr_url"])
    finally:
        if runner is not None:
            await runner.cleanup()


FORGET_TIMEOUT = 5.0  # seconds the command waits, at its end, for the device to drop its report URL


async def forget_report_url(dev: AsyncClient, url: str) -> bool:
    """Ask the device to drop the pushes for this command's report URL, now and later: it is gone once
    the command ends, and a task that goes on (Ctrl-C, --timeout) would otherwise queue reports for it
    that are retried for days.  Whether the device did (an ejoin gateway; a vendor box or an ejoin fleet
    has no push queue to ask, and the command ends all the same)."""
    try:
        await asyncio.wait_for(dev.drop_pushes(url, queued=True, forget=True), FORGET_TIMEOUT)
    except Exception:  # not an ejoin gateway, unreachable, too slow: nothing more this command can do
        return False
    return True


async def _follow(
    dev: AsyncClient, task: SendTask, trail: Trail, outcome: FollowOutcome, timeout: float, quiet: bool
) -> None:
    started = time.monotonic()
    try:
        await _watch(dev, task, trail, outcome, started + timeout, timeout, quiet)
    finally:
        outcome.followed = time.monotonic() - started


async def _watch(
    dev: AsyncClient, task: SendTask, trail: Trail, outcome: FollowOutcome, deadline: float, timeout: float, quiet: bool
) -> None:
    console = err()
    with Progress(
        TextColumn(f"task {task.tid}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        disable=quiet or not console.is_terminal,  # a bar is for a person: not in a pipe or a log
    ) as progress:
        bar = progress.add_task("send", total=None, info="", rate="")
        started = time.monotonic()
        # Periodic reports come whether or not anything moved: only a change of the counts is progress.
        last_progress, counts = started, (0, 0)
        while not trail.finished:
            now = time.monotonic()
            if now >= deadline:
                outcome.stopped_because = f"--timeout {timeout:g} s passed"
                return
            try:
                await asyncio.wait_for(trail.changed.wait(), min(0.5, deadline - now))
            except TimeoutError:
                pass
            now = time.monotonic()
            if trail.changed.is_set():
                trail.changed.clear()
                r = trail.report
                assert r is not None
                if (r.done, r.sending) != counts:
                    last_progress, counts = now, (r.done, r.sending)
                progress.update(
                    bar,
                    total=r.sent + r.failed + r.unsent + r.sending,
                    completed=r.done,
                    info=f"sent {r.sent}  failed {r.failed}",
                    rate=f"{r.done / max(1e-6, now - started):.1f} SMS/s",
                )
            if not trail.finished and now - last_progress >= STALL_CHECK:
                last_progress = now
                problem = port_problem(await dev.status(), task.from_)
                if problem is not None:
                    outcome.stopped_because = f"it waits for ports that cannot send now ({problem})"
                    return
        outcome.finished = True
