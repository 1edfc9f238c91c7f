"""A fleet behind SMPP, driven by an independent client (python smpplib, synchronous): a
transceiver submits, gets its message id and the receipt, and a received SMS comes to it."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from pathlib import Path

import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.gsm

from ejoin.testing import GatewayThread

from ..fleet.conftest import FleetThread, member
from .esme import free_port


def test_a_fleet_takes_submit_sm_and_delivers_receipts_and_sms_to_smpplib(tmp_path: Path) -> None:
    port = free_port()
    with GatewayThread(tmp_path / "a", ports=2, slots=1, seed=1) as a:
        fleet = FleetThread(
            tmp_path / "fleet",
            [member(a, "1-2", "a")],
            smpp_port=port,
            smpp_accounts=[{"system_id": "platform", "password": "pw"}],
        ).start()
        try:
            got: list = []
            ids: list[str] = []
            client = smpplib.client.Client("127.0.0.1", port, timeout=0.5, allow_unknown_opt_params=True)
            client.set_message_received_handler(lambda pdu: got.append(pdu))
            client.set_message_sent_handler(lambda pdu: ids.append(pdu.message_id.decode()))
            client.connect()
            client.bind_transceiver(system_id="platform", password="pw")
            parts, coding, esm_class = smpplib.gsm.make_parts("Hello through the fleet, " * 8)  # two parts, UDH
            assert len(parts) == 2
            for part in parts:
                client.send_message(
                    source_addr="ejoin",
                    destination_addr="4915112345678",
                    dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
                    short_message=part,
                    data_coding=coding,
                    esm_class=esm_class,
                    registered_delivery=True,
                )

            def read_until(done, within: float = 30.0) -> None:
                deadline = time.monotonic() + within
                while not done():
                    assert time.monotonic() < deadline, (ids, got)
                    try:
                        client.read_once()
                    except (TimeoutError, smpplib.exceptions.ConnectionError):
                        pass

            read_until(lambda: len(ids) == 2 and len(got) == 2)
            receipts = {pdu.receipted_message_id.decode().rstrip("\x00"): pdu for pdu in got}
            assert set(receipts) == set(ids)
            assert all(b"stat:DELIVRD" in pdu.short_message for pdu in got)
            params = {"username": "root", "password": "root", "port": "2", "sender": "+4917000001"}
            params["text"] = "an SMS for the platform"
            with urllib.request.urlopen(f"{a.url}/sim/inbound?{urllib.parse.urlencode(params)}") as answer:
                assert json.load(answer)["code"] == 0
            read_until(lambda: len(got) == 3)
            assert got[2].short_message == b"an SMS for the platform" and got[2].source_addr == b"4917000001"
            client.unbind()
        finally:
            client.disconnect()
            fleet.stop()
