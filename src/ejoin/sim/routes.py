"""The simulator control API under /sim/ (mounted only with the simulated network).

What the EJOIN API cannot do: insert or remove a SIM, set a module's signal or a SIM's balance, make a
registration fail, and read the whole simulated state.  Parameters come from
the query string or a JSON object body; same credentials as the device API.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Annotated, Any, Literal, Protocol, cast

import msgspec
from msgspec import UNSET, Meta, UnsetType

from ..gateway.plugin import DriverHost
from ..gateway.receiving import Inbox
from ..gateway.status import balance_text
from ..protocol import numbers
from ..protocol.codes import PortState, ResultCode
from ..protocol.mms import MmsMessage, MmsPart, build_mms_push
from ..protocol.operations import Operation
from ..protocol.ports import PortAddress, PortSpecError
from ..protocol.requests import names
from ..web.endpoint import ApiError, ApiRequest, endpoint
from ..web.route import Route
from .cards import generate_card, with_values
from .ussd import MenuError, UssdService
from .voice import CallPlan, CallSimulator
from .world import World


class SimControl(Protocol):
    """What these routes drive of the simulated network (``network.SimulatedNetwork`` has it)."""

    world: World
    ussd: UssdService

    @property
    def calls(self) -> CallSimulator: ...

    async def inbound(
        self, inbox: Inbox, addr: PortAddress, sender: str, text: str, ts: float, ref: int, total: int, seq: int
    ) -> list[int] | None: ...


OUTCOMES: dict[str, PortState | None] = {
    "ok": None,
    "fail": PortState.REGISTER_FAILED,
    "no_balance": PortState.NO_BALANCE,
    "device_lock": PortState.LOCKED_BY_DEVICE,
    "operator_lock": PortState.LOCKED_BY_OPERATOR,
    "sim_error": PortState.SIM_ERROR,
    "timeout": PortState.MODULE_TIMEOUT,
}

OUTCOME_NAMES = {None if v is None else int(v): k for k, v in OUTCOMES.items()}


def _outcome_name(outcome: int | None) -> str:
    return OUTCOME_NAMES.get(outcome, str(outcome))


def _net(gw: DriverHost) -> SimControl:
    return cast(SimControl, gw.modems)  # these routes are mounted only with the simulated network


def _params(req: ApiRequest) -> dict[str, str]:
    out = {k: v for k, v in req.query.items() if k not in ("username", "password")}
    if req.has_body():
        body = req.json(dict[str, Any])
        for k, v in body.items():
            if k not in ("username", "password") and v is not None:
                out[k] = str(v)
    return out


def _address(p: dict[str, str], gw: DriverHost, *, slot: bool) -> PortAddress:
    text = p.get("port")
    if not text:
        raise ApiError(ResultCode.INVALID_PORT, "give port=, like port=1.02")
    try:
        addr = PortAddress.parse(text, gw.size)
    except PortSpecError as exc:
        raise ApiError(ResultCode.INVALID_PORT, str(exc)) from None
    if slot and addr.slot is None:
        addr = addr.with_slot(gw.device.port(addr.port).record.active_slot)
    return addr


def _ok(**extra: Any) -> dict[str, Any]:
    return {"code": 0, "reason": "OK", **extra}


def _number(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ApiError(ResultCode.BAD_REQUEST, f"{name} must be a number, not {text[:20]!r}", 400) from None
    if not math.isfinite(value) or abs(value) > 1e10:
        raise ApiError(ResultCode.BAD_REQUEST, f"{name} must be a finite number below 1e10", 400)
    return value


def _checked(check: Any, value: str, name: str) -> str:
    """``value`` through a validator of protocol/numbers.py; a refusal answers 400 naming the value."""
    try:
        return check(value)
    except numbers.NumberError as exc:
        raise ApiError(ResultCode.BAD_REQUEST, f"{name}: {exc}", 400) from None


@endpoint()
async def insert(req: ApiRequest, gw: DriverHost) -> dict[str, Any]:
    p = _params(req)
    addr = _address(p, gw, slot=True)
    if gw.device.slot(addr).present:
        raise ApiError(ResultCode.BAD_REQUEST, f"slot {addr} already holds a SIM; remove it first", 409)
    balance = _number(p["balance"], "balance") if "balance" in p else None
    if p.get("number", "").strip():
        p["number"] = _checked(numbers.phone_number, p["number"], "number")
    assert addr.slot is not None
    given = {key: p.get(key) for key in ("iccid", "imsi", "number", "operator")}
    card = with_values(generate_card(gw.config.seed, addr.port, addr.slot), balance=balance, **given)
    _net(gw).world.put_card(addr, card)
    gw.device.card_inserted(addr, card)
    return _ok(port=gw.device.name(addr))


@endpoint()
async def remove(req: ApiRequest, gw: DriverHost) -> dict[str, Any]:
    addr = _address(_params(req), gw, slot=True)
    if not gw.device.slot(addr).present:
        raise ApiError(ResultCode.BAD_REQUEST, f"slot {addr} holds no SIM", 409)
    _net(gw).world.take_card(addr)
    gw.device.card_removed(addr)
    return _ok(port=gw.device.name(addr))


@endpoint()
async def signal(req: ApiRequest, gw: DriverHost) -> dict[str, Any]:
    p = _params(req)
    addr = _address(p, gw, slot=False)
    value_text = p.get("value", "auto")
    if value_text == "auto":
        value = None
    else:
        value = int(_number(value_text, "value"))
        if not 0 <= value <= 31:
            raise ApiError(ResultCode.BAD_REQUEST, "signal is 0 to 31 (or auto)", 400)
    _net(gw).world.fix_signal(addr.port, value)
    await gw.device.read_signal(addr.port, announce=True)
    return _ok(port=addr.port, sig=gw.device.signal(addr.port))


@endpoint()
async def registration(req: ApiRequest, gw: DriverHost) -> dict[str, Any]:
    p = _params(req)
    addr = _address(p, gw, slot=True)
    outcome_name = p.get("outcome", "").lower()
    if outcome_name not in OUTCOMES:
        raise ApiError(ResultCode.BAD_REQUEST, f"outcome is one of {', '.join(OUTCOMES)}", 400)
    outcome = OUTCOMES[outcome_name]
    _net(gw).world.set_outcome(addr, None if outcome is None else int(outcome))
    return _ok(port=gw.device.name(addr), outcome=outcome_name)


@endpoint()
async def balance(req: ApiRequest, gw: DriverHost) -> dict[str, Any]:
    p = _params(req)
    addr = _address(p, gw, slot=True)
    world = _net(gw).world
    if "value" not in p and "price" not in p:
        raise ApiError(ResultCode.BAD_REQUEST, "give value= (the new balance) and/or price= (per SMS part)", 400)
    if "price" in p:
        price = round(_number(p["price"], "price"), 4)
        if price < 0:
            raise ApiError(ResultCode.BAD_REQUEST, "price cannot be negative", 400)
        if world.price(addr) != price:
            world.set_price(addr, price)
            gw.device.announce(addr)  # what the slot's SMS cost is part of its state
    if "value" in p:
        value = round(_number(p["value"], "value"), 2)
        world.set_balance(addr, value)
        gw.device.set_slot_field(addr, "balance", value)
    rec = gw.device.slot(addr).record
    return _ok(port=gw.device.name(addr), bal=balance_text(rec.balance), price=world.price(addr))


def _timestamp(p: dict[str, str], gw: DriverHost) -> float:
    return _number(p["ts"], "ts") if p.get("ts") else gw.clock.time()


@endpoint()
async def inbound(req: ApiRequest, gw: DriverHost) -> dict[str, Any]:
    """An SMS (or one part of a long one) arrives at a slot from the network."""
    p = _params(req)
    addr = _address(p, gw, slot=True)
    sender = p.get("sender", "").strip()
    if not sender:
        raise ApiError(ResultCode.BAD_REQUEST, "give sender=, the number the SMS comes from", 400)
    sender = _checked(numbers.sender, sender, "sender")
    if "raw" in p:
        try:
            text = base64.b64decode(p["raw"], validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise ApiError(ResultCode.BAD_REQUEST, "raw is base64 of UTF-8 text", 400) from None
    elif "text" in p:
        text = p["text"]
    else:
        raise ApiError(ResultCode.BAD_REQUEST, "give text= (or raw=, base64)", 400)
    ts = _timestamp(p, gw)
    total = int(_number(p.get("total", "1"), "total"))
    seq = int(_number(p.get("seq", "1"), "seq"))
    ref = int(_number(p.get("ref", "0"), "ref"))
    if not (1 <= total <= 255 and 1 <= seq <= total and 0 <= ref <= 65535):
        raise ApiError(ResultCode.BAD_REQUEST, "a part needs 1 <= seq <= total <= 255 and 0 <= ref <= 65535", 400)
    try:
        ids = await _net(gw).inbound(gw.inbox, addr, sender, text, ts, ref, total, seq)
    except (LookupError, ValueError) as exc:  # (emulated modules) no module holds that SIM active, ...
        raise ApiError(ResultCode.BAD_REQUEST, str(exc), 400) from None
    if ids is None:
        return _ok(port=gw.device.name(addr), part=f"{seq}/{total}")
    if not ids:  # (emulated modules) on the module's SIM, not announced yet: the sweep reads it
        return _ok(port=gw.device.name(addr), on_module=True)
    return _ok(port=gw.device.name(addr), id=ids[0])


class MmsPartIn(msgspec.Struct):
    type: str = "text/plain"
    name: str = ""
    data: str | None = None  # base64
    text: str | None = None


class MmsIn(msgspec.Struct):
    subject: str = ""
    sender: str = ""
    recipient: str = ""
    port: str | None = None
    parts: list[MmsPartIn] = []


@endpoint()
async def mms(req: ApiRequest, gw: DriverHost) -> dict[str, Any]:
    """An MMS arrives: pushed to mms_url as multipart/related (spec 11)."""
    body = req.json(MmsIn)
    if not body.sender or not body.parts:
        raise ApiError(ResultCode.BAD_REQUEST, "an MMS needs sender and at least one part", 400)
    _checked(numbers.sender, body.sender, "sender")
    recipient = body.recipient and _checked(numbers.phone_number, body.recipient, "recipient")
    if not recipient and body.port:
        recipient = gw.device.slot(_address({"port": body.port}, gw, slot=True)).record.number
    parts = []
    for i, part in enumerate(body.parts):
        if part.text is not None:
            data = part.text.encode("utf-8")
            ctype = part.type if "charset" in part.type else f"{part.type}; charset=UTF-8"
        else:
            try:
                data = base64.b64decode(part.data or "", validate=True)
            except (binascii.Error, ValueError):
                raise ApiError(ResultCode.BAD_REQUEST, f"parts[{i}].data is not base64", 400) from None
            ctype = part.type
        parts.append(MmsPart(ctype, part.name or f"part{i + 1}", data))
    url = gw.settings["mms_url"]
    if not url:
        raise ApiError(ResultCode.BAD_REQUEST, "mms_url is not set (goip_send_cmd.html?op=set&mms_url=...)", 409)
    headers, payload = build_mms_push(MmsMessage(body.subject, body.sender, recipient, tuple(parts), gw.clock.time()))
    await gw.outbox.push(url, "mms", payload, content_type=headers.pop("Content-Type"), headers=headers)
    return _ok(bytes=len(payload))


@endpoint()
async def call(req: ApiRequest, gw: DriverHost) -> dict[str, Any]:
    """A voice call on a slot: answered or not, with its post-dial delay and duration."""
    p = _params(req)
    addr = _address(p, gw, slot=True)
    calls = _net(gw).calls
    if calls.busy(addr):
        raise ApiError(ResultCode.BAD_REQUEST, f"{addr} is already in a call", 409)
    answer = p.get("answer", "1").strip().lower() in ("1", "true", "yes")
    pdd = _number(p.get("pdd", "3"), "pdd")
    duration = _number(p.get("duration", "60"), "duration")
    if pdd < 0 or duration < 0:
        raise ApiError(ResultCode.BAD_REQUEST, "pdd and duration cannot be negative", 400)
    calls.place(
        addr, CallPlan(pdd=pdd, alerted=answer or p.get("ring", "1") == "1", answered=answer, duration=duration)
    )
    return _ok(port=gw.device.name(addr))


@endpoint()
async def state(req: ApiRequest, gw: DriverHost) -> dict[str, Any]:
    device = gw.device
    world = _net(gw).world
    ports = []
    for port in device.ports:
        ports.append(
            {
                "port": port.number,
                "active_slot": port.record.active_slot,
                "led": int(port.record.led),
                "sig": device.signal(port.number),
                "signal_fixed": port.number in world.fixed_signals,
                "slots": [
                    {
                        "port": device.name(s.address),
                        "st": int(s.state),
                        "status": s.state.label,
                        "present": int(s.present),
                        "locked": int(s.record.locked),
                        "iccid": s.record.iccid,
                        "imsi": s.record.imsi,
                        "number": s.record.number,
                        "operator": s.record.operator,
                        "balance": s.record.balance,
                        "price": world.price(s.address),
                        "imei": s.record.imei,
                        "outcome": _outcome_name(world.outcomes.get(s.address)),
                        "seq": s.record.seq,
                    }
                    for s in port.slots
                ],
            }
        )
    return _ok(
        time=gw.clock.time(),
        ssrc=gw.ssrc,
        outbox={
            "pending": await gw.store.outbox_count(),
            "delivered": gw.outbox.delivered,
            "failed_attempts": gw.outbox.failed_attempts,
        },
        ports=ports,
    )


@endpoint()
async def ussd(req: ApiRequest, gw: DriverHost) -> dict[str, Any]:
    """The network's USSD menus: listed; added or replaced (code + text, options, delay); removed."""
    service = _net(gw).ussd
    p: dict[str, Any] = {k: v for k, v in req.query.items() if k in names(UssdMenuQuery)}
    if req.has_body():
        body = req.json(dict[str, Any])
        p.update((k, v) for k, v in body.items() if k in names(UssdMenuBody))
    code = p.get("code")
    if code is not None:
        if not isinstance(code, str) or not code.strip():
            raise ApiError(ResultCode.BAD_REQUEST, "code is the menu's USSD code, like *200# or *125*{amount}#", 400)
        code = code.strip()
        try:
            if str(p.get("remove", "0")).strip() in ("1", "true"):
                service.set_menu(code, None)
            else:
                table: dict[str, Any] = {k: p[k] for k in ("text", "options", "delay") if k in p}
                if isinstance(table.get("delay"), str):
                    table["delay"] = _number(table["delay"], "delay")
                service.set_menu(code, table)
        except MenuError as exc:
            raise ApiError(ResultCode.BAD_REQUEST, str(exc), 400) from None
    elif len(p):
        raise ApiError(ResultCode.BAD_REQUEST, "give code= with the menu (or nothing, to list them)", 400)
    return _ok(menus={c: node.table() for c, node in service.menus().items()})


# --- the operations: what each route takes (query or JSON body), declared once --------------

Text = str | UnsetType
Number = Annotated[str, Meta(description="a number")] | UnsetType


class SlotQuery(msgspec.Struct):
    port: Annotated[str, Meta(examples=["1.02"])] | UnsetType = UNSET  # a slot (a port: its active slot)


class InsertQuery(SlotQuery):
    number: Text = UNSET
    balance: Number = UNSET
    iccid: Text = UNSET
    imsi: Text = UNSET
    operator: Text = UNSET


class SignalQuery(SlotQuery):
    value: Annotated[str, Meta(description="0-31, or auto")] | UnsetType = UNSET


class RegistrationQuery(SlotQuery):
    outcome: Literal["ok", "fail", "no_balance", "device_lock", "operator_lock", "sim_error", "timeout"] | UnsetType = (
        UNSET
    )


class BalanceQuery(SlotQuery):
    value: Number = UNSET
    price: Number = UNSET


class InboundQuery(SlotQuery):
    sender: Text = UNSET
    text: Text = UNSET
    raw: Annotated[str, Meta(description="the text as base64 UTF-8")] | UnsetType = UNSET
    ts: Number = UNSET
    ref: int | UnsetType = UNSET
    total: int | UnsetType = UNSET
    seq: int | UnsetType = UNSET


class CallQuery(SlotQuery):
    answer: Literal["0", "1"] | UnsetType = UNSET
    ring: Literal["0", "1"] | UnsetType = UNSET
    pdd: Number = UNSET
    duration: Number = UNSET


class UssdMenuQuery(msgspec.Struct):
    code: Text = UNSET
    text: Text = UNSET
    delay: Number = UNSET
    remove: Literal["0", "1"] | UnsetType = UNSET


class UssdMenuBody(msgspec.Struct):
    code: Text = UNSET
    text: Text = UNSET
    delay: float | UnsetType = UNSET
    options: dict[str, Any] | UnsetType = UNSET
    remove: int | UnsetType = UNSET


STATE = Operation("/sim/state", "Simulator: the whole simulated state")
INSERT = Operation("/sim/insert", "Simulator: insert a SIM", query=InsertQuery)
REMOVE = Operation("/sim/remove", "Simulator: remove a SIM", query=SlotQuery)
SIGNAL = Operation("/sim/signal", "Simulator: fix a module's signal", query=SignalQuery)
REGISTRATION = Operation("/sim/registration", "Simulator: how registrations end", query=RegistrationQuery)
BALANCE = Operation("/sim/balance", "Simulator: balance and price", query=BalanceQuery)
INBOUND = Operation("/sim/inbound", "Simulator: an SMS arrives", query=InboundQuery)
CALL = Operation("/sim/call", "Simulator: a voice call", query=CallQuery)
USSD = Operation(
    "/sim/ussd",
    "Simulator: USSD menus (list; add or replace with code and text, options, delay; remove=1)",
    ("get", "post"),
    query=UssdMenuQuery,
    body=UssdMenuBody,
)
MMS = Operation("/sim/mms", "Simulator: an MMS arrives", ("post",), body=MmsIn)

ROUTES = (
    Route(STATE, state),
    Route(INSERT, insert),
    Route(REMOVE, remove),
    Route(SIGNAL, signal),
    Route(REGISTRATION, registration),
    Route(BALANCE, balance),
    Route(INBOUND, inbound),
    Route(CALL, call),
    Route(USSD, ussd),
    Route(MMS, mms),
)
