"""Whether the network has a module's card: ``+CREG`` (circuit, 2G/3G), ``+CEREG`` (LTE) and
``+C5GREG`` (5G), each asked where the module has it and heard when it reports a change; the best of
them is the port's state."""

from __future__ import annotations

from ...protocol.at_fields import best_stat, registration_stat
from ...protocol.codes import PortState
from .channel import Channel

REGISTRATIONS = ("+CREG", "+CEREG", "+C5GREG")

# <stat> -> port state.  Denied is 6 (DECISIONS: a failed registration is 6); 7 and 8 are SIM locks of
# the device and of the operator, which the network's answer to a registration is not.  LTE's "SMS
# only" and "CSFB not preferred" (6, 7, 9, 10) carry SMS: registered, for an SMS gateway;
# emergency-only and restricted service (8, 11) do not: still looking.
_STATES = {
    0: PortState.REGISTER_FAILED,  # not registered, not searching
    1: PortState.REGISTERED,
    2: PortState.REGISTERING,  # searching
    3: PortState.REGISTER_FAILED,  # denied
    4: PortState.REGISTERING,  # unknown: still looking
    5: PortState.REGISTERED,  # roaming
    6: PortState.REGISTERED,  # SMS only, home
    7: PortState.REGISTERED,  # SMS only, roaming
    8: PortState.REGISTERING,  # emergency services only
    9: PortState.REGISTERED,  # CSFB not preferred, home
    10: PortState.REGISTERED,  # CSFB not preferred, roaming
    11: PortState.REGISTERING,  # restricted local operator services only
}


class Registration:
    """The <stat> each registration last said, for one card."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel
        self._stats: dict[str, int] = {}
        self._queried: tuple[str, ...] = ("+CREG",)  # the registrations this module reports

    def forget(self) -> None:
        """What the module said before is not said of the card now (a restart, another slot)."""
        self._stats.clear()

    async def report_changes(self) -> None:
        """Ask the module to report each registration it has as it changes (``AT+CxREG=2``)."""
        reported = [name for name in REGISTRATIONS if (await self._channel.command(f"AT{name}=2")).ok]
        self._queried = tuple(reported) or ("+CREG",)

    async def ask(self) -> None:
        """Each registration the module has, asked now."""
        for name in self._queried:
            answer = await self._channel.command(f"AT{name}?", expect=name)
            for value in answer.values(name) if answer.ok else []:
                self.heard(name, value)

    def heard(self, name: str, args: str) -> bool:
        """A ``+CREG``/``+CEREG``/``+C5GREG`` line, asked for or not; whether it said a <stat>."""
        stat = registration_stat(args)
        if stat is None:
            return False
        self._stats[name] = stat
        return True

    @property
    def state(self) -> PortState:
        stat = best_stat(self._stats.values())
        return _STATES.get(stat if stat is not None else 4, PortState.REGISTERING)
