"""Operate commands of spec 5: lock, unlock, switch, reset, save, reboot, ledon, ledoff, multiple.

A request is planned first (every op and port checked) and only then run, so a
``multiple`` with one bad item changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..protocol.codes import ResultCode
from ..protocol.errors import DeviceError
from ..protocol.messages import DEVICE_OPS, PORT_OPS, CommandItem, CommandRequest
from ..protocol.ports import DeviceSize, PortAddress, PortSpecError, parse_port_spec
from .device import Device

MAX_OPS = 256


class CommandError(DeviceError):
    """A command refused before anything ran (all or nothing): its code and why."""


@dataclass(frozen=True)
class Step:
    op: str
    ports: tuple[PortAddress, ...] = ()


def _ports_text(ports: object) -> str | int | None:
    if isinstance(ports, list):
        return ",".join(str(p) for p in ports)
    return ports  # type: ignore[return-value]


def _ports_of(item: CommandItem | CommandRequest) -> object:
    # Clients that name one port send ``port`` (``port=8``); ``ports`` wins where both are given.
    return item.ports if item.ports is not None else item.port


def _step(op: str | None, ports: object, size: DeviceSize, where: str) -> Step:
    name = (op or "").strip().lower()
    if not name:
        raise CommandError(ResultCode.INVALID_CMD, f"{where}: no op given")
    if name in DEVICE_OPS:
        return Step(name)
    if name not in PORT_OPS:
        known = ", ".join(PORT_OPS + DEVICE_OPS + ("multiple", "get", "set"))
        raise CommandError(ResultCode.INVALID_CMD, f"{where}: unknown op {name[:30]!r} (known: {known})")
    spec = _ports_text(ports)
    if spec is None or spec == "":
        raise CommandError(ResultCode.INVALID_PORT, f"{where}: op {name} needs ports")
    try:
        addrs = parse_port_spec(spec, size)
    except PortSpecError as exc:
        raise CommandError(ResultCode.INVALID_PORT, f"{where}: {exc}") from None
    return Step(name, tuple(addrs))


def plan(request: CommandRequest, size: DeviceSize, *, can_switch: bool = True) -> list[Step]:
    """The steps of a command, every one checked; ``can_switch`` False: the modules hold one SIM each."""
    steps = _plan(request, size)
    if not can_switch and any(step.op == "switch" for step in steps):
        raise CommandError(
            ResultCode.INVALID_CMD, "switch: each module of this device holds one SIM; there is no slot to switch to"
        )
    return steps


def _plan(request: CommandRequest, size: DeviceSize) -> list[Step]:
    op = (request.op or "").strip().lower()
    if op != "multiple":
        return [_step(request.op, _ports_of(request), size, "command")]
    items: list[CommandItem] = request.ops or []
    if not items:
        raise CommandError(ResultCode.INVALID_CMD, "op multiple needs a non-empty ops array")
    if len(items) > MAX_OPS:
        raise CommandError(ResultCode.INVALID_CMD, f"at most {MAX_OPS} ops in one command")
    steps = []
    for i, item in enumerate(items):
        if (item.op or "").strip().lower() == "multiple":
            raise CommandError(ResultCode.INVALID_CMD, f"ops[{i}]: multiple cannot nest")
        steps.append(_step(item.op, _ports_of(item), size, f"ops[{i}]"))
    return steps


def run(steps: list[Step], device: Device, *, save: Callable[[], None], reboot: Callable[[], None]) -> None:
    for step in steps:
        match step.op:
            case "lock":
                device.lock(step.ports)
            case "unlock":
                device.unlock(step.ports)
            case "switch":
                device.switch(step.ports)
            case "reset":
                device.reset(step.ports)
            case "ledon":
                device.set_led(step.ports, True)
            case "ledoff":
                device.set_led(step.ports, False)
            case "reboot":
                reboot()
            case "save":
                save()
