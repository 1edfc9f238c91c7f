"""The sans-I/O core: notation, code tables, wire messages. No sockets, clock or disk."""

from .codes import PortState, ResultCode, TaskStatus
from .ports import DeviceSize, PortAddress, PortNameStyle, PortSpecError, parse_port_spec

__all__ = [
    "DeviceSize",
    "PortAddress",
    "PortNameStyle",
    "PortSpecError",
    "PortState",
    "ResultCode",
    "TaskStatus",
    "parse_port_spec",
]
