"""SMS PDUs alone (ModemManager's and python-gsmmodem's decoder tests) through protocol/pdu.py."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from ejoin.protocol import pdu

from .loader import Vector, cases

KINDS = {"deliver": pdu.Deliver, "submit": pdu.Submit, "status_report": pdu.StatusReport}


@pytest.mark.parametrize("v", cases("pdus"))
def test_a_pdu(v: Vector) -> None:
    expected = v.expected
    if expected.get("error"):
        with pytest.raises(pdu.PduError):
            pdu.decode(v["pdu"])
        return
    message = pdu.decode(v["pdu"])
    if "kind" in expected:
        assert isinstance(message, KINDS[expected["kind"]])
    address = message.sender if isinstance(message, pdu.Deliver) else message.recipient
    for key in ("sender", "recipient"):
        if key in expected:
            assert address == expected[key]
    if "smsc" in expected:
        assert message.smsc == (expected["smsc"] or "")
    if "text" in expected:
        assert not isinstance(message, pdu.StatusReport) and message.text == expected["text"]
    if "data" in expected:
        assert not isinstance(message, pdu.StatusReport) and message.data.hex().upper() == expected["data"]
    if "scts" in expected:
        assert not isinstance(message, pdu.Submit) and message.scts == datetime.fromisoformat(expected["scts"])
    if "discharge" in expected:
        assert isinstance(message, pdu.StatusReport)
        assert message.discharge == datetime.fromisoformat(expected["discharge"])
    if "ref" in expected:
        assert not isinstance(message, pdu.Deliver) and message.ref == expected["ref"]
    if "concat" in expected:
        assert not isinstance(message, pdu.StatusReport) and message.concat is not None
        concat = message.concat
        assert (concat.ref, concat.total, concat.seq) == tuple(expected["concat"])
    if "multipart" in expected:
        assert (getattr(message, "concat", None) is not None) is expected["multipart"]
    if "validity_minutes" in expected:
        assert isinstance(message, pdu.Submit)
        assert message.validity == timedelta(minutes=expected["validity_minutes"])
    if "validity_until" in expected:
        assert isinstance(message, pdu.Submit)
        assert message.validity == datetime.fromisoformat(expected["validity_until"])
