"""How each vendor's modules say things: the emulator plays a module of a ``Dialect``.

The driver's side of a vendor (which command reads the ICCID, storage from 0, the slot switch) is
its ``Profile`` in modems/at/profiles.py; what only matters to a module's answers is here.  Each
dialect follows what captures of those modules show (the corpus under tests/modems/at/corpus/, whose
data files name their sources): identity answers, the final word for an unknown command, the shape
of registration lines, +CPIN, USSD, and the lines the module prints on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...modems.at.profiles import PROFILES


@dataclass(frozen=True)
class Dialect:
    profile: str  # the driver profile of these modules
    manufacturer: str  # AT+CGMI
    model: str  # AT+CGMM
    revision: str  # AT+CGMR (empty: the module answers ERROR)
    # the final result of a command the module does not know (Huawei: COMMAND NOT SUPPORT)
    unknown: str = "ERROR"
    cpin_ok: bool = True  # Wavecom: +CPIN answers end without OK
    # registration lines: <lac>,<ci> quoted ("1A2B") or bare hex (Huawei: 4CA,81DE445); <AcT> after them
    quoted_location: bool = True
    act: int | None = 7
    c5greg: bool = False  # 5G modules answer AT+C5GREG
    cereg: bool = True  # LTE modules answer AT+CEREG
    # USSD answers: 15 with plain text; Huawei sticks give the packed GSM 7-bit septets in hex
    ussd_packed: bool = False
    boot: tuple[str, ...] = ("RDY",)  # what it prints after power-on
    # what it prints on its own, now and then; the `stray` fault puts these inside answers
    noise: tuple[str, ...] = ()
    ati: tuple[str, ...] = ()  # ATI's lines (default: manufacturer, model, revision)
    alpha: str = ""  # the <alpha> of +CMGR/+CMGL in PDU mode: empty, or "" quoted (Telit)

    def identity(self) -> tuple[str, ...]:
        if self.ati:
            return self.ati
        return tuple(x for x in (self.manufacturer, self.model, self.revision and f"Revision: {self.revision}") if x)


# Lines that come from any 3GPP module on its own: indicator events, call progress (MM's at-serial-port tests).
COMMON_NOISE = ("+CIEV: 7,1", "+CRING: VOICE", '+CLIP: "+0123456789",145,,,,0')

DIALECTS = {
    d.profile: d
    for d in (
        Dialect("generic", "3GPP", "generic module", "EMU01", act=None, noise=COMMON_NOISE),
        Dialect(
            "quectel",
            "Quectel",
            "EC25",
            "EC25EFAR06A06M4G",
            boot=("RDY", "+CFUN: 1", "+CPIN: READY", "+QUSIM: 1", "+QIND: SMS DONE", "+QIND: PB DONE"),
            noise=(*COMMON_NOISE, '+QIND: "csq",20,99', "+QIND: SMS DONE"),
        ),
        Dialect(
            "simcom",
            "SIMCOM INCORPORATED",
            "SIMCOM_SIM7600E-H",
            "LE20B04SIM7600M22",
            boot=("RDY", "+CPIN: READY", "SMS DONE", "PB DONE"),
            noise=(*COMMON_NOISE, "+RXDTMF: 8", '*PSUTTZ: 26,11,30,16,0,0,"+00",0', "DST: 0"),
        ),
        Dialect(  # python-gsmmodem's HuaweiE1752; lines from ModemManager's Huawei tests and gammu issue 126
            "huawei",
            "huawei",
            "E1752",
            "11.126.13.00.00",
            unknown="COMMAND NOT SUPPORT",
            quoted_location=False,
            act=None,
            ussd_packed=True,
            boot=(),
            noise=(
                "^RSSI: 17",
                "^MODE:5,4",
                "^SRVST:0",
                "^HCSQ: LTE,33,40,135,11",
                "^NDISSTAT: 0,,,IPV4",
                "^NWTIME: 26/11/30,16:00:00+00,0",
                "^ORIG:1,0",
                "^CEND:1,5,29,16",
            ),
        ),
        Dialect(  # gammu's at-creg/telit.dump (+CREG with AcT 2); ModemManager's Telit HE910 +CMGR
            "telit",
            "Telit",
            "LE910C1-EU",
            "25.21.660",
            act=2,
            alpha='""',
            boot=("#QSS: 1",),
            noise=(*COMMON_NOISE, "#QSS: 1", "+CIEV: signal,3"),
        ),
        Dialect(  # ModemManager's TOBY-L2 registration tests
            "ublox",
            "u-blox",
            "TOBY-L210",
            "15.90",
            boot=("+CFUN: 1",),
            noise=(*COMMON_NOISE, '+UUPSDA: 0,"10.0.0.2"'),
        ),
        Dialect(  # python-gsmmodem's WavecomMultiband900E1800 (and gammu's at-model dumps)
            "wavecom",
            " WAVECOM MODEM",
            " MULTIBAND  900E  1800",
            "",
            cpin_ok=False,
            act=None,
            cereg=False,
            boot=("+WIND: 0",),
            noise=("+WIND: 5,1", "+WIND: 2", "+WIND: 6,1", '+CLIP: "+27820000000",145'),
        ),
    )
}


def dialect(profile: str) -> Dialect:
    """The dialect of ``profile``'s modules; a plain 3GPP one named after the profile if none is written."""
    found = DIALECTS.get(profile)
    if found is not None:
        return found
    p = PROFILES[profile]
    return Dialect(p.name, p.manufacturer, p.model, "EMU01", act=None, noise=COMMON_NOISE)
