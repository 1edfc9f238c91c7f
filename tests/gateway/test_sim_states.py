"""The SIM state machine (gateway/sim_states.py) and the device that follows it, on the virtual clock
with a scripted driver: no HTTP."""

from __future__ import annotations

import logging

import pytest

from ejoin.gateway.device import Device
from ejoin.gateway.runtime import Gateway
from ejoin.gateway.sim_states import LIVE, MODULE_REPORTS, RESTING, SLOT_TRANSITIONS, StateRefused, can_follow
from ejoin.modems.base import CardInfo, ModemDriver, SendResult
from ejoin.protocol.codes import PortState as S
from ejoin.protocol.messages import decode_lenient
from ejoin.protocol.ports import PortAddress
from ejoin.protocol.sms import SendSmsRequest

from ..conftest import make_config


class Modules(ModemDriver):
    """Modules that read a card in 1 s and register in 2 s; an SMS takes 5 s and finds no credit."""

    def __init__(self, clock):
        self.clock = clock

    async def restart_module(self, port):
        await self.clock.sleep(3)

    async def detect_card(self, port, slot):
        await self.clock.sleep(1)
        return CardInfo(present=True, iccid=f"8944{port:03d}{slot:02d}", number=f"44770{port:03d}{slot:02d}")

    async def register(self, port, slot):
        await self.clock.sleep(2)
        return S.REGISTERED

    async def signal(self, port):
        return 20

    async def send_sms(self, port, slot, number, text, smsc, report=False):
        await self.clock.sleep(5)
        return SendResult(False, carrier="no credit", no_balance=True)


@pytest.fixture
async def gw(tmp_path, clock):
    gateway = Gateway(make_config(tmp_path, ports=2, slots=2), clock=clock, driver=Modules(clock))
    moves: list[tuple[str, S]] = []
    gateway.device.add_listener(lambda slot: moves.append((slot.name, slot.state)))
    gateway.moves = moves
    await gateway.start()
    clock.add_quiescer(gateway.store.quiesce)
    yield gateway
    await gateway.stop()


def slot(gw, name):
    return gw.device.slot(PortAddress.parse(name, gw.size))


async def send_one(gw):
    body = b'{"type": "send-sms", "tasks": [{"tid": 1, "from": "1", "to": "1001", "sms": "x"}]}'
    [(_, status)] = await gw.sending.accept(decode_lenient(body, SendSmsRequest))
    assert status.label == "0 OK"


def states(gw, name):
    return [state for slot_name, state in gw.moves if slot_name == name]


# --- the table ---------------------------------------------------------------------


def test_every_state_has_its_row():
    assert set(SLOT_TRANSITIONS) == set(S)
    assert RESTING | LIVE == set(S) and not RESTING & LIVE


def test_a_working_module_may_report_any_of_its_states_from_any_live_state():
    # what the AT driver reports of its own: searching, registered, denied, waiting for the card, restarting, silent
    for old in LIVE:
        for new in MODULE_REPORTS:
            assert can_follow(old, new), (old, new)


def test_no_registration_or_call_without_a_working_module():
    for old in RESTING:
        for new in (S.REGISTERING, S.REGISTERED, S.CALL_CONNECTED, S.NO_BALANCE, S.REGISTER_FAILED):
            assert not can_follow(old, new), (old, new)
    assert not can_follow(S.REGISTERING, S.CALL_CONNECTED)  # a call needs a registered card
    assert can_follow(S.USER_LOCKED, S.USER_LOCKED)  # staying is no move


# --- the device on it ------------------------------------------------------------------


async def test_power_on_reads_the_card_then_registers(gw, clock):
    await clock.advance(5)
    assert states(gw, "1.01") == [S.CARD_DETECTED, S.REGISTERING, S.REGISTERED]
    assert slot(gw, "1.02").state == S.NO_SIM  # an inactive slot rests (no card known in it)


async def test_reset_lock_unlock_and_switch_follow_the_table(gw, clock):
    await clock.advance(5)
    gw.device.reset([PortAddress(1)])
    gw.device.lock([PortAddress(2, 1)])
    await clock.advance(10)
    gw.device.unlock([PortAddress(2, 1)])
    await clock.advance(5)
    gw.device.switch([PortAddress(2, 2)])
    await clock.advance(5)
    assert states(gw, "1.01")[3:] == [S.ACCESS_NETWORK, S.CARD_DETECTED, S.REGISTERING, S.REGISTERED]
    assert states(gw, "2.01")[3:] == [S.USER_LOCKED, S.CARD_DETECTED, S.REGISTERING, S.REGISTERED, S.IDLE_SIM]
    # now active: announced at once (still empty as far as known), then its card read and registered
    assert states(gw, "2.02") == [S.NO_SIM, S.CARD_DETECTED, S.REGISTERING, S.REGISTERED]


async def test_a_lost_module_shows_16_and_registers_again_when_back(gw, clock):
    await clock.advance(5)
    gw.device.module_lost(1)
    gw.device.module_back(1)
    await clock.advance(5)
    back = states(gw, "1.01")[3:]
    assert back[0] == S.MODULE_TIMEOUT and back[-3:] == [S.CARD_DETECTED, S.REGISTERING, S.REGISTERED]


async def test_an_impossible_move_is_refused_and_changes_nothing(gw, clock, refused_states):
    await clock.advance(5)
    gw.device.lock([PortAddress(1, 1)])
    locked = slot(gw, "1.01")
    seq = locked.record.seq
    with pytest.raises(StateRefused, match="12 User locked cannot become 3 Registered"):
        gw.device.set_state(locked, S.REGISTERED)
    assert (locked.state, locked.record.seq) == (S.USER_LOCKED, seq)
    assert len(refused_states) == 1
    refused_states.clear()


async def test_in_production_a_refused_move_is_logged_and_the_slot_keeps_its_state(
    gw, clock, refused_states, monkeypatch, caplog
):
    monkeypatch.setattr(Device, "strict_states", False)
    await clock.advance(5)
    empty = slot(gw, "2.02")  # inactive, no card: no module works on it
    before = len(gw.moves)
    with caplog.at_level(logging.ERROR, logger="ejoin.gateway.device"):
        gw.device.set_state(empty, S.CALL_CONNECTED)
    assert empty.state == S.NO_SIM and len(gw.moves) == before  # nothing announced
    assert "slot 2.02: 0 No SIM card cannot become 4 Call connected; kept" in caplog.text
    refused_states.clear()


async def test_a_late_no_credit_answer_leaves_a_slot_locked_meanwhile_locked(gw, clock):
    await clock.advance(5)
    await send_one(gw)
    await clock.advance(1)  # the SMS is in module 1
    gw.device.lock([PortAddress(1, 1)])
    await clock.advance(10)  # its answer: no credit
    assert slot(gw, "1.01").state == S.USER_LOCKED
    assert S.NO_BALANCE not in states(gw, "1.01")


async def test_no_credit_moves_a_registered_slot_to_5(gw, clock):
    await clock.advance(5)
    await send_one(gw)
    await clock.advance(10)
    assert slot(gw, "1.01").state == S.NO_BALANCE
