"""What the device keeps on disk, behind one interface.

Writes return a future that resolves once the write is committed, so a caller
that must not acknowledge before durability awaits it, and one that only needs
eventual durability (a state change) does not.  SQLite is the embedded
implementation; a PostgreSQL one for fleets would implement the same class.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class SlotRecord:
    """A slot's persistent part: the card in it (simulated world) and its settings."""

    port: int
    slot: int
    present: bool = False
    iccid: str = ""
    imsi: str = ""
    number: str = ""
    operator: str = ""
    balance: float = 0.0
    imei: str = ""
    locked: bool = False
    # Simulator: the state the next registration ends in (None: registers).
    reg_outcome: int | None = None
    seq: int = 0


@dataclass(slots=True)
class PortRecord:
    port: int
    active_slot: int = 1
    led: bool = True
    signal: int | None = None  # None: the simulated signal varies by itself


@dataclass(slots=True)
class OutboxItem:
    id: int
    dest: str
    kind: str
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    attempts: int = 0
    next_at: float = 0.0
    created: float = 0.0


class Store(ABC):
    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    # settings (values are JSON-able)
    @abstractmethod
    async def load_settings(self) -> dict[str, Any]: ...

    @abstractmethod
    def save_settings(self, values: dict[str, Any]) -> asyncio.Future[None]: ...

    # device inventory
    @abstractmethod
    async def load_slots(self) -> list[SlotRecord]: ...

    @abstractmethod
    def save_slot(self, record: SlotRecord) -> asyncio.Future[None]: ...

    @abstractmethod
    async def load_ports(self) -> list[PortRecord]: ...

    @abstractmethod
    def save_port(self, record: PortRecord) -> asyncio.Future[None]: ...

    # durable push outbox
    @abstractmethod
    def outbox_add(
        self, dest: str, kind: str, content_type: str, body: bytes, headers: dict[str, str], created: float
    ) -> asyncio.Future[int]: ...

    @abstractmethod
    async def outbox_destinations(self) -> list[str]: ...

    @abstractmethod
    async def outbox_head(self, dest: str, limit: int) -> list[OutboxItem]: ...

    @abstractmethod
    def outbox_delete(self, item_id: int) -> asyncio.Future[None]: ...

    @abstractmethod
    def outbox_retry(self, item_id: int, attempts: int, next_at: float, error: str) -> asyncio.Future[None]: ...

    @abstractmethod
    async def outbox_count(self) -> int: ...
