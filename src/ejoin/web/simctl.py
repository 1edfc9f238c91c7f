"""The simulator control API under /sim/: what the EJOIN API cannot do.

Insert or remove a SIM, set a module's signal or a SIM's balance, make a
registration fail, and read the whole simulated state.  Parameters come from
the query string or a JSON object body; same credentials as the device API.
"""

from __future__ import annotations

from typing import Any

from ..gateway.runtime import Gateway
from ..modems.simulated import generate_card
from ..protocol.codes import PortState, ResultCode
from ..protocol.ports import PortAddress, PortSpecError
from ..store.base import SlotRecord
from .endpoint import ApiError, ApiRequest, endpoint

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


def _params(req: ApiRequest) -> dict[str, str]:
    out = {k: v for k, v in req.query.items() if k not in ("username", "password")}
    if req.has_body():
        body = req.json(dict[str, Any])
        for k, v in body.items():
            if k not in ("username", "password") and v is not None:
                out[k] = str(v)
    return out


def _address(p: dict[str, str], gw: Gateway, *, slot: bool) -> PortAddress:
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
        return float(text)
    except ValueError:
        raise ApiError(ResultCode.BAD_REQUEST, f"{name} must be a number, not {text[:20]!r}", 400) from None


@endpoint()
async def insert(req: ApiRequest, gw: Gateway) -> dict[str, Any]:
    p = _params(req)
    addr = _address(p, gw, slot=True)
    if gw.device.slot(addr).present:
        raise ApiError(ResultCode.BAD_REQUEST, f"slot {addr} already holds a SIM; remove it first", 409)
    balance = _number(p["balance"], "balance") if "balance" in p else None

    def fill(rec: SlotRecord) -> None:
        assert addr.slot is not None
        generate_card(gw.config.seed, addr.port, addr.slot, rec)
        for key in ("iccid", "imsi", "number", "operator"):
            if key in p:
                setattr(rec, key, p[key])
        if balance is not None:
            rec.balance = balance

    gw.device.insert_card(addr, fill)
    return _ok(port=gw.device.name(addr))


@endpoint()
async def remove(req: ApiRequest, gw: Gateway) -> dict[str, Any]:
    addr = _address(_params(req), gw, slot=True)
    if not gw.device.slot(addr).present:
        raise ApiError(ResultCode.BAD_REQUEST, f"slot {addr} holds no SIM", 409)
    gw.device.remove_card(addr)
    return _ok(port=gw.device.name(addr))


@endpoint()
async def signal(req: ApiRequest, gw: Gateway) -> dict[str, Any]:
    p = _params(req)
    addr = _address(p, gw, slot=False)
    value_text = p.get("value", "auto")
    if value_text == "auto":
        value = None
    else:
        value = int(_number(value_text, "value"))
        if not 0 <= value <= 31:
            raise ApiError(ResultCode.BAD_REQUEST, "signal is 0 to 31 (or auto)", 400)
    gw.device.set_signal(addr.port, value)
    return _ok(port=addr.port, sig=gw.device.signal(addr.port))


@endpoint()
async def registration(req: ApiRequest, gw: Gateway) -> dict[str, Any]:
    p = _params(req)
    addr = _address(p, gw, slot=True)
    outcome_name = p.get("outcome", "").lower()
    if outcome_name not in OUTCOMES:
        raise ApiError(ResultCode.BAD_REQUEST, f"outcome is one of {', '.join(OUTCOMES)}", 400)
    gw.device.set_registration_outcome(addr, OUTCOMES[outcome_name])
    return _ok(port=gw.device.name(addr), outcome=outcome_name)


@endpoint()
async def balance(req: ApiRequest, gw: Gateway) -> dict[str, Any]:
    p = _params(req)
    addr = _address(p, gw, slot=True)
    if "value" not in p and "price" not in p:
        raise ApiError(ResultCode.BAD_REQUEST, "give value= (the new balance) and/or price= (per SMS part)", 400)
    if "price" in p:
        price = round(_number(p["price"], "price"), 4)
        if price < 0:
            raise ApiError(ResultCode.BAD_REQUEST, "price cannot be negative", 400)
        gw.device.set_slot_field(addr, "price", price)
    if "value" in p:
        gw.device.set_slot_field(addr, "balance", round(_number(p["value"], "value"), 2))
    rec = gw.device.slot(addr).record
    return _ok(port=gw.device.name(addr), bal=f"{rec.balance:.2f}", price=rec.price)


@endpoint()
async def state(req: ApiRequest, gw: Gateway) -> dict[str, Any]:
    device = gw.device
    ports = []
    for port in device.ports:
        ports.append(
            {
                "port": port.number,
                "active_slot": port.record.active_slot,
                "led": int(port.record.led),
                "sig": device.signal(port.number),
                "signal_fixed": port.record.signal is not None,
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
                        "price": s.record.price,
                        "imei": s.record.imei,
                        "outcome": OUTCOME_NAMES.get(s.record.reg_outcome, str(s.record.reg_outcome)),
                        "seq": s.record.seq,
                    }
                    for s in port.slots
                ],
            }
        )
    return _ok(
        time=gw.clock.time(),
        ssrc=gw.ssrc,
        outbox={"pending": await gw.store.outbox_count(), "delivered": gw.outbox.delivered,
                "failed_attempts": gw.outbox.failed_attempts},
        ports=ports,
    )
