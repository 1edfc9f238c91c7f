"""Nothing received leaves a module before the device has it, whatever the module says.

Random storages (real captures, made PDUs, random bytes, damaged lines, headers without their PDU),
random unsolicited lines inside the answers, stores that fail at random, read by every receiving
path (+CMTI then AT+CMGR, the AT+CMGL sweep, +CMT/+CDS acknowledged by AT+CNMA): every AT+CMGD
and every positive AT+CNMA must follow the store's acknowledgement of that very message (as an SMS,
a report, or its raw PDU), and what was not acknowledged is still on the module.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ejoin.protocol import pdu

from . import dialects as cap
from .harness import Recorder
from .replay import Replay, lines

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

made = st.one_of(
    st.builds(
        lambda s, t: pdu.encode_deliver(s, t, WHEN, smsc="+491710760000").hex,
        st.just("+4915112345678"),
        st.text(max_size=40),
    ),
    st.builds(lambda r: pdu.encode_status_report(r, "+4915112345678", 0, WHEN, WHEN).hex, st.integers(0, 255)),
    st.builds(lambda t: pdu.encode_submit("+4915112345678", t).hex, st.text(alphabet="abc xyz", max_size=20)),
)
captured = st.sampled_from([cap.DELIVER_BE[1], cap.STALE_BYTES[1], cap.STATUS_REPORT[1], cap.STORED_SUBMIT[1]])
undecodable = st.sampled_from([v[1] for v in cap.UNDECODABLE])
random_hex = st.binary(min_size=1, max_size=60).map(lambda b: b.hex().upper())
# a PDU line with a few bytes mangled on the wire (as gammu's tests/at-sms-failing/13.dump)
damaged = st.builds(
    lambda h, at, ch: h[:at] + ch + h[at + 1 :],
    st.binary(min_size=4, max_size=60).map(lambda b: b.hex().upper()),
    st.integers(0, 7),
    st.sampled_from("=p>*"),
)
pdu_lines = st.one_of(made, captured, undecodable, random_hex, damaged, st.none())  # None: no PDU line
noise = st.lists(st.sampled_from([*cap.UNSOLICITED, "RING", "SMS DONE", "^RSSI: 17", '+CMTI: "SM",29']), max_size=2)


@dataclass
class Stored:
    index: int
    line: str | None
    noise: list[str]

    def answer(self, name: str) -> list[str]:
        length = len(bytes.fromhex(self.line)) - 1 if self.line and _hex(self.line) else 23
        head = f"{name}: {self.index},1,,{length}" if name == "+CMGL" else f"{name}: 1,,{length}"
        return [head, *self.noise, *([self.line] if self.line is not None else [])]


def _hex(text: str) -> bool:
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return len(text) % 2 == 0


def taken_as(line: str) -> tuple:
    """What the store must have acknowledged before this PDU line's message may leave the module."""
    try:
        message = pdu.decode(line)
    except pdu.PduError:
        return ("raw", (1, line))
    if isinstance(message, pdu.StatusReport):
        return ("report", (1, message.ref, message.recipient))
    if isinstance(message, pdu.Submit):
        return ("raw", (1, line))
    return ("sms", (1, message.sender, message.text or message.data.decode("latin-1")))


class FlakyStore(Recorder):
    """A store that fails where ``failures`` says (in the order of its writes)."""

    def __init__(self, clock, failures: list[bool]) -> None:
        super().__init__(clock=clock)
        self._failures = iter(failures)

    def _store(self, kind, what):
        self.failing = next(self._failures, False)
        return super()._store(kind, what)


async def scenario(entries: list[Stored], direct: list[tuple[str, list[str]]], failures: list[bool], path: str):
    r = Replay()
    r.events = FlakyStore(r.clock, failures)
    r.driver.events = r.events
    violations: list[str] = []
    by_index = {e.index: e for e in entries}
    cmt: list[str] = []  # the +CMT PDU lines sent, in order

    def check(command: str) -> None:
        if command.startswith("AT+CMGD="):
            entry = by_index.get(int(command[8:]))
            if entry is None or entry.line is None or taken_as(_as_read(entry)) not in r.events.stored:
                violations.append(f"{command} of {entry} before it was stored")
        elif command == "AT+CNMA":
            acknowledged = sum(1 for c in r.modem.commands if c == "AT+CNMA")
            stored = sum(1 for line in cmt if taken_as(line) in r.events.stored)
            if acknowledged > stored:
                violations.append(f"AT+CNMA #{acknowledged} with {stored} direct messages stored")

    r.modem.before_delete = check
    for e in entries:
        r.modem.storage[e.index] = lines(*e.answer("+CMGR"))
    r.modem.answers["AT+CMGL=4"] = lines(*[line for e in entries for line in e.answer("+CMGL")])
    r.line.plug()
    try:
        await r.run(r.module.open())
        if path == "sweep":
            await r.run(r.module.sweep())
        else:
            for e in entries:
                r.modem.say(f'\r\n+CMTI: "SM",{e.index}\r\n'.encode())
        for line, between in direct:
            cmt.append(line)
            length = len(bytes.fromhex(line)) - 1 if _hex(line) else 9
            r.modem.say(lines(f"+CMT: ,{length}", *between, line, final=b""))
        await r.settle(5.0)
    finally:
        await r.stop()
    assert violations == []
    for e in entries:  # what the store did not acknowledge is still on the module
        if e.line is None or taken_as(_as_read(e)) not in r.events.stored:
            assert e.index in r.modem.storage, e


def _as_read(entry: Stored) -> str:
    """The line the driver takes as the entry's PDU: itself (noise lines are never taken for it)."""
    assert entry.line is not None
    return entry.line


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example([(None, ["SMS DONE"])], [], [], "sweep")  # a header whose PDU never came, a word in its place
@example([(cap.NOT_HEX[1], ["SMS DONE", cap.CIEV])], [], [], "cmti")  # a damaged PDU after a word
@example([(cap.DELIVER_BE[1], [cap.NWTIME])], [(cap.STALE_BYTES[1], [cap.CRING])], [True, False], "cmti")
@given(
    st.lists(st.tuples(pdu_lines, noise), max_size=5),
    st.lists(st.tuples(st.one_of(made, captured, undecodable), noise), max_size=2),
    st.lists(st.booleans(), max_size=12),
    st.sampled_from(["sweep", "cmti"]),
)
def test_nothing_received_is_deleted_before_it_is_stored(stored, direct, failures, path):
    entries = [Stored(i + 1, line, list(between)) for i, (line, between) in enumerate(stored)]
    asyncio.run(scenario(entries, [(line, list(b)) for line, b in direct], failures, path))
