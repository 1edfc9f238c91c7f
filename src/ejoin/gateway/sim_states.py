"""The SIM state machine of a slot, written down: which PortState may follow which.

device.py moves slots through these states (the codes of spec 4.1.4); this table
is what it may do.  A move the table does not allow is a bug in its caller (a
registration reported for a slot that has no card, a call on a locked slot), so
``Device.set_state`` refuses it: in tests it raises ``StateRefused``; in
production it logs an error and the slot keeps its state, because the device's
own view (a user lock, an empty slot) is worth more than a late or misdirected
report, and a locked slot shown as registered would be sent from.

Staying in a state is no move and always allowed.
"""

from __future__ import annotations

from ..protocol.codes import PortState as S

# What a slot shows when no module works on it: it is empty, inactive or locked by the user.
RESTING = frozenset({S.NO_SIM, S.IDLE_SIM, S.USER_LOCKED})
# A module (re)starting on the slot and reading its card, and what that read can end in; or the
# module falling silent.  A command (reset, switch, unlock), a hot-swapped card or a module that
# answers again starts this from whatever the slot showed.
BRING_UP = frozenset({S.ACCESS_NETWORK, S.CARD_DETECTED, S.SIM_ERROR, S.NO_SIM, S.MODULE_TIMEOUT})
ANY_TIME = RESTING | BRING_UP
# What a module working on a card reports of its own, at any moment of its life: searching (2),
# registered (3), denied (6, 7, 8), waiting for the card (11: PIN, busy), restarting (15), silent (16).
MODULE_REPORTS = frozenset(
    {
        S.REGISTERING,
        S.REGISTERED,
        S.REGISTER_FAILED,
        S.LOCKED_BY_DEVICE,
        S.LOCKED_BY_OPERATOR,
        S.CARD_DETECTED,
        S.ACCESS_NETWORK,
        S.MODULE_TIMEOUT,
    }
)
# The states of a module working on a card (it may report any of MODULE_REPORTS from them), one it
# found unusable (9) included: the module is up and may still tell what the network makes of it.
LIVE = MODULE_REPORTS | {S.CALL_CONNECTED, S.NO_BALANCE, S.SIM_ERROR, S.INTER_CALLING, S.INTER_CALLING_HOLDING}
_LIVING = ANY_TIME | MODULE_REPORTS

SLOT_TRANSITIONS: dict[S, frozenset[S]] = {
    S.NO_SIM: ANY_TIME,
    S.IDLE_SIM: ANY_TIME,
    S.USER_LOCKED: ANY_TIME,
    S.SIM_ERROR: _LIVING,
    S.CARD_DETECTED: _LIVING,
    # a registration ends in any of MODULE_REPORTS, or with a card found unusable (9) or out of credit (5)
    S.REGISTERING: _LIVING | {S.NO_BALANCE},
    S.REGISTERED: _LIVING | {S.CALL_CONNECTED, S.NO_BALANCE, S.INTER_CALLING},  # a call; an SMS refused for credit
    S.CALL_CONNECTED: _LIVING | {S.NO_BALANCE, S.INTER_CALLING},  # hung up: back to 3
    S.NO_BALANCE: _LIVING,
    S.REGISTER_FAILED: _LIVING,
    S.LOCKED_BY_DEVICE: _LIVING,
    S.LOCKED_BY_OPERATOR: _LIVING,
    S.INTER_CALLING: _LIVING | {S.CALL_CONNECTED, S.INTER_CALLING_HOLDING},
    S.INTER_CALLING_HOLDING: _LIVING | {S.CALL_CONNECTED, S.INTER_CALLING},
    S.ACCESS_NETWORK: _LIVING,
    S.MODULE_TIMEOUT: _LIVING,
}


class StateRefused(Exception):
    def __init__(self, slot: str, old: S, new: S) -> None:
        super().__init__(f"slot {slot}: {old.label} cannot become {new.label}")
        self.old, self.new = old, new


def can_follow(old: S, new: S) -> bool:
    """``new`` may follow ``old`` (staying is always allowed)."""
    return new == old or new in SLOT_TRANSITIONS[old]
