"""Fleet tasks: accepted once committed, then dispatched to members as sub-tasks.

Policy: least busy (default) — a unit without a fixed port goes to the registered fleet port
with the fewest units dispatched and not done — or round-robin (the registered ports in turn);
either way among SIMs under their quotas (per rolling hour and day, counted in the ledger).
A member gets one sub-task from the ports picked on it (it spreads them over those ports);
with quotas, one sub-task per port, so what a SIM sends is exactly what the fleet counted for
it.  A ``to_all`` task's units are bound to their port: each member gets the recipients with
``to_all`` 1 and its share of the listed ports.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import msgspec

from ...clock import Clock
from ...gateway.sending.tasks import request_options
from ...protocol.codes import TaskStatus
from ...protocol.messages import WireError, decode_lenient
from ...protocol.operations import GET_TASKS
from ...protocol.ports import DeviceSize, PortAddress
from ...protocol.sms import SendSmsRequest, SendTaskIn, TaskRejected, tid_of_raw, validate_task
from ..ledger import Conflict, DispatchState, Hold, Ledger, TaskRow, Unit, UnitState
from .members import MemberDown, MemberLink
from .numbering import PortMap, parse_port
from .posting import SubTaskPoster

log = logging.getLogger(__name__)

# What the fleet decides for each sub-task, never copied from the platform's task.
_OWN_KEYS = {"tid", "from", "to", "to_all", "sdr", "fdr", "sr_prd", "sr_cnt", "to_title_array"}


def units_of(recipients: list[str], lanes: list[list[str]]) -> list[Unit]:
    """One unit per recipient, or per (listed port, recipient) when every port sends to all (``to_all``)."""
    if len(lanes) > 1 or (len(lanes) == 1 and len(lanes[0]) == 1 and lanes[0]):
        return [Unit(i, number, lane[0]) for lane in lanes for i, number in enumerate(recipients)]
    return [Unit(i, number, None) for i, number in enumerate(recipients)]


def _numbers(units: list[tuple[Unit, str, int]]) -> list[str]:
    """A sub-task's recipients, in the order of their index in it (to_all units share one)."""
    recipients: dict[int, str] = {}
    for u, _, sub in units:
        recipients.setdefault(sub, u.number)
    return [recipients[i] for i in sorted(recipients)]


class Dispatcher:
    def __init__(
        self,
        ledger: Ledger,
        links: dict[str, MemberLink],
        ports: PortMap,
        size: Callable[[], DeviceSize],
        report_url: Any,
        max_recipients: int,
        clock: Clock,
        quotas: tuple[int, int] = (0, 0),
        policy: str = "least-busy",
    ) -> None:
        self._policy = policy
        self._last: PortAddress | None = None  # round-robin: the port given the last unit
        self._clock = clock
        self._quotas = quotas  # per SIM: per rolling hour, per rolling day (0: no limit)
        self._ledger = ledger
        self._links = links
        self._ports = ports
        self._size = size  # the fleet's size now: members come and go at run time
        self._report_url = report_url  # member name -> the fleet URL its reports go to
        self._max_recipients = max_recipients
        self._dispatching: set[int] = set()
        self._posters: dict[str, SubTaskPoster] = {}  # member -> its sub-tasks, several to a post
        self._candidates_key: tuple[Any, ...] = ()
        self._candidates_list: list[tuple[PortAddress, str, str]] = []
        # Tasks with a dispatch whose post got no answer (here, or before a crash) from a member that
        # did not answer: reconciled again at each status poll until the member tells.
        self.unreconciled: set[int] = set()
        # Whether this replica dispatches a task (it holds the task's lease); one process: always.
        self.owns: Any = lambda task_id: True
        self.on_accepted: Any = None  # called with each accepted task's id and row (the report merger tracks it)
        self.on_failed: Any = None  # called with (dispatch id, task id, outcomes) of units a member refused

    async def accept(self, request: SendSmsRequest) -> list[tuple[Any, TaskStatus, str]]:
        try:
            options = request_options(request)
            sr_url, batch = options.sr_url, [options.sr_cnt, options.sr_prd]
        except TaskRejected:  # refused before (settings.accept), as a device refuses it
            sr_url, batch = "", [1, 0]
        results: list[tuple[Any, TaskStatus, str]] = []
        new: list[tuple[Any, dict[str, Any], dict[str, Any], list[Unit]]] = []
        for raw in request.tasks or []:
            tid = tid_of_raw(raw)
            try:
                task_in = decode_lenient(bytes(raw), SendTaskIn)
                spec = validate_task(task_in, self._size(), max_recipients=self._max_recipients)
                task = msgspec.json.decode(bytes(raw))
            except WireError as exc:
                results.append((tid, TaskStatus.INVALID_CMD, str(exc)))
                continue
            except TaskRejected as exc:
                results.append((tid, exc.status, exc.why))
                continue
            # The task's own count and period, as a device applies them; the request-level ones batch
            # several tasks' reports into one push (reports.py), kept with the task for after a restart.
            rules: dict[str, Any] = {
                "sr_url": sr_url,
                "sr_cnt": spec.sr_cnt,
                "sr_prd": spec.sr_prd,
                "sdr": spec.sdr,
                "fdr": spec.fdr,
            }
            lanes = [lane.ports for lane in spec.lanes]
            task["fleet_lanes"] = lanes
            task["fleet_batch"] = batch
            new.append((spec.tid_echo, task, rules, units_of(spec.recipients, lanes)))
            results.append((tid, TaskStatus.OK, ""))
        if new:
            # Acknowledged only once committed: a crash after this answer loses nothing.
            ids = iter(await self._ledger.add_tasks(new))
            added = iter(new)
            for i, (tid, status, _) in enumerate(results):
                if status != TaskStatus.OK:
                    continue
                task_id = next(ids)
                tid_echo, task, rules, _ = next(added)
                if task_id is None:
                    results[i] = (tid, TaskStatus.DUPLICATED_TASK_ID, "a task with this tid is still open")
                elif self.on_accepted is not None:
                    # the task as the ledger now holds it: its report stream need not read it back
                    row = TaskRow(
                        task_id,
                        tid_echo,
                        task,
                        rules["sr_url"],
                        rules["sr_cnt"],
                        rules["sr_prd"],
                        bool(rules["sdr"]),
                        bool(rules["fdr"]),
                    )
                    self.on_accepted(task_id, row)
        return results

    async def dispatch(self, task_id: int, row: TaskRow | None = None) -> None:
        """Send the task's pending units to members; those that cannot go now stay pending.  ``row``:
        the task as just accepted (its hold is read again with its pending units)."""
        if task_id in self._dispatching or not self.owns(task_id):
            return  # one pass at a time per task, by its owner (another replica's is told by the ledger)
        self._dispatching.add(task_id)
        try:
            await self._dispatch(task_id, row)
        finally:
            self._dispatching.discard(task_id)

    async def _dispatch(self, task_id: int, row: TaskRow | None) -> None:
        if row is None:
            row = await self._ledger.task(task_id)
        if row is None or row.hold != Hold.RUNNING:
            return  # paused or removed: nothing more goes to members (the pending units say so too)
        # Ports' loads (and SIMs' usage) read and spent in one turn, across replicas too: two tasks
        # planned at once would each see the other's units missing and pile onto the same ports (or SIMs).
        async with self._ledger.pick_lock():
            recorded = await self._record(row, await self._plan(row))
        # Recorded one after the other (dispatch numbers in order), posted to the members at once.
        await asyncio.gather(*(self._post(row, *r) for r in recorded))

    async def _record(
        self, row: TaskRow, plans: list[tuple[str, list[tuple[Unit, str, int]], bool, tuple[int, int], str | None]]
    ) -> list[tuple[int, int, str, list[tuple[Unit, str, int]], bool, tuple[int, int]]]:
        """Every dispatch written (with its units) before any is posted: (id, member tid, member, ...)."""
        out = []
        for member, units, to_all, every, sim in plans:
            try:
                dispatch_id, tid = await self._ledger.record_dispatch(row.id, member, units, sim, self._clock.time())
            except Conflict as exc:  # another replica took them (its lease on the task was just renewed)
                log.info("%s; left to it", exc)
                continue
            out.append((dispatch_id, tid, member, units, to_all, every))
        return out

    async def _plan(
        self, row: TaskRow
    ) -> list[tuple[str, list[tuple[Unit, str, int]], bool, tuple[int, int], str | None]]:
        """(member, units with their fleet port and sub-task index, to_all, (sr_cnt, sr_prd), SIM) per sub-task."""
        task_id = row.id
        pending, busy = await self._ledger.pending_and_busy(task_id)
        if not pending:
            return []
        fixed = [u for u in pending if u.port is not None]
        free = [u for u in pending if u.port is None]
        # One sub-task per member, or per (member, port) when SIMs have quotas.
        plans: dict[tuple[str, str | None], list[tuple[Unit, str, int]]] = defaultdict(list)
        sims: dict[tuple[str, str | None], str] = {}
        key: tuple[str, str | None]
        if fixed and self._quotas != (0, 0):
            # bound to a port, the SIM is the port's: it gets what its quotas leave, one sub-task per port
            for u, port, sim in await self._bound_under_quota(fixed):
                owner = self._ports.owner(parse_port(port).port)
                assert owner is not None
                key = (owner.name, port)
                sims[key] = sim
                plans[key].append((u, port, len(plans[key])))
        elif fixed:
            order: dict[str, dict[int, int]] = defaultdict(dict)  # member -> recipient idx -> sub idx
            for u in fixed:
                owner = self._ports.owner(parse_port(u.port).port)
                if owner is None or not self._links[owner.name].takes_units:
                    continue
                sub = order[owner.name].setdefault(u.idx, len(order[owner.name]))
                plans[(owner.name, None)].append((u, u.port, sub))  # type: ignore[arg-type]
        if free:
            lanes = row.task.get("fleet_lanes") or [[]]
            allowed = {parse_port(p) for p in lanes[0]} if lanes[0] else None
            chosen = await self._least_busy(free, allowed, busy)
            owners: dict[str, Any] = {}  # fleet port -> its member, looked up once per port
            for u, port, sim in chosen:
                owner = owners.get(port)
                if owner is None:
                    owner = owners[port] = self._ports.owner(parse_port(port).port)
                assert owner is not None
                if self._quotas != (0, 0):
                    key = (owner.name, port)  # one sub-task per port: what a SIM sends is what it was given
                    sims[key] = sim
                else:
                    key = (owner.name, None)  # one per member, from the ports picked: fewer, larger sub-tasks
                plans[key].append((u, port, len(plans[key])))
        # Each member reports its share often enough that the merged stream can keep the task's sr_cnt.
        every = max(1, row.sr_cnt // max(1, len(plans)))
        return [(key[0], units, bool(fixed), (every, row.sr_prd), sims.get(key)) for key, units in plans.items()]

    async def reconcile(self, task_id: int) -> None:
        """Dispatches recorded and never answered (a crash between the record and the member's answer,
        here or on a replica whose lease expired): the member is asked first whether it has or had the
        sub-task (``goip_get_tasks`` on one of its ports, by its tid); one it has or had is left to its
        reports, never posted again.  Any other is posted again under the same member tid: a member
        holding it open answers ``13 Duplicated TaskId`` and sends it once; one that never got it takes it.
        """
        if task_id in self._dispatching:
            # a pass posting it now: its dispatches in flight are recorded and not answered yet
            self.unreconciled.add(task_id)
            return
        self._dispatching.add(task_id)  # and no pass meanwhile
        self.unreconciled.discard(task_id)
        try:
            await self._reconcile(task_id)
        except BaseException:
            self.unreconciled.add(task_id)  # the store away for a moment: the next poll tries again
            raise
        finally:
            self._dispatching.discard(task_id)

    async def _reconcile(self, task_id: int) -> None:
        row = await self._ledger.task(task_id)
        if row is None:
            return
        for dispatch_id, member, tid, units in await self._ledger.recorded(task_id):
            link = self._links.get(member)
            if link is None:
                continue
            had = await self._member_had(link, tid, units)
            if had is None:  # it does not answer: the units wait with the dispatch (asked again, or failover)
                self.unreconciled.add(task_id)
                continue
            if had:
                log.info(
                    "member %s had dispatch %d of task %d (tid %d) already: not posted again, its reports tell",
                    member,
                    dispatch_id,
                    task_id,
                    tid,
                )
                await self._ledger.dispatch_done(dispatch_id, DispatchState.POSTED)
                continue
            to_all = any(u.port is not None for u, _, _ in units)
            await self._post(row, dispatch_id, tid, member, units, to_all, (max(1, row.sr_cnt), row.sr_prd))

    async def _member_had(self, link: MemberLink, tid: int, units: list[tuple[Unit, str, int]]) -> bool | None:
        """Whether the member has this sub-task waiting, or had it and closed it (finished or removed:
        an ejoin gateway lists those with ``closed=1``, state 2, while it keeps them, an hour by
        default; a box without it lists only what waits).  The same tid with other recipients (a
        ledger started afresh numbers tasks from 1 again) is not it.  None: the member does not answer."""
        mapped = self._ports.to_member(parse_port(units[0][1]))
        if mapped is None:
            return False
        query = {"port": str(mapped[1].port), "pos": "0", "num": "100", "tids": str(tid), "closed": "1"}
        try:
            answer = await link.call(GET_TASKS.path, params=query)
        except MemberDown:
            return None
        tasks = answer.get("tasks") if isinstance(answer, dict) else None
        numbers = set(_numbers(units))
        for task in tasks if isinstance(tasks, list) else []:
            if isinstance(task, dict) and str(task.get("tid")) == str(tid):
                to = task.get("to")
                if to is None or set(str(to).split(",")) == numbers:
                    return True
        return False

    def _candidates(self) -> list[tuple[PortAddress, str, str]]:
        """(fleet port, its name, SIM) of every registered port, in port order: worked out again only
        when a member's registered ports changed (each task's plan reads them; members change rarely)."""
        # a member just back from a failover takes no units for a while (members.py)
        key = tuple((link.config, link.registered()) for link in self._links.values() if link.takes_units)
        if key != self._candidates_key:
            found = []
            for config, registered in key:
                for local, sim in registered:
                    addr = self._ports.to_fleet(config, parse_port(local))
                    if addr is not None:
                        found.append((addr, addr.dotted, sim))
            found.sort(key=lambda c: c[0])
            self._candidates_key, self._candidates_list = key, found
        return self._candidates_list

    async def _usage_room(self) -> Callable[[str], float]:
        """What each SIM may still send under its quotas now (read from the ledger's record of every task)."""
        hour, day = self._quotas
        now = self._clock.time()
        usage = await self._ledger.sim_usage(now - 3600, now - 86400)

        def room(sim: str) -> float:
            used_hour, used_day = usage.get(sim, (0, 0))
            return min(hour - used_hour if hour else math.inf, day - used_day if day else math.inf)

        return room

    async def _bound_under_quota(self, units: list[Unit]) -> list[tuple[Unit, str, str]]:
        """(unit, its port, the SIM there) for the units bound to a port (``from`` with ``to_all`` 1) that
        their port's SIM may send under its quotas now.  The others stay pending, as units the fleet
        routes do: over quota, until the window frees; on a port not registered (its SIM unknown, so
        nothing to count it against), until it registers."""
        room_of = await self._usage_room()
        sims: dict[int, list[tuple[PortAddress, str]]] = defaultdict(list)  # fleet port -> registered slots
        for addr, _, sim in self._candidates():
            sims[addr.port].append((addr, sim))
        room: dict[str, float] = {}
        out: list[tuple[Unit, str, str]] = []
        for u in units:
            assert u.port is not None
            bound_name = u.port
            bound = parse_port(bound_name)
            # "5" is port 5's active slot (the registered one); "5.02" that slot only
            at = next((s for addr, s in sims.get(bound.port, []) if bound.slot is None or addr == bound), None)
            if at is None:
                continue
            if at not in room:  # (read once per SIM: what this pass gives it is counted below)
                room[at] = room_of(at)
            if room[at] <= 0:
                continue
            room[at] -= 1
            out.append((u, bound_name, at))
        return out

    async def _least_busy(
        self, units: list[Unit], allowed: set[PortAddress] | None, busy: dict[str, int] | None = None
    ) -> list[tuple[Unit, str, str]]:
        """(unit, fleet port, SIM) for as many units as registered ports and the SIMs' quotas allow
        (``busy``: the ports' loads, read with the units; else read now)."""
        if busy is None:
            busy = await self._ledger.busy()
        room_of = await self._usage_room() if self._quotas != (0, 0) else (lambda sim: math.inf)
        heap: list[tuple[int, PortAddress, str, str]] = []
        room: dict[str, float] = {}
        for addr, dotted, sim in self._candidates():
            if allowed is not None and addr not in allowed and PortAddress(addr.port) not in allowed:
                continue
            room[sim] = room_of(sim)
            heap.append((busy.get(dotted, 0), addr, dotted, sim))
        step = 1
        if self._policy == "round-robin":
            # the load is a turn instead: ports in order, starting after the last one given a unit
            step = len(heap)
            start = next((i for i, c in enumerate(heap) if self._last is None or c[1] > self._last), 0)
            heap = [((i - start) % step, addr, dotted, sim) for i, (_, addr, dotted, sim) in enumerate(heap)]
        # Ties go to the lower port: its rank, an int, decides them (cheaper than comparing addresses).
        ranked = [(load, rank, dotted, sim) for rank, (load, _, dotted, sim) in enumerate(heap)]
        heapq.heapify(ranked)
        out = []
        last = None
        for u in units:
            while ranked and room[ranked[0][3]] <= 0:
                heapq.heappop(ranked)  # at its quota: this SIM takes nothing more for now
            if not ranked:
                break  # the rest wait (pending) for a port or for quota
            load, rank, dotted, sim = ranked[0]
            room[sim] -= 1
            out.append((u, dotted, sim))
            last = rank
            heapq.heapreplace(ranked, (load + step, rank, dotted, sim))
        if last is not None:
            self._last = heap[last][1]
        return out

    async def close(self) -> None:
        """Posts on their way abandoned (the fleet stops): their sub-tasks were recorded before, and a
        post never answered is reconciled with the member at the next start."""
        for poster in self._posters.values():
            await poster.close()

    def _poster(self, member: str, link: MemberLink) -> SubTaskPoster:
        """The member's poster (a new one for a member added again: another link)."""
        poster = self._posters.get(member)
        if poster is None or poster.link is not link:
            poster = self._posters[member] = SubTaskPoster(
                link, lambda: self._report_url(member), self._ledger.dispatches_posted
            )
        return poster

    async def _post(
        self,
        row: TaskRow,
        dispatch_id: int,
        tid: int,
        member: str,
        units: list[tuple[Unit, str, int]],
        to_all: bool,
        every: tuple[int, int],
    ) -> None:
        task, task_id = row.task, row.id
        link = self._links.get(member)
        if link is None:  # removed meanwhile (ejoin fleet member remove): never posted, the units are free
            await self._ledger.dispatch_done(dispatch_id, DispatchState.REFUSED)
            return
        local_ports: dict[str, None] = {}  # in the order first given, once each
        for port in dict.fromkeys(port for _, port, _ in units):
            mapped = self._ports.to_member(parse_port(port))
            assert mapped is not None
            local_ports.setdefault(mapped[1].dotted)
        sub_task = {k: v for k, v in task.items() if k not in _OWN_KEYS and not k.startswith("fleet_")}
        sub_task.update(
            tid=tid,
            to=_numbers(units),
            sdr=1,
            fdr=1,
            sr_cnt=every[0],
            sr_prd=every[1],
            to_all=1 if to_all else 0,
            **{"from": ",".join(local_ports)},
        )
        try:
            # answered: the dispatch is recorded posted (with the others of its post) before this returns
            status, answer = await self._poster(member, link).post(sub_task, dispatch_id)
        except MemberDown:
            # It may or may not have arrived: the units stay with this dispatch (never sent twice), and
            # the member is asked at the next poll whether it has it (``reconcile``).
            self.unreconciled.add(task_id)
            log.warning(
                "dispatch %d of task %d to %s: no answer; its %d units wait for the member",
                dispatch_id,
                task_id,
                member,
                len(units),
            )
            return
        if status.startswith(("0 ", "13 ")):  # 13: the member holds this tid open already (posted again)
            return
        log.warning("member %s refused dispatch %d of task %d: %s", member, dispatch_id, task_id, status or answer)
        reason = f"refused by member {member}: {status or answer}"
        rows = [(sub, port, UnitState.FAILED, [sub, u.number, port, 0, reason, ""]) for u, port, sub in units]
        if self.on_failed is not None:
            await self.on_failed(dispatch_id, task_id, rows)
