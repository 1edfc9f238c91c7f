"""SMS in PDU mode (3GPP TS 23.040): SMS-SUBMIT to send, SMS-DELIVER and SMS-STATUS-REPORT received.

What an AT driver needs around ``AT+CMGS``, ``+CMGR``, ``+CMGL``, ``+CMT`` and ``+CDS``:

- ``encode_submit`` / ``encode_submit_parts`` build the hex for ``AT+CMGS=<tpdu_length>``
  from a text (or one ``Segmented`` part, or 8-bit data): GSM-7 packed (with fill bits
  after a header), UCS-2, or 8-bit; an 8-bit concatenation reference for multi-part texts;
  a relative or absolute validity period; a status report request (TP-SRR).
- ``decode`` reads a PDU as a modem shows it (the service centre address first, unless
  the modem's length says there is none) into a ``Deliver``, a ``StatusReport`` or a
  ``Submit`` (a message stored on the SIM). Anything it cannot read is a ``PduError`` with a reason, never an
  IndexError.

Pure: no I/O and no clock; the caller picks references.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from .pdu_fields import (
    Address,
    Concat,
    DataCoding,
    InfoElement,
    PduError,
    Ports,
    Reader,
    Ton,
    alphabet_coding,
    decode_address,
    decode_dcs,
    decode_enhanced_validity,
    decode_relative_validity,
    decode_smsc,
    decode_timestamp,
    decode_udh,
    encode_address,
    encode_dcs,
    encode_relative_validity,
    encode_smsc,
    encode_timestamp,
    encode_udh,
    pack_septets,
    text_septets,
    unpack_septets,
)
from .text import Alphabet, Segmented, gsm7_text, segment

__all__ = [
    "Address",
    "DataCoding",
    "Concat",
    "Deliver",
    "InfoElement",
    "Outcome",
    "Pdu",
    "PduError",
    "Ports",
    "StatusReport",
    "Submit",
    "SubmitPdu",
    "Ton",
    "UserData",
    "decode",
    "encode_deliver",
    "encode_status_report",
    "encode_submit",
    "encode_submit_parts",
    "status_outcome",
    "status_text",
]

MAX_USER_DATA = 140  # octets of TP-UD in one SMS

# TP-MTI, the two low bits of the first octet, as the mobile sees it: 0 SMS-DELIVER, 1 SMS-SUBMIT (stored),
# 2 SMS-STATUS-REPORT, 3 reserved
_MTI_SUBMIT, _MTI_STATUS_REPORT = 1, 2
_RD, _VPF_RELATIVE, _VPF_ENHANCED, _VPF_ABSOLUTE, _SRR, _UDHI, _RP = 0x04, 0x10, 0x08, 0x18, 0x20, 0x40, 0x80
_VPF_MASK = 0x18
_SRI = 0x20  # SMS-DELIVER: TP-SRI at the place of the SUBMIT's TP-SRR


# --- what decode gives -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UserData:
    """TP-UD read: the text (empty for 8-bit data) and what the header said."""

    coding: DataCoding
    text: str
    data: bytes  # after the header: octets (8-bit, UCS-2) or one septet per byte (GSM-7)
    concat: Concat | None
    ports: Ports | None
    udh: tuple[InfoElement, ...]


@dataclass(frozen=True, slots=True)
class Deliver:
    """A received SMS (SMS-DELIVER)."""

    smsc: str  # "" when the PDU had none
    sender: str  # "+49..." (international), digits, or text (alphanumeric)
    sender_type: Ton
    scts: datetime | None  # the service centre's time stamp, with its zone; None if unreadable
    text: str
    coding: DataCoding
    message_class: int | None
    concat: Concat | None
    ports: Ports | None
    udh: tuple[InfoElement, ...]
    data: bytes
    pid: int
    reply_path: bool
    report_indicated: bool  # TP-SRI: the sender asked for a status report
    compressed: bool  # TS 23.038 compression: text is then "" and data the compressed octets
    trailing: bytes = b""  # what the PDU had after its user data (a SIM record's rest), ignored


@dataclass(frozen=True, slots=True)
class Submit:
    """An SMS to send (SMS-SUBMIT), as ``encode_submit`` makes them or a modem stored one."""

    smsc: str
    ref: int  # TP-MR
    recipient: str
    recipient_type: Ton
    text: str
    coding: DataCoding
    message_class: int | None
    concat: Concat | None
    ports: Ports | None
    udh: tuple[InfoElement, ...]
    data: bytes
    pid: int
    validity: timedelta | datetime | None  # relative or enhanced: timedelta; absolute: datetime
    request_report: bool  # TP-SRR
    reject_duplicates: bool
    reply_path: bool
    trailing: bytes = b""  # what the PDU had after its user data, ignored


class Outcome(StrEnum):
    """TP-Status classes (TS 23.040 9.2.3.15)."""

    DELIVERED = "delivered"  # 0x00-0x1F: the transaction is complete
    PENDING = "pending"  # 0x20-0x3F: a temporary error, the service centre is still trying
    FAILED = "failed"  # 0x40 and up: a permanent error, or a temporary one it no longer retries


_STATUS_TEXT = {
    0x00: "received by the recipient",
    0x01: "forwarded to the recipient, delivery not confirmed",
    0x02: "replaced by the service centre",
    0x20: "congestion",
    0x21: "recipient busy",
    0x22: "no response from the recipient",
    0x23: "service rejected",
    0x24: "quality of service not available",
    0x25: "error in the recipient",
    0x40: "remote procedure error",
    0x41: "incompatible destination",
    0x42: "connection rejected by the recipient",
    0x43: "not obtainable",
    0x44: "quality of service not available",
    0x45: "no interworking available",
    0x46: "validity period expired",
    0x47: "deleted by the sender",
    0x48: "deleted by the service centre",
    0x49: "message does not exist",
}


def status_outcome(status: int) -> Outcome:
    if status < 0x20:
        return Outcome.DELIVERED
    if status < 0x40:
        return Outcome.PENDING
    return Outcome.FAILED


def status_text(status: int) -> str:
    """What TP-Status ``status`` means, in words; service-centre specific and reserved values by class."""
    if status in _STATUS_TEXT:
        return _STATUS_TEXT[status]
    if 0x60 <= status <= 0x65:
        return _STATUS_TEXT[status - 0x40] + ", no more attempts"
    return f"{status_outcome(status).value} (status 0x{status:02X})"


@dataclass(frozen=True, slots=True)
class StatusReport:
    """The network's report on a sent SMS (SMS-STATUS-REPORT)."""

    smsc: str
    ref: int  # TP-MR of the SMS it is about (what +CMGS answered)
    recipient: str
    recipient_type: Ton
    scts: datetime | None  # when the service centre took the SMS
    discharge: datetime | None  # when it was delivered, or the last attempt failed
    status: int

    @property
    def outcome(self) -> Outcome:
        return status_outcome(self.status)

    @property
    def reason(self) -> str:
        return status_text(self.status)


Pdu = Deliver | StatusReport | Submit


# --- encoding --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubmitPdu:
    """What ``AT+CMGS=<tpdu_length>`` needs, then ``hex`` and Ctrl-Z."""

    hex: str  # service centre prefix and TPDU, upper case
    tpdu_length: int  # octets after the service centre prefix


def encode_submit(
    number: str,
    content: str | bytes,
    *,
    alphabet: Alphabet | None = None,
    smsc: str | None = None,
    ref: int = 0,
    concat: Concat | tuple[int, int, int] | None = None,
    request_report: bool = False,
    validity: timedelta | datetime | None = None,
    message_class: int | None = None,
) -> SubmitPdu:
    """One SMS-SUBMIT to ``number`` ("+" international, else as dialled).

    ``content`` is text (in ``alphabet``, by default the one ``segment`` would pick: GSM-7
    when every character has a code, else UCS-2) or ``bytes`` sent as 8-bit data. It must
    fit one SMS with the header ``concat`` (``Concat`` or ``(ref, total, seq)``, 8-bit ref)
    adds: 160/153 septets, 140/134 octets.
    ``smsc`` None uses the SIM's service centre. ``ref`` is TP-MR (modems usually put their
    own). ``validity`` as a timedelta is rounded up to the next relative value the network
    knows; as a datetime it is sent as it is (absolute format, to the second, naive is UTC).
    """
    if not 0 <= ref <= 0xFF:
        raise PduError(f"a message reference (TP-MR) is 0-255, not {ref}")
    header = encode_udh(Concat(*concat) if isinstance(concat, tuple) else concat)
    if isinstance(content, bytes):
        coding = DataCoding.DATA8
        user_data, length = header + content, len(header) + len(content)
    else:
        coding = alphabet_coding(alphabet or segment(content).alphabet)
        user_data, length = _text_user_data(content, coding, header)
    if len(user_data) > MAX_USER_DATA:
        raise PduError(f"the message needs {len(user_data)} bytes of user data; one SMS carries {MAX_USER_DATA}")
    first = _MTI_SUBMIT | (_SRR if request_report else 0) | (_UDHI if header else 0)
    vp = b""
    if isinstance(validity, datetime):
        first |= _VPF_ABSOLUTE
        vp = encode_timestamp(validity)
    elif validity is not None:
        first |= _VPF_RELATIVE
        vp = bytes((encode_relative_validity(validity),))
    tpdu = (
        bytes((first, ref))
        + encode_address(number)
        + bytes((0, encode_dcs(coding, message_class)))
        + vp
        + bytes((length,))
        + user_data
    )
    return SubmitPdu((encode_smsc(smsc) + tpdu).hex().upper(), len(tpdu))


def _text_user_data(text: str, coding: DataCoding, header: bytes) -> tuple[bytes, int]:
    """TP-UD and TP-UDL for a text after ``header``: UDL counts septets for GSM-7, octets otherwise."""
    if coding is DataCoding.UCS2:
        try:
            body = text.encode("utf-16-be")
        except UnicodeEncodeError as e:
            raise PduError(f"the text is not valid Unicode ({e.reason} at character {e.start + 1})") from None
        return header + body, len(header) + len(body)
    septets = text_septets(text)
    header_septets = (len(header) * 8 + 6) // 7
    fill = header_septets * 7 - len(header) * 8
    return header + pack_septets(septets, fill), header_septets + len(septets)


def encode_submit_parts(
    number: str,
    text: Segmented,
    *,
    concat_ref: int = 0,
    smsc: str | None = None,
    request_report: bool = False,
    validity: timedelta | datetime | None = None,
) -> list[SubmitPdu]:
    """Every SMS-SUBMIT of a segmented text, in order; ``concat_ref`` (0-255) ties the parts together.

    A one-part text has no header. The caller keeps ``concat_ref`` changing from message to
    message (per module), so a phone does not join parts of two different texts.
    """
    total = text.count
    return [
        encode_submit(
            number,
            part,
            alphabet=text.alphabet,
            smsc=smsc,
            concat=Concat(concat_ref, total, seq) if total > 1 else None,
            request_report=request_report,
            validity=validity,
        )
        for seq, part in enumerate(text.parts, 1)
    ]


def encode_deliver(
    sender: str,
    text: str,
    when: datetime,
    *,
    alphabet: Alphabet | None = None,
    concat: Concat | tuple[int, int, int] | None = None,
    smsc: str | None = None,
    message_class: int | None = None,
) -> SubmitPdu:
    """An SMS-DELIVER as a module shows a received SMS (``+CMGR``, ``+CMT``): what a modem emulator needs.

    ``sender`` "+" international, digits, or a name (alphanumeric). ``smsc`` None: no service centre
    address (``00``). ``hex`` and ``tpdu_length`` as for ``encode_submit``."""
    header = encode_udh(Concat(*concat) if isinstance(concat, tuple) else concat)
    coding = alphabet_coding(alphabet or segment(text).alphabet)
    user_data, length = _text_user_data(text, coding, header)
    if len(user_data) > MAX_USER_DATA:
        raise PduError(f"the message needs {len(user_data)} bytes of user data; one SMS carries {MAX_USER_DATA}")
    first = 0x04 | (_UDHI if header else 0)  # TP-MMS: no more messages waiting
    if sender and not sender.lstrip("+").isdigit():
        oa = _alphanumeric_address(sender)
    else:
        oa = encode_address(sender)
    tpdu = (
        bytes((first,))
        + oa
        + bytes((0, encode_dcs(coding, message_class)))
        + encode_timestamp(when)
        + bytes((length,))
        + user_data
    )
    return SubmitPdu((encode_smsc(smsc) + tpdu).hex().upper(), len(tpdu))


def _alphanumeric_address(name: str) -> bytes:
    septets = text_septets(name[:11])
    packed = pack_septets(septets)
    return bytes((len(packed) * 2, 0xD0)) + packed


def encode_status_report(
    ref: int, recipient: str, status: int, sent: datetime, done: datetime, *, smsc: str | None = None
) -> SubmitPdu:
    """An SMS-STATUS-REPORT on the SMS with TP-MR ``ref`` (``+CDS``, ``+CMGR`` of a stored report)."""
    if not 0 <= ref <= 0xFF or not 0 <= status <= 0xFF:
        raise PduError("a message reference and a status are 0-255")
    tpdu = (
        bytes((_MTI_STATUS_REPORT, ref))
        + encode_address(recipient, "recipient")
        + encode_timestamp(sent)
        + encode_timestamp(done)
        + bytes((status,))
    )
    return SubmitPdu((encode_smsc(smsc) + tpdu).hex().upper(), len(tpdu))


# --- decoding --------------------------------------------------------------------------------------


def decode(pdu: str, *, with_smsc: bool = True, tpdu_length: int | None = None) -> Pdu:
    """A PDU in hex as a modem shows it (``+CMGR``/``+CMGL``/``+CMT``/``+CDS``).

    A service centre address leads unless ``with_smsc`` is False. ``tpdu_length``, the
    ``<length>`` the modem printed before the PDU, settles it: some modems leave the
    address out of ``+CDS``, and a PDU exactly that long has none. Where the modem's
    length and the PDU disagree otherwise, what the TPDU says wins: a length larger than
    the PDU (some firmwares print a constant) is not trusted, and bytes after the user
    data (the rest of a SIM record) are ignored and kept in ``trailing``.
    """
    cleaned = "".join(pdu.split()).strip('"')  # a few firmwares quote the PDU line
    try:
        raw = bytes.fromhex(cleaned)
    except ValueError:
        raise PduError(f"a PDU is hexadecimal digits in pairs; {cleaned[:40]!r} is not") from None
    if not raw:
        raise PduError("the PDU is empty")
    if tpdu_length is not None and len(raw) >= tpdu_length:
        with_smsc = with_smsc and len(raw) > tpdu_length
    elif tpdu_length is not None and with_smsc:
        try:
            return _decode(raw, True)
        except PduError:
            return _decode(raw, False)  # the length was wrong anyway: perhaps there is no address either
    return _decode(raw, with_smsc)


def _decode(raw: bytes, with_smsc: bool) -> Pdu:
    r = Reader(raw)
    smsc_address = decode_smsc(r) if with_smsc else None
    smsc = smsc_address.value if smsc_address else ""
    first = r.byte("first octet")
    mti = first & 0x3
    if mti == _MTI_SUBMIT:
        message: Deliver | Submit = _submit(r, first, smsc)
    elif mti == _MTI_STATUS_REPORT:
        return _status_report(r, smsc)  # optional trailing parameters are not read
    else:  # SMS-DELIVER; TS 23.040 9.2.3.1: a mobile reads the reserved type 3 as one too
        message = _deliver(r, first, smsc)
    rest = r.take(r.left, "padding")
    if rest.strip(b"\xff"):  # a SIM record's 0xFF padding is no news; anything else is kept for the log
        message = replace(message, trailing=rest)
    return message


def _deliver(r: Reader, first: int, smsc: str) -> Deliver:
    sender = decode_address(r, "sender address")
    pid = r.byte("protocol identifier")
    dcs = decode_dcs(r.byte("data coding scheme"))
    scts = decode_timestamp(r.take(7, "service centre time stamp"))
    ud = _user_data(r, dcs.coding, bool(first & _UDHI), dcs.compressed)
    return Deliver(
        smsc=smsc,
        sender=sender.value,
        sender_type=sender.ton,
        scts=scts,
        text=ud.text,
        coding=ud.coding,
        message_class=dcs.message_class,
        concat=ud.concat,
        ports=ud.ports,
        udh=ud.udh,
        data=ud.data,
        pid=pid,
        reply_path=bool(first & _RP),
        report_indicated=bool(first & _SRI),
        compressed=dcs.compressed,
    )


def _submit(r: Reader, first: int, smsc: str) -> Submit:
    ref = r.byte("message reference")
    recipient = decode_address(r, "recipient address")
    pid = r.byte("protocol identifier")
    dcs = decode_dcs(r.byte("data coding scheme"))
    vpf = first & _VPF_MASK
    validity: timedelta | datetime | None = None
    if vpf == _VPF_RELATIVE:
        validity = decode_relative_validity(r.byte("validity period"))
    elif vpf == _VPF_ENHANCED:
        validity = decode_enhanced_validity(r.take(7, "validity period"))
    elif vpf == _VPF_ABSOLUTE:
        validity = decode_timestamp(r.take(7, "validity period"))
    ud = _user_data(r, dcs.coding, bool(first & _UDHI), dcs.compressed)
    return Submit(
        smsc=smsc,
        ref=ref,
        recipient=recipient.value,
        recipient_type=recipient.ton,
        text=ud.text,
        coding=ud.coding,
        message_class=dcs.message_class,
        concat=ud.concat,
        ports=ud.ports,
        udh=ud.udh,
        data=ud.data,
        pid=pid,
        validity=validity,
        request_report=bool(first & _SRR),
        reject_duplicates=bool(first & _RD),
        reply_path=bool(first & _RP),
    )


def _status_report(r: Reader, smsc: str) -> StatusReport:
    ref = r.byte("message reference")
    recipient = decode_address(r, "recipient address")
    scts = decode_timestamp(r.take(7, "service centre time stamp"))
    discharge = decode_timestamp(r.take(7, "discharge time"))
    status = r.byte("status")
    return StatusReport(smsc, ref, recipient.value, recipient.ton, scts, discharge, status)


def _user_data(r: Reader, coding: DataCoding, has_header: bool, compressed: bool) -> UserData:
    udl = r.byte("user data length")
    septets = coding is DataCoding.GSM7 and not compressed
    raw = r.take((udl * 7 + 7) // 8 if septets else udl, "user data")
    header = b""
    if has_header:
        if not raw or raw[0] + 1 > len(raw):
            raise PduError("the user data header is longer than the user data")
        header = raw[1 : raw[0] + 1]
    udh = decode_udh(header)
    header_octets = len(header) + 1 if has_header else 0
    if septets:
        header_septets = (header_octets * 8 + 6) // 7
        if header_septets > udl:
            raise PduError("the user data header is longer than the user data")
        fill = header_septets * 7 - header_octets * 8
        data = unpack_septets(raw[header_octets:], udl - header_septets, fill)
        text = gsm7_text(data)
    else:
        data = raw[header_octets:]
        # an odd last byte or a lone surrogate (a pair split across parts) shows as U+FFFD
        text = data.decode("utf-16-be", errors="replace") if coding is DataCoding.UCS2 and not compressed else ""
    return UserData(coding, text, data, udh.concat, udh.ports, udh.elements)
