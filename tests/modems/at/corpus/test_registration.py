"""Real registration answers and indications replayed through the AT driver: the port state each comes to.

What a 27.007 <stat> means for a port (an SMS gateway's view; docs/decisions.md, "Real modules"):
registered at home or roaming, and also for SMS only (6, 7) or with CSFB not preferred (9, 10), is
registered, 3; searching (2), not known yet (4), emergency services only (8) and restricted local
operator services only (11) are still looking: the driver keeps waiting (2); not registered (0) and
denied (3) cannot send: 6.  The port follows the best of +CREG, +CEREG and +C5GREG; +CGREG (packet
domain) is not the port's registration.
"""

from __future__ import annotations

import pytest

from ejoin.protocol.codes import PortState

from .loader import Vector, cases
from .replay import Replay, frame

REGISTERED = frozenset({1, 5, 6, 7, 9, 10})
LOOKING = frozenset({2, 4, 8, 11})


def port_state(stat: int) -> PortState:
    if stat in REGISTERED:
        return PortState.REGISTERED
    if stat in LOOKING:
        return PortState.REGISTERING
    return PortState.REGISTER_FAILED


def serving(v: Vector) -> bool:
    return v["kind"] != "+CGREG"


@pytest.mark.parametrize("v", cases("registration", "solicited", lambda v: v["solicited"] and serving(v)))
async def test_an_answer_to_the_registration_query(v: Vector) -> None:
    # a module on LTE or 5G only: not registered for circuit-switched services
    script = {"AT+CREG?": frame("+CREG: 2,0")} if v["kind"] != "+CREG" else {}
    rp = Replay({**script, v.command: v.answer()})
    try:
        await rp.up()
        expected = port_state(v.expected["stat"])
        if expected is PortState.REGISTERING:
            with pytest.raises(TimeoutError):  # still waiting for the network
                await rp.run(rp.driver.register(rp.PORT, 1), within=30)
        else:
            assert await rp.run(rp.driver.register(rp.PORT, 1)) is expected
    finally:
        await rp.close()


@pytest.mark.parametrize("v", cases("registration", "unsolicited", lambda v: not v["solicited"] and serving(v)))
async def test_an_indication_once_registered(v: Vector) -> None:
    rp = Replay({"AT+CREG?": frame("+CREG: 2,0")})
    try:
        await rp.up()
        assert await rp.run(rp.driver.register(rp.PORT, 1)) is PortState.REGISTER_FAILED
        expected = port_state(v.expected["stat"])
        if expected is not PortState.REGISTERED:
            # first the network takes the card (the same indication, <stat> 1), then the captured one
            await rp.say(frame(f"{v['kind']}: 1", final=None))
            assert rp.ledger.of("module_state")[-1:] == [(rp.PORT, PortState.REGISTERED)]
        await rp.say(v.answer())
        assert rp.ledger.of("module_state")[-1:] == [(rp.PORT, expected)]
    finally:
        await rp.close()


@pytest.mark.parametrize("v", cases("registration", "packet", lambda v: not v["solicited"] and not serving(v)))
async def test_a_packet_domain_indication_leaves_the_port_as_it_is(v: Vector) -> None:
    rp = Replay()
    try:
        await rp.up()
        assert await rp.run(rp.driver.register(rp.PORT, 1)) is PortState.REGISTERED
        await rp.say(v.answer())
        assert rp.ledger.of("module_state") == []
        assert await rp.run(rp.driver.signal(rp.PORT)) == 20  # and the next command gets its own answer
    finally:
        await rp.close()
