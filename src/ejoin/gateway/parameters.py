"""The device parameters of ``op=get``/``op=set`` (spec 5.1.2, 6.4.3, 6.4.4).

Scalar parameters are device settings; array parameters have one element per
slot, indexed ``(port-1)*max_slots + (slot-1)``, or per port for ``port_*``.
A set is all or nothing: every name and value is checked before any is applied.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..protocol import numbers, values
from ..protocol.params import ParamName, ParamNameError, parse_param_name
from ..protocol.ports import PortAddress, address_of_index
from .device import Device
from .settings import DeviceSettings
from .status import StatusReporter


class ParameterError(ValueError):
    """A parameter name that does not exist or a value it cannot take."""


def parse_url(value: str) -> str:
    """A push URL (protocol/values.py: http/https, no control characters) or "" for none."""
    try:
        return values.push_url(value)
    except values.ValueRefused as exc:
        raise ParameterError(str(exc)) from None


def parse_period(value: str) -> int:
    """Seconds, 0 to a day."""
    try:
        return values.period(value)
    except values.ValueRefused as exc:
        raise ParameterError(str(exc)) from None


def parse_count(value: str) -> int:
    """A batch size, 0 to 10,000."""
    try:
        return values.count(value)
    except values.ValueRefused as exc:
        raise ParameterError(str(exc)) from None


def _flag(value: str) -> int:
    if value.strip() not in ("0", "1"):
        raise ParameterError(f"{value[:20]!r} is 0 or 1")
    return int(value.strip())


def _secret(value: str) -> str:
    if len(value) > 256:
        raise ParameterError("push_secret is at most 256 characters")
    return value


def _imei(value: str) -> str:
    try:
        return numbers.imei(value)
    except numbers.NumberError as exc:
        raise ParameterError(str(exc)) from None


def _number(value: str) -> str:
    if not value.strip():
        return ""  # an empty sim_number clears the slot's number
    try:
        return numbers.phone_number(value)
    except numbers.NumberError as exc:
        raise ParameterError(str(exc)) from None


@dataclass(frozen=True)
class _Scalar:
    get: Callable[[], Any]
    set: Callable[[str], Callable[[], Any]] | None = None  # validate -> apply


@dataclass(frozen=True)
class _SlotArray:
    field: str
    parse: Callable[[str], Any] | None = None  # None: read-only


class Parameters:
    def __init__(self, device: Device, settings: DeviceSettings, reporter: StatusReporter) -> None:
        self._device = device
        self._settings = settings
        self._reporter = reporter
        self._scalars: dict[str, _Scalar] = {
            "sms_url": self._setting("sms_url", parse_url),
            "sr_url": self._setting("sr_url", parse_url),
            "mms_url": self._setting("mms_url", parse_url),
            "status_url": _Scalar(lambda: settings["status_url"], lambda v: self._apply_status(url=parse_url(v))),
            "status_period": _Scalar(
                lambda: settings["status_period"], lambda v: self._apply_status(period=parse_period(v))
            ),
            "sms_cnt": self._setting("sms_cnt", parse_count),
            "sms_prd": self._setting("sms_prd", parse_period),
            "sms_incomplete_mark": self._setting("sms_incomplete_mark", _flag),
            # write-only: a get says whether it is set, never what it is
            "push_secret": _Scalar(
                lambda: "********" if settings["push_secret"] else "", self._setting("push_secret", _secret).set
            ),
            "sw_ver": _Scalar(lambda: device.identity.sw_ver),
            "mac": _Scalar(lambda: device.identity.mac),
            "max_ports": _Scalar(lambda: device.size.ports),
            "max_slots": _Scalar(lambda: device.size.slots),
        }
        self._slot_arrays: dict[str, _SlotArray] = {
            "sim_imei": _SlotArray("imei", _imei),
            "sim_number": _SlotArray("number", _number),
            "sim_iccid": _SlotArray("iccid"),
            "sim_imsi": _SlotArray("imsi"),
        }
        # per port: the active slot's state code
        self._port_arrays: dict[str, Callable[[int], Any]] = {
            "port_status": lambda p: int(device.port(p).active.state),
        }

    def names(self) -> list[str]:
        return sorted([*self._scalars, *self._slot_arrays, *self._port_arrays])

    def _setting(self, key: str, parse: Callable[[str], Any]) -> _Scalar:
        def prepare(value: str) -> Callable[[], Any]:
            parsed = parse(value)
            return lambda: self._settings.update(**{key: parsed})

        return _Scalar(lambda: self._settings[key], prepare)

    def _apply_status(self, url: str | None = None, period: int | None = None) -> Callable[[], Any]:
        return lambda: self._reporter.configure(url=url, period=period)

    def _parse(self, text: str) -> ParamName:
        try:
            pname = parse_param_name(text)
        except ParamNameError as exc:
            raise ParameterError(str(exc)) from None
        known = pname.name in self._scalars or pname.name in self._slot_arrays or pname.name in self._port_arrays
        if not known:
            raise ParameterError(f"unknown parameter {pname.name!r}")
        if pname.index is not None and pname.name in self._scalars:
            raise ParameterError(f"{pname.name} is not an array; drop the ({pname.index})")
        return pname

    def _slot_of(self, pname: ParamName) -> PortAddress:
        assert pname.index is not None
        try:
            return address_of_index(pname.index, self._device.size)
        except ValueError as exc:
            raise ParameterError(f"{pname}: {exc}") from None

    def get(self, text: str) -> tuple[str, Any]:
        pname = self._parse(text)
        device = self._device
        if pname.name in self._scalars:
            return str(pname), self._scalars[pname.name].get()
        if pname.name in self._port_arrays:
            fn = self._port_arrays[pname.name]
            if pname.index is None:
                return pname.name, [fn(p) for p in range(1, device.size.ports + 1)]
            if not 0 <= pname.index < device.size.ports:
                raise ParameterError(f"{pname}: ports are indexed 0..{device.size.ports - 1}")
            return str(pname), fn(pname.index + 1)
        arr = self._slot_arrays[pname.name]
        if pname.index is None:
            return pname.name, [getattr(s.record, arr.field) for s in device.slots()]
        return str(pname), getattr(device.slot(self._slot_of(pname)).record, arr.field)

    def set_many(self, items: list[tuple[str, str]]) -> int:
        """Check every (name, value), then apply all; returns how many were set."""
        if not items:
            raise ParameterError("no parameter to set")
        actions: list[Callable[[], Any]] = []
        for text, value in items:
            pname = self._parse(text)
            if pname.name in self._scalars:
                setter = self._scalars[pname.name].set
                if setter is None:
                    raise ParameterError(f"{pname.name} is read-only")
                try:
                    actions.append(setter(value))
                except ParameterError as exc:
                    raise ParameterError(f"{pname.name}: {exc}") from None
            elif pname.name in self._port_arrays:
                raise ParameterError(f"{pname.name} is read-only")
            else:
                arr = self._slot_arrays[pname.name]
                if arr.parse is None:
                    raise ParameterError(f"{pname.name} is read-only")
                if pname.index is None:
                    raise ParameterError(f"{pname.name} needs an index, like {pname.name}(0)")
                addr = self._slot_of(pname)
                try:
                    parsed = arr.parse(value)
                except ParameterError as exc:
                    raise ParameterError(f"{pname}: {exc}") from None
                actions.append(functools.partial(self._device.set_slot_field, addr, arr.field, parsed))
        for action in actions:
            action()
        return len(actions)
