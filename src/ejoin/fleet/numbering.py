"""Fleet port numbers <-> (member, the member's own port): pure, no I/O."""

from __future__ import annotations

from collections.abc import Iterable

from ..protocol.ports import PortAddress
from .config import MemberConfig


class PortMap:
    def __init__(self, members: Iterable[MemberConfig]) -> None:
        self.members = sorted(members, key=lambda m: m.first)

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
        try:
            addr = self.to_fleet(member, PortAddress.parse(local_name))
        except ValueError:
            return local_name
        return local_name if addr is None else addr.dotted
