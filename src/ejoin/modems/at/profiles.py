"""What differs between module vendors, as far as the driver cares.

Shared by the driver and the emulator (which plays a module of a profile), so
both sides agree on each quirk.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    manufacturer: str
    model: str
    # Commands that read the ICCID, tried in order: (command, prefix of its answer line or "" for a bare line).
    iccid: tuple[tuple[str, str], ...]
    init: tuple[str, ...] = ()  # vendor commands after the generic bring-up
    first_index: int = 1  # the first storage index (Huawei counts from 0)
    # Selects the SIM slot (0-based) on dual-SIM modules; None: one SIM only.
    slot_command: str | None = None
    restart: str = "AT+CFUN=1,1"
    ussd_dcs: int = 15  # what AT+CUSD=1 sends as <dcs>
    # The TE character set the driver sets (AT+CSCS) for what modules say in text: USSD strings,
    # operator and card names.  GSM keeps every 7-bit text exact and digits, names of storages and
    # numbers as they are; "" leaves the module's own (read with AT+CSCS?).
    charset: str = "GSM"
    # USSD strings go both ways as hex of packed GSM 7-bit septets, whatever AT+CSCS says (Huawei).
    ussd_packed: bool = False


_CRSM = ("AT+CRSM=176,12258,0,0,10", "+CRSM")  # EF_ICCID read as a binary file: works on most modules

GENERIC = Profile("generic", "3GPP", "generic module", iccid=(_CRSM,))
QUECTEL = Profile(
    "quectel",
    "Quectel",
    "EC25",
    iccid=(("AT+QCCID", "+QCCID"), ("AT+CCID", "+CCID"), _CRSM),
    slot_command="AT+QDSIM={}",
)
SIMCOM = Profile("simcom", "SIMCOM INCORPORATED", "SIM7600E", iccid=(("AT+CICCID", "+ICCID"), ("AT+CCID", ""), _CRSM))
HUAWEI = Profile(
    "huawei",
    "huawei",
    "E3372",
    iccid=(("AT^ICCID?", "^ICCID"), _CRSM),
    init=("AT^CURC=0",),  # silence ^RSSI, ^HCSQ, ^MODE ... reports
    first_index=0,
    ussd_packed=True,
)

TELIT = Profile("telit", "Telit", "LE910C1-EU", iccid=(("AT#CCID", "#CCID"), ("AT+ICCID", "+ICCID"), _CRSM))
UBLOX = Profile("ublox", "u-blox", "TOBY-L210", iccid=(("AT+CCID", "+CCID"), _CRSM))
WAVECOM = Profile("wavecom", "WAVECOM MODEM", "MULTIBAND  900E  1800", iccid=(("AT+CCID", "+CCID"), _CRSM))

PROFILES = {p.name: p for p in (GENERIC, QUECTEL, SIMCOM, HUAWEI, TELIT, UBLOX, WAVECOM)}


def profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown modem profile {name!r}; known: {', '.join(sorted(PROFILES))}") from None


def iccid_from_crsm(answer: str) -> str:
    """The ICCID of an AT+CRSM read of EF_ICCID: ``144,0,"98101430121181157002"`` (BCD, nibbles swapped)."""
    parts = [p.strip().strip('"') for p in answer.split(",")]
    if len(parts) < 3 or parts[0] not in ("144", "145"):
        return ""
    data = parts[2]
    swapped = "".join(data[i + 1] + data[i] for i in range(0, len(data) - 1, 2))
    return swapped.rstrip("Ff")


def crsm_of_iccid(iccid: str) -> str:
    """The reverse of ``iccid_from_crsm`` (what the emulator answers)."""
    padded = iccid + "F" * (20 - len(iccid)) if len(iccid) < 20 else iccid
    return "".join(padded[i + 1] + padded[i] for i in range(0, len(padded) - 1, 2))
