"""Fill in the expected values of corpus vectors whose ``expected_from`` starts with "python-gammu".

The PDU of such a vector (the line after its +CMGR/+CMGL/+CMT/+CDS header) is read by Gammu's own
codec, and what Gammu makes of it becomes the vector's ``expected``.  Not run by the tests and never
imported by the package (python-gammu is GPL and needs Debian's libgammu-dev).  To run it again:

    apt-get install libgammu-dev && .venv/bin/pip install python-gammu
    .venv/bin/python tests/modems/at/corpus/data/oracle.py

Where Gammu is wrong, the vector says so in ``correction`` (the fields to take instead, null to drop
one, and ``why``), applied on top of what Gammu read.  A vector Gammu cannot read keeps
``{"kind": "readable"}`` when its source says a reader must manage it (gammu's tests/at-sms: it parses
there with the AT layer's help), else ``{"kind": "any"}``.
"""

from __future__ import annotations

import binascii
import json
import re
import sys
from pathlib import Path
from typing import Any

import gammu

HERE = Path(__file__).parent
HEADER = re.compile(r"^\+(CMGR|CMGL|CMT|CDS):")


def read(pdu: str) -> dict[str, Any]:
    sms = gammu.DecodePDU(binascii.unhexlify(pdu))
    kind = sms["Type"]
    if kind == "Status_Report":
        return {
            "kind": "status_report",
            "ref": sms["MessageReference"],
            "recipient": sms["Number"],
            "status": sms["DeliveryStatus"],
        }
    if kind == "Submit":
        return {"kind": "submit"}
    out: dict[str, Any] = {"kind": "deliver", "sender": sms["Number"], "smsc": sms["SMSC"]["Number"]}
    text = sms["Text"]
    if isinstance(text, bytes):
        out["data"] = text.hex().upper()
    else:
        out["text"] = text
    udh = sms["UDH"]
    if udh["Type"].startswith("ConcatenatedMessages"):
        ref = udh["ID16bit"] if udh["Type"].endswith("16bit") else udh["ID8bit"]
        out["concat"] = [ref, udh["AllParts"], udh["PartNumber"]]
    if sms["DateTime"] is not None:
        out["scts"] = sms["DateTime"].isoformat()
    return out


def pdus(vector: dict[str, Any]) -> list[str]:
    """The PDU line after each header of the vector's answer."""
    lines = vector.get("lines") or re.split(r"[\r\n]+", vector.get("raw", ""))
    return [lines[i + 1].strip() for i, line in enumerate(lines[:-1]) if HEADER.match(line.strip())]


def expected(vector: dict[str, Any], pdu: str) -> dict[str, Any]:
    try:
        return read(pdu)
    except (gammu.GSMError, ValueError, binascii.Error) as exc:
        readable = vector["at"].startswith("tests/at-sms/")
        print(f"  {vector['id']}: Gammu cannot read it ({exc})", file=sys.stderr)
        return {"kind": "readable" if readable else "any"}


def main() -> None:
    version = ".".join(gammu.Version()[:1])
    for path in sorted(HERE.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        changed = 0
        for vector in data["vectors"]:
            source = vector.get("expected_from", "")
            if not source.startswith("python-gammu"):
                continue
            found = [expected(vector, pdu) for pdu in pdus(vector)]
            fix = {k: v for k, v in vector.get("correction", {}).items() if k != "why"}
            for one in found:
                one.update(fix)
                for key in [k for k, v in one.items() if v is None]:
                    del one[key]
            if data["category"] == "sms_listed":
                vector["expected"] = {"messages": found}
            else:
                (vector["expected"],) = found
            vector["expected_from"] = re.sub(r"^python-gammu( [0-9.]+)?", f"python-gammu {version}", source)
            changed += 1
        if changed:
            lines = [
                "{",
                *(f"{json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}," for k, v in data.items() if k != "vectors"),
                '"vectors": [',
                ",\n".join(json.dumps(v, ensure_ascii=False) for v in data["vectors"]),
                "]}",
            ]
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            print(f"{path.name}: {changed} vectors read by python-gammu {version}")


if __name__ == "__main__":
    main()
