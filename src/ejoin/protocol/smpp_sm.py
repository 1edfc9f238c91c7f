"""What a ``submit_sm`` asks for and what a ``deliver_sm`` says (pure: no I/O, no clock).

- Texts: ``data_coding`` 0 (the SMSC default alphabet: GSM 03.38, one septet an octet; octets
  above 127 are read as Latin-1, which some platforms send as "default"), 1 (IA5/ASCII),
  3 (Latin-1), 8 (UCS-2, big-endian; surrogate pairs kept) and 0xF0-0xF3 (GSM 7-bit with a
  message class).  Any other coding (8-bit data, compressed) is refused.
- The text is in ``short_message`` or in the ``message_payload`` TLV, not both.
- Concatenation: a UDH (``esm_class`` bit 0x40) with an 8-bit (IE 0x00) or 16-bit (IE 0x08)
  concatenation element, or the SAR TLVs; other header elements are skipped.
- Receipts: the usual text (``id:... sub:001 dlvrd:... submit date:... done date:... stat:...
  err:... text:...``, dates UTC as YYMMDDhhmm) with ``receipted_message_id``,
  ``message_state`` and ``network_error_code`` TLVs, ``esm_class`` 0x04.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass

from .numbers import NumberError, phone_number
from .smpp import Command, MessageState, ShortMessage, Status, Tag, Tlvs, tlv
from .text import TextError, gsm7_septets, gsm7_text

__all__ = [
    "Concat",
    "Submission",
    "SmError",
    "read_submit",
    "decode_text",
    "failure_state",
    "reason_code",
    "receipt_pdu",
    "receipt_text",
    "sms_pdu",
    "smpp_time",
    "RECEIPT_ALWAYS",
    "RECEIPT_ON_FAILURE",
]

UDHI = 0x40  # esm_class: short_message begins with a user data header
RECEIPT_ESM_CLASS = 0x04  # esm_class of an SMSC delivery receipt
RECEIPT_ALWAYS, RECEIPT_ON_FAILURE = 1, 2  # registered_delivery & 3
SHORT_MESSAGE_MAX = 254


class SmError(Exception):
    def __init__(self, status: Status, why: str) -> None:
        super().__init__(why)
        self.status = status
        self.why = why


@dataclass(frozen=True, slots=True)
class Concat:
    ref: int
    total: int
    seq: int


@dataclass(frozen=True, slots=True)
class Submission:
    """One submit_sm, read: what the device needs to send it (or to join it to its other parts)."""

    source: str
    destination: str  # a phone number as the device takes it
    text: str
    ucs2: bool  # the platform chose UCS-2: the device sends it so
    receipt: int  # 0 none, RECEIPT_ALWAYS, RECEIPT_ON_FAILURE
    concat: Concat | None


def decode_text(data_coding: int, octets: bytes) -> str:
    if data_coding == 0 or 0xF0 <= data_coding <= 0xF3:
        if data_coding & 0x04:  # 0xF4-0xF7 are 8-bit data
            raise SmError(Status.ESME_RSUBMITFAIL, f"data_coding 0x{data_coding:02x} is 8-bit data, not text")
        if any(b > 0x7F for b in octets):
            return octets.decode("latin-1")
        return gsm7_text(octets)
    if data_coding == 1:
        return octets.decode("ascii", errors="replace")
    if data_coding == 3:
        return octets.decode("latin-1")
    if data_coding == 8:
        if len(octets) % 2:
            raise SmError(Status.ESME_RINVMSGLEN, "a UCS-2 text has an even number of octets")
        return octets.decode("utf-16-be", errors="replace")  # a lone surrogate cannot be sent: U+FFFD
    raise SmError(
        Status.ESME_RSUBMITFAIL,
        f"data_coding 0x{data_coding:02x} is not sent by this gateway (0 GSM, 1 ASCII, 3 Latin-1, 8 UCS-2)",
    )


def _udh(octets: bytes) -> tuple[Concat | None, bytes]:
    if not octets:
        raise SmError(Status.ESME_RINVESMCLASS, "esm_class says a UDH, short_message is empty")
    length = octets[0]
    if length + 1 > len(octets):
        raise SmError(Status.ESME_RINVESMCLASS, "the UDH is longer than short_message")
    header, rest = octets[1 : length + 1], octets[length + 1 :]
    concat = None
    at = 0
    while at < len(header):
        if at + 2 > len(header) or at + 2 + header[at + 1] > len(header):
            raise SmError(Status.ESME_RINVESMCLASS, "a UDH element is cut short")
        iei, size = header[at], header[at + 1]
        data = header[at + 2 : at + 2 + size]
        if iei == 0x00 and size == 3:
            concat = Concat(data[0], data[1], data[2])
        elif iei == 0x08 and size == 4:
            concat = Concat((data[0] << 8) | data[1], data[2], data[3])
        at += 2 + size
    return concat, rest


def _sar(pdu: ShortMessage) -> Concat | None:
    ref, total, seq = (tlv(pdu.tlvs, t) for t in (Tag.SAR_MSG_REF_NUM, Tag.SAR_TOTAL_SEGMENTS, Tag.SAR_SEGMENT_SEQNUM))
    if ref is None and total is None and seq is None:
        return None
    if ref is None or total is None or seq is None or len(ref) != 2 or len(total) != 1 or len(seq) != 1:
        raise SmError(
            Status.ESME_RINVOPTPARAMVAL, "sar_msg_ref_num, sar_total_segments and sar_segment_seqnum go together"
        )
    return Concat(struct.unpack(">H", ref)[0], total[0], seq[0])


def _destination(pdu: ShortMessage) -> str:
    number = pdu.destination_addr.strip()
    if pdu.dest_addr_ton == 1 and number and not number.startswith("+"):
        number = "+" + number  # international
    try:
        return phone_number(number)
    except NumberError as exc:
        raise SmError(Status.ESME_RINVDSTADR, f"destination_addr: {exc}") from None


def read_submit(pdu: ShortMessage) -> Submission:
    """The submission a submit_sm makes; ``SmError`` (with the status to answer) if it cannot be sent."""
    destination = _destination(pdu)
    payload = tlv(pdu.tlvs, Tag.MESSAGE_PAYLOAD)
    octets = pdu.short_message
    if payload is not None:
        if octets:
            raise SmError(Status.ESME_ROPTPARNOTALLWD, "short_message and message_payload are both given")
        octets = payload
    concat = None
    if pdu.esm_class & UDHI:
        concat, octets = _udh(octets)
    concat = concat or _sar(pdu)
    if concat is not None and not (1 <= concat.seq <= concat.total):
        raise SmError(Status.ESME_RINVOPTPARAMVAL, f"part {concat.seq} of {concat.total}")
    if concat is not None and concat.total == 1:
        concat = None
    text = decode_text(pdu.data_coding, octets)
    if not text and concat is None:
        raise SmError(Status.ESME_RINVMSGLEN, "the message is empty")
    return Submission(
        source=pdu.source_addr,
        destination=destination,
        text=text,
        ucs2=pdu.data_coding == 8,
        receipt=pdu.registered_delivery & 0x03,
        concat=concat,
    )


def failure_state(reason: str) -> MessageState:
    """The message state of an SMS the device failed, from its progress reason ("6 Timeout", ...):
    8 Removed is DELETED; 5 No balance REJECTD (the operator would not carry it); 6 Timeout,
    7 Interrupted by restart and 9 Outcome unknown UNKNOWN (it may have gone out); any other
    (1 Send failed: the network refused it) UNDELIV."""
    code = reason_code(reason)
    if code == 8:
        return MessageState.DELETED
    if code == 5:
        return MessageState.REJECTED
    if code in (6, 7, 9):
        return MessageState.UNKNOWN
    return MessageState.UNDELIVERABLE


def reason_code(reason: str) -> int:
    """The number a progress reason starts with (1 when it has none)."""
    head = reason.strip().split(" ", 1)[0]
    return int(head) if head.isdigit() and len(head) < 4 else 1


# --- what the gateway delivers ----------------------------------------------------------------


def _text_octets(text: str) -> tuple[int, bytes]:
    try:
        return 0, gsm7_septets(text)
    except TextError:
        return 8, text.encode("utf-16-be", errors="surrogatepass")


def sms_pdu(source: str, destination: str, text: str) -> ShortMessage:
    """A received SMS as a deliver_sm (sequence 0: the session numbers it when it sends it);
    a text longer than short_message holds goes in message_payload."""
    coding, octets = _text_octets(text)
    tlvs: Tlvs = ()
    body = octets
    if len(octets) > SHORT_MESSAGE_MAX:
        body, tlvs = b"", ((Tag.MESSAGE_PAYLOAD, octets),)
    return ShortMessage(
        Command.DELIVER_SM,
        0,
        0,
        source_addr_ton=1 if source.startswith("+") else 0,
        source_addr_npi=1 if source.startswith("+") else 0,
        source_addr=_address(source),
        destination_addr=_address(destination),
        data_coding=coding,
        short_message=body,
        tlvs=tlvs,
    )


def _address(number: str) -> str:
    return number.removeprefix("+")[:20]


def _minute(ts: float) -> str:
    return time.strftime("%y%m%d%H%M", time.gmtime(ts))


def smpp_time(ts: float) -> str:
    """SMPP absolute time (YYMMDDhhmmsstnnp), UTC."""
    return time.strftime("%y%m%d%H%M%S", time.gmtime(ts)) + "000+"


_RECEIPT_TEXT = 20


def receipt_text(message_id: str, submitted: float, done: float, state: MessageState, err: int, text: str) -> str:
    delivered = "001" if state == MessageState.DELIVERED else "000"
    shown = "".join(ch if ch.isascii() and ch.isprintable() else "?" for ch in text[:_RECEIPT_TEXT])
    return (
        f"id:{message_id} sub:001 dlvrd:{delivered} submit date:{_minute(submitted)} done date:{_minute(done)} "
        f"stat:{state.stat} err:{err % 1000:03d} text:{shown}"
    )


def receipt_pdu(
    message_id: str,
    source: str,
    destination: str,
    submitted: float,
    done: float,
    state: MessageState,
    err: int,
    text: str,
) -> ShortMessage:
    """The delivery receipt of a message the platform submitted (``source``/``destination`` as it gave
    them: the receipt goes from the recipient back to the sender)."""
    body = receipt_text(message_id, submitted, done, state, err, text)
    coding, octets = _text_octets(body)
    return ShortMessage(
        Command.DELIVER_SM,
        0,
        0,
        source_addr=destination[:20],
        destination_addr=source[:20],
        esm_class=RECEIPT_ESM_CLASS,
        data_coding=coding,
        short_message=octets,
        tlvs=(
            (Tag.RECEIPTED_MESSAGE_ID, message_id.encode("ascii") + b"\x00"),
            (Tag.MESSAGE_STATE, bytes((state,))),
            (Tag.NETWORK_ERROR_CODE, bytes((3,)) + struct.pack(">H", err % 65536)),  # 3: GSM
        ),
    )
