"""SMS/s end to end through ``ejoin fleet``, beside the same members driven directly in the same run.

What runs is what a deployment runs, each in its own process: the members are ``ejoin gateway``
processes (4 x 32 ports: a real box is its own machine; each SMS takes ``--module-ms`` in its
module, every other simulated delay zero), the fleet is ``ejoin fleet`` (on its embedded SQLite
store; on PostgreSQL with 1 replica, and 2 replicas behind a round-robin TCP balancer, itself a
process, which the members' reports go through too), and the platform (this script) posts tasks
and receives the status reports.  An earlier version ran everything as threads of one Python
process, so the fleet and the members shared one interpreter lock and the fleet's overhead was
mostly theirs to share; this one measures the fleet as it is deployed.

The figure: recipients whose final status report reached the platform, per second of wall time
from the first post.  Each fleet run has its floor beside it: the same tasks (same number and
size) posted straight to the same member processes (the members alone), measured just before it.
Beside them: the fleet's CPU per task, and ``goip_get_status`` p99 asked of the fleet (every
100 ms) while its tasks go through it.  CPU per SMS
is the CPU time of the process(es) named over the run, divided by its SMS: the fleet
replica(s), the members (their own, as a reference), PostgreSQL (all its server processes) and
the balancer.  Everything shares the machine's cores, so the wall figures are what these
processes reach together; the CPU figures say what the fleet itself costs, and "a core of fleet
CPU" what one core given to the fleet alone (its replicas together) would carry: with real boxes,
whose SMS take seconds on their own machines, that is the fleet's ceiling.

    python benchmarks/bench_fleet.py [--sizes 2000,20000] [--tasks 4] [--members 4] [--ports 32]
        [--repeat 3] [--no-pg] [--only sqlite,pg1,pg2] [--profile DIR] [--module-ms MS]

``--module-ms 50`` (the default): each SMS takes 50 ms in its member's module (everything else
zero), so the members' modules bound the rate (4 x 32 ports / 50 ms = 2,560 SMS/s) as real
modules bound a real box's, and the figure says what the fleet adds where it is deployed: on top
of modules, not of members that do no work.  ``--module-ms 0`` (``--fast`` members, every delay
zero): the software alone, members, fleet and PostgreSQL competing for the same cores.

Each size runs ``--repeat`` times (each fleet run right after its direct reference); the medians
are printed, as the shared machine makes single runs vary by tens of percent.

``--profile DIR``: each fleet process runs under cProfile; its stats go to DIR/<run>-<n>.prof
(read them with ``python -m pstats``).  ``--src DIR``: the fleet processes run that ejoin source
tree (a baseline checkout's ``src``), the members this one's.  Many small tasks (issue 28):
``--tasks 400 --sizes 4000 --only pg1``; docs/performance.md has its figures.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import FinalReports  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.fleet.pg import PgServer, pg_bin  # noqa: E402

HERE = Path(__file__).resolve().parent
# a statement in PostgreSQL's log (log_statement = all): run as text, or a prepared one executed
_LOGGED = re.compile(r"LOG:  (?:statement|execute [^:]*): (.*)")
TICK = os.sysconf("SC_CLK_TCK")
_tids = itertools.count(1)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (0 once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def children_of(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Proc:
    """A process of the benchmark, serving HTTP on ``port``."""

    name: str
    popen: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu(self) -> float:
        return cpu_seconds(self.popen.pid)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def spawn(name: str, argv: list[str], port: int, logs: Path, src: str | None = None) -> Proc:
    """``src``: the ejoin source tree the process runs (a baseline checkout's), else the installed one."""
    log = logs / f"{name}.log"
    env = None
    if src:  # (several directories: os.pathsep between them)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(Path(p).resolve()) for p in src.split(os.pathsep))}
    popen = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log.open("wb"), cwd=logs, env=env)
    return Proc(name, popen, port, log)


async def ready(session: aiohttp.ClientSession, proc: Proc, params: dict[str, str], ports: int) -> None:
    """Until the process answers its status with ``ports`` ports registered (st 3)."""
    deadline = time.monotonic() + 60
    while True:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited: {proc.log.read_text()[-2000:]}")
        try:
            async with session.get(proc.url + "/goip_get_status.html", params=params) as resp:
                status = await resp.json(content_type=None)
            if sum(1 for e in status.get("status", []) if e.get("st") == 3) >= ports:
                return
        except (aiohttp.ClientError, OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{proc.name} not ready: {proc.log.read_text()[-2000:]}")
        await asyncio.sleep(0.1)


def numbers(count: int, start: int) -> list[str]:
    return [f"139{start + i:08d}" for i in range(count)]


async def probe_status(url: str, params: dict[str, str], stop: asyncio.Event) -> list[float]:
    """``goip_get_status`` of ``url`` in a loop (100 ms apart: a fleet's asks every member) until
    ``stop``: each answer's seconds."""
    latencies: list[float] = []
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            started = time.perf_counter()
            async with session.get(url + "/goip_get_status.html", params=params) as resp:
                await resp.read()
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0.1)
    return latencies


def p99_ms(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else float("nan")


async def send(
    targets: list[tuple[str, dict[str, str]]], sms: int, tasks: int, status: list[float] | None = None
) -> float:
    """``tasks`` tasks of ``sms`` recipients in all, task i to target i (in turn); seconds until
    every recipient is in a final report received by the platform.  ``status``: the latencies of
    ``goip_get_status`` asked of the first target meanwhile are added to it."""
    stop = asyncio.Event()
    prober = None if status is None else asyncio.ensure_future(probe_status(*targets[0], stop))
    try:
        return await _send(targets, sms, tasks)
    finally:
        stop.set()
        if prober is not None and status is not None:
            status.extend(await prober)


async def _send(targets: list[tuple[str, dict[str, str]]], sms: int, tasks: int) -> float:
    share = sms // tasks
    async with FinalReports(share * tasks) as platform:
        # A new connection per post, as separate platform workers would: a balancer spreads them.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
            started = time.perf_counter()
            for i in range(tasks):
                url, creds = targets[i % len(targets)]
                # one report per task, at its end (sr_cnt above its size), pushed at once (request sr_cnt 1)
                task = {"tid": next(_tids), "to": numbers(share, i * share), "sms": "x", "sr_cnt": 10**7, "sr_prd": 0}
                body = {"type": "send-sms", "sr_url": platform.url, "sr_cnt": 1, "tasks": [task]}
                async with session.post(url + "/goip_post_sms.html", params=creds, json=body) as resp:
                    answer = await resp.json(content_type=None)
                assert answer["status"][0]["status"] == "0 OK", answer
            await platform.wait()
            seconds = time.perf_counter() - started
            assert platform.done == share * tasks, f"{platform.done} SMS in final reports, {share * tasks} sent"
            return seconds


@dataclass
class Figure:
    run: str
    sms: int
    rate: float
    reference: float
    cpu: dict[str, float] = field(default_factory=dict)  # what -> µs CPU per SMS
    reference_cpu: float = 0.0  # the members' µs per SMS, driven directly
    # the fleet's time per SMS over the direct one's, less 1 (the median of each pair's, as pairs run
    # back to back: steadier than the ratio of the medians on a machine others use)
    overhead: float = 0.0
    status_p99: float = 0.0  # ms, the fleet's goip_get_status while the run's tasks go through it
    per_task: int = 1  # SMS per task
    statements: tuple[float, float] | None = None  # per task: PostgreSQL statements, transactions (--statements)


MEMBER_AUTH = {"username": "root", "password": "root"}
FLEET_AUTH = {"username": "fleet", "password": "secret"}


class Bench:
    def __init__(self, args: argparse.Namespace, root: Path) -> None:
        self.args = args
        self.root = root
        self.members: list[Proc] = []
        self.pg: PgServer | None = None
        self.figures: list[Figure] = []

    def pg_log(self) -> tuple[int, int]:
        """(statements, transactions) in PostgreSQL's log so far (``--statements``: the fleet's database
        logs every statement; a transaction is a BEGIN or a statement run alone, in autocommit)."""
        if self.pg is None or not self.args.statements:
            return (0, 0)
        statements = transactions = 0
        in_transaction = False
        for text in (self.pg.root / "log").read_text(errors="replace").splitlines():
            m = _LOGGED.search(text)
            if m is None:
                continue
            word = m.group(1).split(None, 1)[0].upper() if m.group(1).strip() else ""
            if word == "BEGIN":
                in_transaction, transactions = True, transactions + 1
            elif word in ("COMMIT", "ROLLBACK"):
                in_transaction = False
            else:
                statements += 1
                transactions += not in_transaction
        return statements, transactions

    def members_cpu(self) -> float:
        return sum(m.cpu() for m in self.members)

    def pg_cpu(self) -> float:
        if self.pg is None:
            return 0.0
        pid = int((self.pg.data / "postmaster.pid").read_text().split()[0])
        return cpu_seconds(pid) + sum(cpu_seconds(c) for c in children_of(pid))

    async def start_members(self, session: aiohttp.ClientSession) -> None:
        for i in range(self.args.members):
            port = free_port()
            argv = [sys.executable, "-m", "ejoin", "gateway", "--ports", str(self.args.ports)]
            argv += ["--slots", "1", "--port", str(port), "--data", str(self.root / f"m{i}"), "--seed", str(i + 1)]
            argv += self.module_timing(i)
            self.members.append(spawn(f"member{i}", [*argv, "--log-level", "warning"], port, self.root))
        for m in self.members:
            await ready(session, m, MEMBER_AUTH, self.args.ports)

    def module_timing(self, i: int) -> list[str]:
        """``--fast`` (every simulated delay zero: the software alone), or ``--module-ms``: each SMS
        takes that long in its module, everything else zero, so the members' modules bound the rate."""
        if not self.args.module_ms:
            return ["--fast"]
        seconds = self.args.module_ms / 1000
        toml = self.root / f"m{i}.toml"
        toml.write_text(
            "[timing]\ncard_detect = 0.0\nregister_min = 0.0\nregister_max = 0.0\nmodule_restart = 0.0\n"
            f"send_min = {seconds}\nsend_max = {seconds}\ndelivery = 0.0\n"
        )
        return ["--config", str(toml)]

    def fleet_toml(self, name: str, db: str, public_url: str) -> Path:
        lines = [f'data = "{self.root / name}"', 'username = "fleet"', 'password = "secret"']
        if db:
            lines.append(f'db = "{db}"')
        if public_url:
            lines.append(f'public_url = "{public_url}"')
        p = self.args.ports
        for i, m in enumerate(self.members):
            lines += [
                "[[member]]",
                f'name = "m{i}"',
                f'url = "{m.url}"',
                'username = "root"',
                'password = "root"',
                f'ports = "{i * p + 1}-{(i + 1) * p}"',
            ]
        path = self.root / f"{name}.toml"
        path.write_text("\n".join(lines) + "\n")
        return path

    async def start_fleet(self, session: aiohttp.ClientSession, run: str, replicas: int, db: str) -> list[Proc]:
        ports = [free_port() for _ in range(replicas)]
        front = free_port() if replicas > 1 else ports[0]
        procs: list[Proc] = []
        for n, port in enumerate(ports):
            # behind a balancer, the members' reports go through it too (any replica takes them)
            config = self.fleet_toml(f"{run}-{n}", db, f"http://127.0.0.1:{front}" if replicas > 1 else "")
            argv = [sys.executable]
            if self.args.profile:
                argv += ["-m", "cProfile", "-o", str(Path(self.args.profile).resolve() / f"{run}-{n}.prof")]
            argv += ["-m", "ejoin", "fleet", "--config", str(config), "--port", str(port)]
            procs.append(spawn(f"{run}-{n}", argv, port, self.root, self.args.src))
        total = self.args.members * self.args.ports
        for proc in procs:
            await ready(session, proc, FLEET_AUTH, total)
        if replicas > 1:
            argv = [sys.executable, str(HERE / "_balancer.py"), str(front), *(f"127.0.0.1:{p}" for p in ports)]
            balancer = spawn(f"{run}-balancer", argv, front, self.root)
            await ready(session, balancer, FLEET_AUTH, total)
            procs.append(balancer)
        return procs

    async def direct(self, sms: int) -> tuple[float, float]:
        """The reference: SMS/s and the members' µs CPU per SMS, the tasks posted straight to them."""
        before = self.members_cpu()
        seconds = await send([(m.url, MEMBER_AUTH) for m in self.members], sms, self.args.tasks)
        return sms / seconds, 1e6 * (self.members_cpu() - before) / sms

    def cpu(self, fleets: list[Proc], balancer: list[Proc], pg: bool) -> dict[str, float]:
        """CPU seconds so far of each part of a fleet run."""
        out = {"fleet": sum(p.cpu() for p in fleets), "members": self.members_cpu()}
        if pg:
            out["pg"] = self.pg_cpu()
        if balancer:
            out["balancer"] = sum(p.cpu() for p in balancer)
        return out

    async def through(self, run: str, label: str, replicas: int, db: str, session: aiohttp.ClientSession) -> None:
        procs = await self.start_fleet(session, run, replicas, db)
        fleets = [p for p in procs if not p.name.endswith("balancer")]
        balancer = [p for p in procs if p.name.endswith("balancer")]
        try:
            for sms in self.args.sizes:
                runs = []
                for _ in range(self.args.repeat):  # each fleet run right after its reference
                    reference, reference_cpu = await self.direct(sms)
                    cpu = self.cpu(fleets, balancer, bool(db))
                    logged = self.pg_log() if db else (0, 0)
                    status: list[float] = []
                    seconds = await send([(procs[-1].url, FLEET_AUTH)], sms, self.args.tasks, status)
                    after = self.cpu(fleets, balancer, bool(db))
                    logged_after = self.pg_log() if db else (0, 0)
                    used = {k: 1e6 * (after[k] - cpu[k]) / sms for k in cpu}
                    runs.append(
                        Figure(
                            label,
                            sms,
                            sms / seconds,
                            reference,
                            used,
                            reference_cpu,
                            reference * seconds / sms - 1,
                            p99_ms(status),
                            sms // self.args.tasks,
                            tuple((b - a) / self.args.tasks for a, b in zip(logged, logged_after, strict=True))  # type: ignore[arg-type]
                            if db and self.args.statements
                            else None,
                        )
                    )
                figure = Figure(
                    label,
                    sms,
                    median(f.rate for f in runs),
                    median(f.reference for f in runs),
                    {k: median(f.cpu[k] for f in runs) for k in runs[0].cpu},
                    median(f.reference_cpu for f in runs),
                    median(f.overhead for f in runs),
                    median(f.status_p99 for f in runs),
                    sms // self.args.tasks,
                    None
                    if runs[0].statements is None
                    else (median(f.statements[0] for f in runs), median(f.statements[1] for f in runs)),  # type: ignore[index]
                )
                self.figures.append(figure)
                print(line(figure), flush=True)
        finally:
            for p in reversed(procs):
                p.stop()

    async def main(self) -> None:
        runs = set(self.args.only.split(","))
        async with aiohttp.ClientSession() as session:
            await self.start_members(session)
            await self.direct(min(self.args.sizes))  # warm-up: members' first tasks, not counted
            if "sqlite" in runs:
                await self.through("sqlite", "fleet, SQLite, 1 replica", 1, "", session)
            if self.pg is not None:
                for n in (1, 2):
                    if f"pg{n}" in runs:
                        db = self.pg.create_db(f"bench{n}")
                        if self.args.statements:
                            self.pg.log_statements(f"bench{n}")
                        label = f"fleet, PostgreSQL, {n} replica{'s' if n > 1 else ''}"
                        await self.through(f"pg{n}", label, n, db, session)


def line(f: Figure) -> str:
    overhead = 100 * f.overhead
    cpu = ", ".join(f"{k} {v:,.0f}" for k, v in f.cpu.items())
    return (
        f"{f.run:<30} {f.sms:>7,} SMS {f.rate:>8,.0f} SMS/s (floor, the members alone: {f.reference:>7,.0f})"
        f" {overhead:+5.0f}% time/SMS"
        f" | CPU µs/SMS: {cpu} (members direct {f.reference_cpu:,.0f})"
        f" | fleet CPU per task ({f.per_task:,} SMS): {f.cpu['fleet'] * f.per_task / 1000:,.1f} ms"
        f" | status p99 {f.status_p99:.1f} ms"
        f" | a core of fleet CPU: {1e6 / max(f.cpu['fleet'], 1):,.0f} SMS/s"
        + (
            ""
            if f.statements is None
            else f" | per task: {f.statements[0]:.1f} statements, {f.statements[1]:.1f} transactions"
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--members", type=int, default=4)
    ap.add_argument("--ports", type=int, default=32)
    ap.add_argument("--sizes", default="2000,20000", help="SMS per run, comma-separated")
    ap.add_argument("--tasks", type=int, default=4, help="tasks the SMS of a run are split into")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each size; the medians are printed")
    ap.add_argument("--no-pg", action="store_true", help="skip the PostgreSQL runs")
    ap.add_argument("--only", default="sqlite,pg1,pg2", help="which fleet runs")
    ap.add_argument("--profile", help="a directory: the fleet processes run under cProfile, their stats there")
    ap.add_argument(
        "--statements",
        action="store_true",
        help="PostgreSQL logs the fleet's statements: statements and transactions per task (costs PostgreSQL CPU)",
    )
    ap.add_argument("--src", help="the ejoin source tree the fleet runs (a baseline checkout's src); members: this one")
    ap.add_argument(
        "--module-ms",
        type=float,
        default=50.0,
        help="each SMS takes this long in its member's module (0: --fast, every delay zero)",
    )
    args = ap.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",")]
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores; {args.members} member processes x {args.ports} "
        f"ports; {args.tasks} tasks per run; medians of {args.repeat} runs; each process its own (see the docstring)",
        flush=True,
    )
    root = Path(tempfile.mkdtemp(prefix="ejoin-bench-fleet-"))
    bench = Bench(args, root)
    bindir = None if args.no_pg or not ({"pg1", "pg2"} & set(args.only.split(","))) else pg_bin()
    try:
        if bindir is not None:
            bench.pg = PgServer(bindir).start()
        asyncio.run(bench.main())
    finally:
        for m in bench.members:
            m.stop()
        if bench.pg is not None:
            bench.pg.stop()
        shutil.rmtree(root, ignore_errors=True)
    if bindir is None and not args.no_pg and {"pg1", "pg2"} & set(args.only.split(",")):
        print("(PostgreSQL runs skipped: no pg_ctl/initdb found)")


if __name__ == "__main__":
    main()
