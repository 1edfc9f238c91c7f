"""Persistence behind one interface (``Store``); SQLite is the embedded implementation."""

from .base import OutboxItem, PortRecord, SlotRecord, Store
from .sqlite import SQLiteStore

__all__ = ["OutboxItem", "PortRecord", "SlotRecord", "Store", "SQLiteStore"]
