"""The fleet's record: tasks, units, dispatches, members and its inbox, on the embedded SQLite store
or on PostgreSQL shared by replicas (docs/fleet.md).

``Ledger`` (``base.py``) is what the rest of the fleet uses; its operations are written once
(``operations.py``, over ``sql.py``) and run by ``SqliteLedger`` (``sqlite.py``) or ``PgLedger``
(``postgres.py``, with ``pgdb.py``); the states and their changes are ``states.py``, the pure
decisions ``decisions.py``, the schema of both ``schema.py``.  ``pgoutbox.py`` keeps the outbox to
the platform in the same PostgreSQL database.
"""

from .base import Ledger
from .operations import PRUNE_BATCH
from .records import Conflict, Counts, TaskRow, Unit, member_tid
from .sqlite import SqliteLedger
from .states import DispatchState, Hold, UnitState

__all__ = [
    "PRUNE_BATCH",
    "Conflict",
    "Counts",
    "DispatchState",
    "Hold",
    "Ledger",
    "SqliteLedger",
    "TaskRow",
    "Unit",
    "UnitState",
    "member_tid",
]
