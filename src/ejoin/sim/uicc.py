"""A simulated SIM's files as tools read them through a module: AT+CRSM, AT+CSIM and logical channels.

eSIM and IoT SIM managers read a card's elementary files through a module's AT port (and through
``goip_send_at.html`` on a gateway): restricted access (AT+CRSM, TS 27.007 8.18), generic access
with APDUs (AT+CSIM, 8.17) and logical channels to an application (AT+CCHO/AT+CGLA/AT+CCHC, 8.45-8.47).
The files are those a generated card holds (TS 31.102, TS 51.011): EF_ICCID, EF_IMSI, EF_AD, EF_SPN
and EF_MSISDN.  The card is a plain USIM, not an eUICC: a logical channel opens to the USIM only.
Pure: answers are computed from the card's identity.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..protocol.text import gsm7_septets

USIM_AID = "A0000000871002"  # RID and application code of every USIM AID (TS 101 220 annex E)
OK = "9000"
NOT_FOUND = "6A82"
NO_EF = "6986"  # command not allowed: no current EF
BAD_P1P2 = "6B00"
BAD_INS = "6D00"
BAD_CLASS = "6E00"
BAD_LENGTH = "6700"
TRANSPARENT, LINEAR = 0x41, 0x42  # file descriptor bytes (TS 102 221 11.1.1.4.3)
RECORD = 28  # bytes of an EF_MSISDN record: 14 of alpha identifier, 14 of number


def _bcd(digits: str) -> bytes:
    """Digits as swapped BCD nibbles, an odd last one padded with F (TS 31.102 4.2.2, 51.011 10.5.1)."""
    padded = digits + "F" * (len(digits) % 2)
    return bytes.fromhex("".join(padded[i + 1] + padded[i] for i in range(0, len(padded), 2)))


def iccid_file(iccid: str) -> bytes:
    return _bcd(iccid.ljust(20, "F"))[:10]


def imsi_file(imsi: str) -> bytes:
    """EF_IMSI: the length, then the parity nibble and the digits (TS 31.102 4.2.2)."""
    if not imsi:
        return b"\xff" * 9
    parity = "9" if len(imsi) % 2 else "1"
    body = _bcd(parity + imsi)
    return bytes([len(body)]) + body.ljust(8, b"\xff")


def spn_file(name: str) -> bytes:
    """EF_SPN: the display condition, then the name in the default alphabet, unpacked, FF-padded."""
    try:
        septets = bytes(gsm7_septets(name))[:16]
    except ValueError:
        septets = b""
    return b"\x00" + septets.ljust(16, b"\xff")


def msisdn_record(number: str) -> bytes:
    """EF_MSISDN, one record: no alpha identifier, then the number (TS 31.102 4.2.26, 51.011 10.5.5)."""
    digits = number.lstrip("+")
    if not digits.isdigit():
        return b"\xff" * RECORD
    body = _bcd(digits[:20])
    toa = 0x91 if number.startswith("+") else 0x81
    return b"\xff" * 14 + bytes([len(body) + 1, toa]) + body.ljust(10, b"\xff") + b"\xff\xff"


@dataclass(frozen=True)
class CardFiles:
    """The card's identity, as its files hold it."""

    iccid: str
    imsi: str
    number: str = ""
    spn: str = ""
    plmn: str = ""  # the home network (MCC and MNC): the MNC's length goes into EF_AD

    @classmethod
    def of(cls, iccid: str, imsi: str, number: str, operator: str) -> CardFiles:
        """From a card's record, whose operator is "<PLMN> <name>"."""
        plmn, _, name = operator.partition(" ")
        return cls(iccid, imsi, number, name, plmn if plmn.isdigit() else "")

    def file(self, fid: int) -> tuple[int, bytes] | None:
        """(structure, content) of the elementary file ``fid``, or None."""
        if fid == 0x2FE2:
            return TRANSPARENT, iccid_file(self.iccid)
        if fid == 0x6F07:
            return TRANSPARENT, imsi_file(self.imsi)
        if fid == 0x6FAD:  # EF_AD: normal operation, the MNC's length
            return TRANSPARENT, bytes([0, 0, 0, 3 if len(self.plmn) == 6 else 2])
        if fid == 0x6F46:
            return TRANSPARENT, spn_file(self.spn)
        if fid == 0x6F40:
            return LINEAR, msisdn_record(self.number)
        return None


def fcp(fid: int, structure: int, content: bytes) -> bytes:
    """The FCP template a SELECT (or AT+CRSM GET RESPONSE) gives of an EF (TS 102 221 11.1.1.3)."""
    size = len(content)
    if structure == LINEAR:
        descriptor = bytes([0x82, 0x05, LINEAR, 0x21, 0x00, RECORD, size // RECORD])
    else:
        descriptor = bytes([0x82, 0x02, TRANSPARENT, 0x21])
    body = descriptor + bytes([0x83, 0x02, fid >> 8, fid & 0xFF, 0x80, 0x02, size >> 8, size & 0xFF])
    return bytes([0x62, len(body)]) + body


@dataclass
class Channel:
    """What a (basic or logical) channel has selected."""

    ef: int | None = None


@dataclass
class Uicc:
    """A card behind a module: restricted access, APDUs on the basic channel and on logical channels."""

    files: CardFiles
    channels: dict[int, Channel] = field(default_factory=lambda: {0: Channel()})

    # --- AT+CRSM -------------------------------------------------------------------------------------

    def crsm(self, command: int, fid: int, p1: int = 0, p2: int = 0, p3: int = 0) -> tuple[int, int, str]:
        """(sw1, sw2, response hex) of AT+CRSM: 176 READ BINARY, 178 READ RECORD, 192 GET RESPONSE, 242 STATUS."""
        if command == 242:
            return 0x90, 0x00, ""
        found = self.files.file(fid)
        if found is None:
            return 0x6A, 0x82, ""
        structure, content = found
        if command == 192:
            return 0x90, 0x00, fcp(fid, structure, content).hex().upper()
        if command == 176 and structure == TRANSPARENT:
            offset = (p1 << 8) | p2
            data = content[offset : offset + p3] if p3 else content[offset:]
            return (0x90, 0x00, data.hex().upper()) if offset <= len(content) else (0x6B, 0x00, "")
        if command == 178 and structure == LINEAR:
            count = len(content) // RECORD
            if not 1 <= p1 <= count:
                return 0x6A, 0x83, ""
            return 0x90, 0x00, content[(p1 - 1) * RECORD : p1 * RECORD].hex().upper()
        return 0x69, 0x81, ""  # command incompatible with the file structure

    # --- APDUs ---------------------------------------------------------------------------------------

    def open_channel(self, aid: str) -> int | None:
        """A logical channel to the application ``aid`` (hex): its number, or None if the card has none such."""
        if not aid.upper().startswith(USIM_AID):
            return None
        number = next(n for n in range(1, 20) if n not in self.channels)
        if number > 3:  # a card has 3 logical channels besides the basic one (TS 102 221 11.1.17)
            return None
        self.channels[number] = Channel()
        return number

    def close_channel(self, number: int) -> bool:
        return number != 0 and self.channels.pop(number, None) is not None

    def apdu(self, command: str, channel: int = 0) -> str:
        """The response (data and status word, hex) to one command APDU (hex) on ``channel``."""
        try:
            raw = bytes.fromhex(command)
        except ValueError:
            return BAD_LENGTH
        if len(raw) < 4:
            return BAD_LENGTH
        state = self.channels.get(channel)
        if state is None:
            return "6881"  # logical channel not supported
        cla, ins, p1, p2 = raw[:4]
        if cla not in (0x00, 0xA0) and cla & 0xF0 not in (0x00, 0x40):
            return BAD_CLASS
        body = raw[5 : 5 + raw[4]] if len(raw) > 5 else b""
        le = raw[4] if len(raw) == 5 else 0
        if ins == 0xA4:
            return self._select(state, p1, p2, body)
        if ins == 0xF2:
            return OK
        if state.ef is None:
            return NO_EF if ins in (0xB0, 0xB2) else BAD_INS
        found = self.files.file(state.ef)
        assert found is not None
        structure, content = found
        if ins == 0xB0:
            if structure != TRANSPARENT:
                return "6981"
            offset = (p1 << 8) | p2
            if offset > len(content):
                return BAD_P1P2
            return (content[offset : offset + le] if le else content[offset:]).hex().upper() + OK
        if ins == 0xB2:
            if structure != LINEAR or p2 != 0x04:
                return "6981" if structure != LINEAR else BAD_P1P2
            if not 1 <= p1 <= len(content) // RECORD:
                return "6A83"
            return content[(p1 - 1) * RECORD : p1 * RECORD].hex().upper() + OK
        return BAD_INS

    def _select(self, state: Channel, p1: int, p2: int, body: bytes) -> str:
        if p1 == 0x04:  # by application name: the USIM's ADF
            if not body.hex().upper().startswith(USIM_AID):
                return NOT_FOUND
            state.ef = None
            return OK
        if len(body) != 2:
            return BAD_LENGTH
        fid = (body[0] << 8) | body[1]
        if fid in (0x3F00, 0x7FFF, 0x7F20, 0x7F10):  # MF, the current ADF, DF_GSM, DF_TELECOM
            state.ef = None
            return OK
        found = self.files.file(fid)
        if found is None:
            return NOT_FOUND
        state.ef = fid
        if p2 == 0x0C:  # no data wanted
            return OK
        return fcp(fid, *found).hex().upper() + OK
