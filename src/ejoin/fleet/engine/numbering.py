"""Fleet port numbers <-> (member, the member's own port): pure, no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from ...protocol.ports import DeviceSize, PortAddress
from ..config import MemberConfig


@lru_cache(maxsize=8192)
def parse_port(name: str) -> PortAddress:
    """``PortAddress.parse``, remembered: the fleet reads the same few hundred port names for every
    SMS it plans, posts and hears reported (``ValueError`` as the parse says)."""
    return PortAddress.parse(name)


class PortMap:
    """Members come and go at run time (``ejoin fleet member add/remove``): one map, changed in place."""

    def __init__(self, members: Iterable[MemberConfig]) -> None:
        self.members = sorted(members, key=lambda m: m.first)

    def add(self, member: MemberConfig) -> None:
        self.members = sorted([*self.members, member], key=lambda m: m.first)

    def remove(self, name: str) -> None:
        self.members = [m for m in self.members if m.name != name]

    def size(self, slots: int) -> DeviceSize:
        """The device the fleet is now: up to its highest port (1 while it has no member)."""
        return DeviceSize(max((m.last for m in self.members), default=1), slots)

    def owner(self, fleet_port: int) -> MemberConfig | None:
        for m in self.members:
            if m.first <= fleet_port <= m.last:
                return m
        return None

    def to_member(self, addr: PortAddress) -> tuple[MemberConfig, PortAddress] | None:
        m = self.owner(addr.port)
        if m is None:
            return None
        return m, PortAddress(addr.port - m.first + 1, addr.slot)

    def to_fleet(self, member: MemberConfig, local: PortAddress) -> PortAddress | None:
        """None for a member port past the range the fleet gave it."""
        if local.port > member.count:
            return None
        return PortAddress(member.first + local.port - 1, local.slot)

    def rename(self, member: MemberConfig, local_name: str) -> str:
        """A member's port name ("2.01", "2A") in fleet numbers; unchanged when it cannot be read."""
        return _renamed(member.first, member.count, local_name)


@lru_cache(maxsize=16384)
def _renamed(first: int, count: int, local_name: str) -> str:
    """``rename`` of one name for a member whose port 1 is fleet port ``first`` (every reported SMS)."""
    try:
        local = parse_port(local_name)
    except ValueError:
        return local_name
    if local.port > count:
        return local_name
    return PortAddress(first + local.port - 1, local.slot).dotted
