"""SMPP 3.4 PDUs: bytes in, typed PDUs out, and back (sans-I/O, like the rest of protocol/).

Only what an SMSC in front of a GSM gateway needs: the binds, ``submit_sm``, ``deliver_sm``,
``query_sm``, ``cancel_sm``, ``enquire_link``, ``unbind``, ``generic_nack`` and their
responses.  Any other command is framed and kept as a ``RawPdu`` (its header and body), so a
server can answer it (``generic_nack`` or its own response with ``ESME_RINVCMDID``).

``PduReader`` frames a byte stream: feed it what the socket gave, take PDUs out.  A PDU whose
header is sound but whose body cannot be read comes out as a ``Malformed`` (with the status to
answer and the sequence number to answer it with); only a ``command_length`` that cannot be
right (under 16 octets or over the reader's limit) is a ``FramingError``: the stream cannot be
resynchronised after it, and the session must end.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

__all__ = [
    "Command",
    "Status",
    "MessageState",
    "Tag",
    "Tlvs",
    "Pdu",
    "Bind",
    "BindResp",
    "Empty",
    "GenericNack",
    "ShortMessage",
    "SmResp",
    "QuerySm",
    "QuerySmResp",
    "CancelSm",
    "RawPdu",
    "Malformed",
    "FramingError",
    "PduReader",
    "decode",
    "response_to",
    "tlv",
    "HEADER",
    "MAX_PDU",
]

HEADER = 16
MAX_PDU = 70_000  # a message_payload of 64 KiB and the rest of a submit_sm
RESPONSE = 0x80000000


class Command(IntEnum):
    GENERIC_NACK = 0x80000000
    BIND_RECEIVER = 0x00000001
    BIND_RECEIVER_RESP = 0x80000001
    BIND_TRANSMITTER = 0x00000002
    BIND_TRANSMITTER_RESP = 0x80000002
    QUERY_SM = 0x00000003
    QUERY_SM_RESP = 0x80000003
    SUBMIT_SM = 0x00000004
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM = 0x00000005
    DELIVER_SM_RESP = 0x80000005
    UNBIND = 0x00000006
    UNBIND_RESP = 0x80000006
    REPLACE_SM = 0x00000007
    REPLACE_SM_RESP = 0x80000007
    CANCEL_SM = 0x00000008
    CANCEL_SM_RESP = 0x80000008
    BIND_TRANSCEIVER = 0x00000009
    BIND_TRANSCEIVER_RESP = 0x80000009
    OUTBIND = 0x0000000B
    ENQUIRE_LINK = 0x00000015
    ENQUIRE_LINK_RESP = 0x80000015
    SUBMIT_MULTI = 0x00000021
    SUBMIT_MULTI_RESP = 0x80000021
    ALERT_NOTIFICATION = 0x00000102
    DATA_SM = 0x00000103
    DATA_SM_RESP = 0x80000103


class Status(IntEnum):
    """command_status values (SMPP 3.4 section 5.1.3)."""

    ESME_ROK = 0x00
    ESME_RINVMSGLEN = 0x01
    ESME_RINVCMDLEN = 0x02
    ESME_RINVCMDID = 0x03
    ESME_RINVBNDSTS = 0x04
    ESME_RALYBND = 0x05
    ESME_RINVPRTFLG = 0x06
    ESME_RINVREGDLVFLG = 0x07
    ESME_RSYSERR = 0x08
    ESME_RINVSRCADR = 0x0A
    ESME_RINVDSTADR = 0x0B
    ESME_RINVMSGID = 0x0C
    ESME_RBINDFAIL = 0x0D
    ESME_RINVPASWD = 0x0E
    ESME_RINVSYSID = 0x0F
    ESME_RCANCELFAIL = 0x11
    ESME_RREPLACEFAIL = 0x13
    ESME_RMSGQFUL = 0x14
    ESME_RINVSERTYP = 0x15
    ESME_RINVESMCLASS = 0x43
    ESME_RSUBMITFAIL = 0x45
    ESME_RINVSRCTON = 0x48
    ESME_RINVSRCNPI = 0x49
    ESME_RINVDSTTON = 0x50
    ESME_RINVDSTNPI = 0x51
    ESME_RTHROTTLED = 0x58
    ESME_RINVSCHED = 0x61
    ESME_RINVEXPIRY = 0x62
    ESME_RX_T_APPN = 0x64
    ESME_RX_P_APPN = 0x65
    ESME_RX_R_APPN = 0x66
    ESME_RQUERYFAIL = 0x67
    ESME_RINVOPTPARSTREAM = 0xC0
    ESME_ROPTPARNOTALLWD = 0xC1
    ESME_RINVPARLEN = 0xC2
    ESME_RMISSINGOPTPARAM = 0xC3
    ESME_RINVOPTPARAMVAL = 0xC4
    ESME_RDELIVERYFAILURE = 0xFE
    ESME_RUNKNOWNERR = 0xFF


class MessageState(IntEnum):
    """message_state (SMPP 3.4 section 5.2.28), and the receipt's ``stat:`` word for it."""

    ENROUTE = 1
    DELIVERED = 2
    EXPIRED = 3
    DELETED = 4
    UNDELIVERABLE = 5
    ACCEPTED = 6
    UNKNOWN = 7
    REJECTED = 8

    @property
    def stat(self) -> str:
        return _STAT[self]


_STAT = {
    MessageState.ENROUTE: "ENROUTE",
    MessageState.DELIVERED: "DELIVRD",
    MessageState.EXPIRED: "EXPIRED",
    MessageState.DELETED: "DELETED",
    MessageState.UNDELIVERABLE: "UNDELIV",
    MessageState.ACCEPTED: "ACCEPTD",
    MessageState.UNKNOWN: "UNKNOWN",
    MessageState.REJECTED: "REJECTD",
}


class Tag(IntEnum):
    """The optional parameters (TLVs) this codec gives names to; any other tag passes through."""

    RECEIPTED_MESSAGE_ID = 0x001E
    SAR_MSG_REF_NUM = 0x020C
    SAR_TOTAL_SEGMENTS = 0x020E
    SAR_SEGMENT_SEQNUM = 0x020F
    SC_INTERFACE_VERSION = 0x0210
    NETWORK_ERROR_CODE = 0x0423
    MESSAGE_PAYLOAD = 0x0424
    MESSAGE_STATE = 0x0427


Tlvs = tuple[tuple[int, bytes], ...]


class _BodyError(Exception):
    def __init__(self, status: Status, why: str) -> None:
        super().__init__(why)
        self.status = status
        self.why = why


class FramingError(Exception):
    """A command_length no PDU can have: the byte stream cannot be followed any further."""

    def __init__(self, length: int, why: str) -> None:
        super().__init__(why)
        self.length = length
        self.why = why


# --- body primitives -----------------------------------------------------------------------


class _Reader:
    __slots__ = ("data", "at")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def cstring(self, name: str, most: int) -> str:
        """A C-Octet String of at most ``most`` octets, its NUL included (SMPP 3.4 section 3.1)."""
        end = self.data.find(b"\x00", self.at, self.at + most)
        if end < 0:
            if self.data.find(b"\x00", self.at) < 0:
                raise _BodyError(Status.ESME_RINVMSGLEN, f"{name} has no terminating NUL")
            raise _BodyError(Status.ESME_RINVPARLEN, f"{name} is longer than {most - 1} octets")
        value = self.data[self.at : end].decode("latin-1")
        self.at = end + 1
        return value

    def byte(self, name: str) -> int:
        if self.at >= len(self.data):
            raise _BodyError(Status.ESME_RINVMSGLEN, f"the body ends before {name}")
        value = self.data[self.at]
        self.at += 1
        return value

    def octets(self, name: str, n: int) -> bytes:
        if self.at + n > len(self.data):
            raise _BodyError(Status.ESME_RINVMSGLEN, f"the body ends inside {name}")
        value = self.data[self.at : self.at + n]
        self.at += n
        return value

    def tlvs(self) -> Tlvs:
        out: list[tuple[int, bytes]] = []
        data, at = self.data, self.at
        while at < len(data):
            if at + 4 > len(data):
                raise _BodyError(Status.ESME_RINVOPTPARSTREAM, "an optional parameter is cut short")
            tag, length = struct.unpack_from(">HH", data, at)
            at += 4
            if at + length > len(data):
                raise _BodyError(Status.ESME_RINVOPTPARSTREAM, f"optional parameter 0x{tag:04x} is cut short")
            out.append((tag, data[at : at + length]))
            at += length
        self.at = at
        return tuple(out)

    def end(self) -> None:
        if self.at != len(self.data):
            raise _BodyError(Status.ESME_RINVMSGLEN, f"{len(self.data) - self.at} octets after the last field")


def _cstr(value: str) -> bytes:
    return value.encode("latin-1") + b"\x00"


def _tlv_bytes(tlvs: Tlvs) -> bytes:
    return b"".join(struct.pack(">HH", tag, len(value)) + value for tag, value in tlvs)


def tlv(tlvs: Tlvs, tag: int) -> bytes | None:
    """The value of the first optional parameter ``tag``, or None."""
    for t, value in tlvs:
        if t == tag:
            return value
    return None


# --- PDUs ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pdu:
    command: int
    sequence: int
    status: int

    def body(self) -> bytes:
        return b""

    def encode(self) -> bytes:
        body = self.body()
        return struct.pack(">IIII", HEADER + len(body), self.command, self.status, self.sequence) + body


@dataclass(frozen=True, slots=True)
class Empty(Pdu):
    """A PDU without a body: unbind, enquire_link, their responses, cancel_sm_resp, and any
    response whose status is not 0 (SMPP 3.4 leaves their bodies out)."""


@dataclass(frozen=True, slots=True)
class GenericNack(Pdu):
    """The answer to a PDU that cannot be read (or of a command not known): its status says why."""


@dataclass(frozen=True, slots=True)
class Bind(Pdu):
    system_id: str = ""
    password: str = ""
    system_type: str = ""
    interface_version: int = 0x34
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""

    def body(self) -> bytes:
        return (
            _cstr(self.system_id)
            + _cstr(self.password)
            + _cstr(self.system_type)
            + bytes((self.interface_version, self.addr_ton, self.addr_npi))
            + _cstr(self.address_range)
        )


@dataclass(frozen=True, slots=True)
class BindResp(Pdu):
    system_id: str = ""
    tlvs: Tlvs = ()

    def body(self) -> bytes:
        return _cstr(self.system_id) + _tlv_bytes(self.tlvs)


@dataclass(frozen=True, slots=True)
class ShortMessage(Pdu):
    """submit_sm or deliver_sm: one body layout (SMPP 3.4 sections 4.4.1, 4.6.1)."""

    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""
    tlvs: Tlvs = ()

    def body(self) -> bytes:
        if len(self.short_message) > 254:
            raise ValueError("short_message holds at most 254 octets; use message_payload")
        return b"".join(
            (
                _cstr(self.service_type),
                bytes((self.source_addr_ton, self.source_addr_npi)),
                _cstr(self.source_addr),
                bytes((self.dest_addr_ton, self.dest_addr_npi)),
                _cstr(self.destination_addr),
                bytes((self.esm_class, self.protocol_id, self.priority_flag)),
                _cstr(self.schedule_delivery_time),
                _cstr(self.validity_period),
                bytes(
                    (
                        self.registered_delivery,
                        self.replace_if_present_flag,
                        self.data_coding,
                        self.sm_default_msg_id,
                        len(self.short_message),
                    )
                ),
                self.short_message,
                _tlv_bytes(self.tlvs),
            )
        )


@dataclass(frozen=True, slots=True)
class SmResp(Pdu):
    """submit_sm_resp or deliver_sm_resp (whose message_id is empty)."""

    message_id: str = ""

    def body(self) -> bytes:
        return _cstr(self.message_id)


@dataclass(frozen=True, slots=True)
class QuerySm(Pdu):
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""

    def body(self) -> bytes:
        return _cstr(self.message_id) + bytes((self.source_addr_ton, self.source_addr_npi)) + _cstr(self.source_addr)


@dataclass(frozen=True, slots=True)
class QuerySmResp(Pdu):
    message_id: str = ""
    final_date: str = ""
    message_state: int = 0
    error_code: int = 0

    def body(self) -> bytes:
        return _cstr(self.message_id) + _cstr(self.final_date) + bytes((self.message_state, self.error_code))


@dataclass(frozen=True, slots=True)
class CancelSm(Pdu):
    service_type: str = ""
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""

    def body(self) -> bytes:
        return (
            _cstr(self.service_type)
            + _cstr(self.message_id)
            + bytes((self.source_addr_ton, self.source_addr_npi))
            + _cstr(self.source_addr)
            + bytes((self.dest_addr_ton, self.dest_addr_npi))
            + _cstr(self.destination_addr)
        )


@dataclass(frozen=True, slots=True)
class RawPdu(Pdu):
    """A command this codec does not read: its header and its body as they came."""

    data: bytes = field(default=b"", repr=False)

    def body(self) -> bytes:
        return self.data


@dataclass(frozen=True, slots=True)
class Malformed:
    """A PDU whose header was read but whose body was not: answer ``status`` to ``sequence``."""

    command: int
    sequence: int
    status: Status
    why: str

    @property
    def is_response(self) -> bool:
        return bool(self.command & RESPONSE)


# --- decoding ------------------------------------------------------------------------------

_BINDS = {Command.BIND_RECEIVER, Command.BIND_TRANSMITTER, Command.BIND_TRANSCEIVER}
_BIND_RESPS = {Command.BIND_RECEIVER_RESP, Command.BIND_TRANSMITTER_RESP, Command.BIND_TRANSCEIVER_RESP}
_EMPTY = {
    Command.UNBIND,
    Command.UNBIND_RESP,
    Command.ENQUIRE_LINK,
    Command.ENQUIRE_LINK_RESP,
    Command.CANCEL_SM_RESP,
}


def _bind(command: int, sequence: int, status: int, r: _Reader) -> Pdu:
    pdu = Bind(
        command,
        sequence,
        status,
        system_id=r.cstring("system_id", 16),
        password=r.cstring("password", 9),
        system_type=r.cstring("system_type", 13),
        interface_version=r.byte("interface_version"),
        addr_ton=r.byte("addr_ton"),
        addr_npi=r.byte("addr_npi"),
        address_range=r.cstring("address_range", 41),
    )
    r.end()
    return pdu


def _short_message(command: int, sequence: int, status: int, r: _Reader) -> Pdu:
    service_type = r.cstring("service_type", 6)
    source_ton, source_npi = r.byte("source_addr_ton"), r.byte("source_addr_npi")
    source = r.cstring("source_addr", 21)
    dest_ton, dest_npi = r.byte("dest_addr_ton"), r.byte("dest_addr_npi")
    dest = r.cstring("destination_addr", 21)
    esm_class, protocol_id, priority = r.byte("esm_class"), r.byte("protocol_id"), r.byte("priority_flag")
    schedule = r.cstring("schedule_delivery_time", 17)
    validity = r.cstring("validity_period", 17)
    registered, replace = r.byte("registered_delivery"), r.byte("replace_if_present_flag")
    data_coding, default_id = r.byte("data_coding"), r.byte("sm_default_msg_id")
    length = r.byte("sm_length")
    text = r.octets("short_message", length)
    return ShortMessage(
        command,
        sequence,
        status,
        service_type=service_type,
        source_addr_ton=source_ton,
        source_addr_npi=source_npi,
        source_addr=source,
        dest_addr_ton=dest_ton,
        dest_addr_npi=dest_npi,
        destination_addr=dest,
        esm_class=esm_class,
        protocol_id=protocol_id,
        priority_flag=priority,
        schedule_delivery_time=schedule,
        validity_period=validity,
        registered_delivery=registered,
        replace_if_present_flag=replace,
        data_coding=data_coding,
        sm_default_msg_id=default_id,
        short_message=text,
        tlvs=r.tlvs(),
    )


def _body(command: int, sequence: int, status: int, r: _Reader) -> Pdu:
    if command in _BINDS:
        return _bind(command, sequence, status, r)
    if command in (Command.SUBMIT_SM, Command.DELIVER_SM):
        return _short_message(command, sequence, status, r)
    if command == Command.GENERIC_NACK:
        r.end()
        return GenericNack(command, sequence, status)
    if status and command & RESPONSE and not r.data:
        return Empty(command, sequence, status)  # a refusal: no body
    if command in _EMPTY:
        r.end()
        return Empty(command, sequence, status)
    if command in _BIND_RESPS:
        return BindResp(command, sequence, status, r.cstring("system_id", 16), r.tlvs())
    if command in (Command.SUBMIT_SM_RESP, Command.DELIVER_SM_RESP):
        pdu: Pdu = SmResp(command, sequence, status, r.cstring("message_id", 65))
    elif command == Command.QUERY_SM:
        pdu = QuerySm(
            command,
            sequence,
            status,
            r.cstring("message_id", 65),
            r.byte("source_addr_ton"),
            r.byte("source_addr_npi"),
            r.cstring("source_addr", 21),
        )
    elif command == Command.QUERY_SM_RESP:
        pdu = QuerySmResp(
            command,
            sequence,
            status,
            r.cstring("message_id", 65),
            r.cstring("final_date", 17),
            r.byte("message_state"),
            r.byte("error_code"),
        )
    elif command == Command.CANCEL_SM:
        pdu = CancelSm(
            command,
            sequence,
            status,
            r.cstring("service_type", 6),
            r.cstring("message_id", 65),
            r.byte("source_addr_ton"),
            r.byte("source_addr_npi"),
            r.cstring("source_addr", 21),
            r.byte("dest_addr_ton"),
            r.byte("dest_addr_npi"),
            r.cstring("destination_addr", 21),
        )
    else:
        return RawPdu(command, sequence, status, r.data)
    r.end()
    return pdu


def decode(data: bytes) -> Pdu | Malformed:
    """One whole PDU (``command_length`` octets, header included).

    ``FramingError`` if its length field does not say ``len(data)``; a body that cannot be read
    is a ``Malformed``, never an exception."""
    if len(data) < HEADER:
        raise FramingError(len(data), f"a PDU is at least {HEADER} octets, not {len(data)}")
    length, command, status, sequence = struct.unpack_from(">IIII", data)
    if length != len(data):
        raise FramingError(length, f"command_length says {length} octets, the PDU has {len(data)}")
    try:
        return _body(command, sequence, status, _Reader(data[HEADER:]))
    except _BodyError as exc:
        return Malformed(command, sequence, exc.status, exc.why)


class PduReader:
    """Frames a byte stream into PDUs (``feed`` what arrived, then take ``next()`` until None)."""

    def __init__(self, max_length: int = MAX_PDU) -> None:
        self._buffer = bytearray()
        self._max = max_length

    def feed(self, data: bytes) -> None:
        self._buffer += data

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def next(self) -> Pdu | Malformed | None:
        """The next whole PDU, or None until more bytes come; ``FramingError`` if the stream is lost."""
        buf = self._buffer
        if len(buf) < 4:
            return None
        (length,) = struct.unpack_from(">I", buf)
        if length < HEADER or length > self._max:
            raise FramingError(length, f"command_length {length} is not {HEADER} to {self._max} octets")
        if len(buf) < length:
            return None
        data = bytes(buf[:length])
        del buf[:length]
        return decode(data)


_KNOWN = frozenset(int(c) for c in Command)


def response_to(command: int) -> int:
    """The response command of a request this codec knows; ``generic_nack`` for any other command."""
    answer = command | RESPONSE
    return answer if not command & RESPONSE and answer in _KNOWN else Command.GENERIC_NACK
