"""Which port may send which lane, and the queue of lanes with work, oldest first.

Lanes are indexed by the port that may serve them (None: any port), so a port
looks only at lanes it can take.  A port takes from the oldest lane that is
ready for it: its task queued, its ``from`` allowing the port's active slot,
and its ``intvl`` gap on that port over.  A lane waiting on its gap holds
nothing: the port serves the next ready lane meanwhile.
"""

from __future__ import annotations

from collections import OrderedDict

from ...protocol.ports import PortAddress
from ...protocol.sms import LaneSpec, lane_allows
from ...protocol.task_states import TaskState
from .tasks import Claim, Lane, Task

Key = tuple[int, int]  # (task id, lane index): submission order


def serves_port(spec: LaneSpec, port: int) -> bool:
    """Whether any slot of ``port`` may send for this lane."""
    p = str(port)
    return not spec.ports or any(n == p or n.startswith(p + ".") for n in spec.ports)


def buckets(spec: LaneSpec) -> set[int | None]:
    if not spec.ports:
        return {None}
    return {int(name.split(".", 1)[0]) for name in spec.ports}


class LaneQueue:
    def __init__(self) -> None:
        self._lanes: dict[int | None, OrderedDict[Key, tuple[Task, Lane]]] = {}

    def add(self, task: Task, reorder: bool = False) -> None:
        touched = set()
        for lane in task.lanes:
            if lane.remaining:
                for bucket in buckets(lane.spec):
                    self._lanes.setdefault(bucket, OrderedDict())[(task.id, lane.index)] = (task, lane)
                    touched.add(bucket)
        if reorder:  # a resumed (older) task goes back to its place in line
            for bucket in touched:
                self._lanes[bucket] = OrderedDict(sorted(self._lanes[bucket].items()))

    def drop(self, task: Task) -> None:
        for lane in task.lanes:
            for bucket in buckets(lane.spec):
                lanes = self._lanes.get(bucket)
                if lanes is not None:
                    lanes.pop((task.id, lane.index), None)

    def _first_ready(
        self, bucket: int | None, addr: PortAddress, now: float
    ) -> tuple[tuple[Key, Task, Lane] | None, float | None]:
        lanes = self._lanes.get(bucket)
        if not lanes:
            return None, None
        exhausted = []
        found = None
        wait: float | None = None
        for key, (task, lane) in lanes.items():
            if not lane.remaining:
                exhausted.append(key)
                continue
            if task.state != TaskState.QUEUED or not lane_allows(lane.spec, addr):
                continue
            due = lane.not_before.get(addr.port)
            if due is not None:
                if due > now:
                    wait = due if wait is None else min(wait, due)
                    continue
                del lane.not_before[addr.port]
            found = (key, task, lane)
            break
        for key in exhausted:
            del lanes[key]
        return found, wait

    def claim(self, addr: PortAddress, now: float) -> tuple[Claim | None, float | None]:
        """The next SMS for the port whose active slot is ``addr``: the oldest ready lane, its own or
        any port's, and the index handed out; else None and when a waiting lane's gap is over."""
        own, wait = self._first_ready(addr.port, addr, now)
        shared, wait_shared = self._first_ready(None, addr, now)
        if wait is None or (wait_shared is not None and wait_shared < wait):
            wait = wait_shared
        if own is None or (shared is not None and shared[0] < own[0]):
            own = shared
        if own is None:
            return None, wait
        _, task, lane = own
        idx = lane.take()
        if idx is None:
            return None, wait
        task.claimed += 1
        return (task, lane, idx), wait
