"""Wire messages: msgspec Structs for what the device takes and emits.

Decoding is lenient (numeric strings become numbers, unknown keys are
ignored); encoding is exact: field names, order and types as the spec's
examples and DECISIONS.md show.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import msgspec

__all__ = [
    "WireError",
    "decode_lenient",
    "encode",
    "PortStatusEntry",
    "PortStatusPush",
    "DevStatus",
    "PORT_OPS",
    "DEVICE_OPS",
    "CommandItem",
    "CommandRequest",
    "Reply",
    "SetReply",
    "GetReply",
]

T = TypeVar("T")


class WireError(ValueError):
    """A body that is not the JSON the endpoint expects; ``str()`` says why."""


def decode_lenient(body: bytes | str, type: type[T]) -> T:
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    if not body.strip():
        raise WireError("the body is empty; a JSON object was expected")
    try:
        return msgspec.json.decode(body, type=type, strict=False)
    except msgspec.ValidationError as exc:
        raise WireError(f"the JSON does not fit: {exc}") from None
    except msgspec.DecodeError as exc:
        raise WireError(f"the body is not valid JSON ({exc})") from None
    except RecursionError:
        # msgspec refuses nesting deeper than the interpreter's recursion limit (about 1,000).
        raise WireError("the JSON is nested too deeply (at most about 1,000 levels)") from None
    except UnicodeDecodeError as exc:
        raise WireError(f"the JSON holds a string that is not UTF-8 (byte {exc.start})") from None


_encoder = msgspec.json.Encoder()


def encode(obj: Any) -> bytes:
    return _encoder.encode(obj)


# --- status -------------------------------------------------------------


class PortStatusEntry(msgspec.Struct):
    """One entry of dev-status ``status[]`` (DECISIONS.md "Status"): ``st`` the code, ``status`` its text
    (``"3 Registered"``, what port-status pushes carry and status pollers read)."""

    port: str
    sim: str
    seq: int
    st: int
    status: str
    imei: str
    iccid: str
    imsi: str
    sn: str
    opr: str
    bal: str
    sig: int
    active: int
    inserted: int
    slot_active: int
    led: int
    tot_dur: str = "0/-1"
    mon_dur: str = "0/-1"
    day_dur: str = "0/-1"


class PortStatusPush(msgspec.Struct):
    """A port-status push: the entry's fields plus ``type`` and the text ``status``."""

    type: str
    port: str
    seq: int
    st: int
    status: str
    sim: str
    imei: str
    iccid: str
    imsi: str
    sn: str
    opr: str
    bal: str
    sig: int
    active: int
    inserted: int
    slot_active: int
    led: int
    tot_dur: str = "0/-1"
    mon_dur: str = "0/-1"
    day_dur: str = "0/-1"

    @classmethod
    def of(cls, entry: PortStatusEntry) -> PortStatusPush:
        return cls(type="port-status", **msgspec.structs.asdict(entry))


class DevStatus(msgspec.Struct):
    type: str
    seq: int
    expires: int
    mac: str
    ip: str
    ver: str
    max_ports: int = msgspec.field(name="max-ports")
    max_slot: int = msgspec.field(name="max-slot")
    max_slots: int = msgspec.field(name="max-slots")
    status: list[PortStatusEntry] = msgspec.field(default_factory=list)


# --- commands -----------------------------------------------------------

PORT_OPS = ("lock", "unlock", "switch", "reset", "ledon", "ledoff")  # each takes ports
DEVICE_OPS = ("save", "reboot")  # the whole device
PortsField = str | int | list[str | int] | None
CommandOp = Annotated[
    str | None,
    msgspec.Meta(extra_json_schema={"enum": [*PORT_OPS, *DEVICE_OPS, "multiple", "get", "set"]}),
]


class CommandItem(msgspec.Struct, omit_defaults=True):
    op: str | None = None
    ports: PortsField = None
    port: PortsField = None  # what some clients send instead of ports: taken where ports is missing


class CommandRequest(msgspec.Struct, omit_defaults=True):
    """A port command (``ops`` for op ``multiple``); with op ``get`` or ``set`` the other keys are
    parameter names and values (sms_url, sim_number(5), ...)."""

    type: str | None = None
    op: CommandOp = None
    ports: PortsField = None
    port: PortsField = None
    ops: list[CommandItem] | None = None


# --- generic answers ----------------------------------------------------


class Reply(msgspec.Struct):
    code: int
    reason: str


class SetReply(msgspec.Struct):
    code: int
    reason: str
    par_set: int


class GetReply(msgspec.Struct):
    code: int
    reason: str
    data: dict[str, Any]
