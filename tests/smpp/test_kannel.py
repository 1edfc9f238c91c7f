"""Kannel's bearerbox and smsbox (Debian's ``kannel``, an independent SMPP client in C) in front of the
gateway's SMPP server, configured as docs/smpp.md says: an SMS sent through smsbox's sendsms interface
is sent by the device, its delivery report reaches Kannel's dlr-url, and an SMS the device receives
reaches Kannel's sms-service."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from typing import Any

import pytest

from ejoin.testing import GatewayThread

from .kannel import BEARERBOX, SMSBOX, Callbacks, Kannel, free_port

pytestmark = pytest.mark.skipif(not (BEARERBOX and SMSBOX), reason="needs Debian's kannel (.ci/run installs it)")


def device_get(device: GatewayThread, path: str, **params: str) -> Any:
    query = urllib.parse.urlencode({"username": "root", "password": "root", **params})
    with urllib.request.urlopen(f"{device.url}{path}?{query}", timeout=10) as answer:
        return json.load(answer)


def test_kannel_sends_through_ejoin_gets_the_delivery_reports_and_receives_sms(tmp_path):
    smpp_port = free_port()
    accounts = [{"system_id": "kannel", "password": "secret"}]
    with (
        Callbacks() as callbacks,
        GatewayThread(
            tmp_path / "device", clock="virtual", ports=2, slots=1, smpp_port=smpp_port, smpp_accounts=accounts
        ) as device,
        Kannel(tmp_path / "kannel", smpp_port, callbacks.url, system_id="kannel", password="secret") as kannel,
    ):
        device.advance(10)  # the SIMs register
        kannel.wait_online()

        def dlr(n: str, kind: str) -> dict[str, str]:
            """Kannel's call of the dlr-url of message ``n``: 8 its submit_sm answered, 1 delivered."""
            call = callbacks.wait_for(lambda c: c.path == "/dlr" and c.query["n"] == n and c.query["type"] == kind)
            return call.query

        messages = {"1": {"text": "Hello from Kannel"}, "2": {"text": "Grüße 日本", "coding": "2", "charset": "UTF-8"}}
        for n, message in messages.items():
            params = {"from": "ejoin", "to": "+4915112345678", "dlr-mask": "11", **message}  # 11: 1 + 2 + 8
            params["dlr-url"] = f"{callbacks.url}/dlr?n={n}&type=%d&id=%F&reply=%A"
            assert kannel.sendsms(**params) == (202, "0: Accepted for delivery"), kannel.logs()
            dlr(n, "8")  # the submit_sm answered: the device holds its task (its modules wait for the clock)

        def tasks() -> list[tuple[str, int, int]]:
            return [(v.spec.text, v.spec.coding, v.unsent + v.sending) for v in device.gateway.sending.open_tasks()]

        # one recipient each, as Kannel gave them (the second in UCS-2)
        assert device.call(tasks) == [("Hello from Kannel", 0, 1), ("Grüße 日本", 1, 1)]

        device.advance(30)  # sent, reported
        for n in messages:
            delivered = dlr(n, "1")
            assert delivered["id"] == dlr(n, "8")["id"]  # Kannel matched the receipt with its message id
            assert "stat:DELIVRD" in delivered["reply"] and "err:000" in delivered["reply"]
        stats = device_get(device, "/goip_get_sms_stat.html", type="3")["stats"]
        assert sum(int(row["sent"]) for row in stats) == 2  # the device sent them, once each

        for text in ("Reply to Kannel", "Grüße 日本"):  # GSM 7-bit, then UCS-2 (mo-recode gives Kannel's UTF-8)
            inbound = {"port": "1.01", "sender": "+4917000000", "text": text}
            assert device_get(device, "/sim/inbound", **inbound)["code"] == 0
            received = callbacks.wait_for(lambda c, text=text: c.path == "/mo" and c.query["text"] == text)
            assert received.query["from"] == "+4917000000"
