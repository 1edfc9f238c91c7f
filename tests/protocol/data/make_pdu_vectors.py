"""Regenerate pdu_gammu_vectors.json: PDUs cross-checked against python-gammu (Gammu's own codec).

Not run by the tests and never imported by the package (python-gammu is GPL and needs
Debian's libgammu-dev). To regenerate:

    apt-get install libgammu-dev && .venv/bin/pip install python-gammu
    .venv/bin/python tests/protocol/data/make_pdu_vectors.py

- "submit": our ``encode_submit`` output, read back by ``gammu.DecodePDU``; only cases where
  Gammu reads the number, text, class, report request and concatenation we asked for are
  kept (a disagreement stops the script: it is a bug to look at, not a vector).
- "deliver": SMS-DELIVER PDUs made by ``gammu.EncodePDU`` (GSM-7 packing with fill bits,
  UCS-2, alphanumeric and international senders, 8- and 16-bit concatenation headers,
  message classes), with the fields Gammu was given; the tests decode them with ours.
"""

from __future__ import annotations

import binascii
import json
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import gammu

from ejoin.protocol.pdu import Concat, encode_submit
from ejoin.protocol.text import _BASIC, _EXTENSION, Alphabet, gsm7_septets, segment

SEED = 20261130
OUT = Path(__file__).with_name("pdu_gammu_vectors.json")
GSM = sorted(_BASIC) + sorted(_EXTENSION) * 4  # extension characters often: they are the tricky ones
WIDE = ["中", "文", "ï", "ç", "😀", "🎉", "Ж", "€", "a", " ", "\U0001f600"]
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .-"  # no "@": Gammu packs it as 0x40
_TEMPLATE = gammu.DecodePDU(
    binascii.unhexlify("07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37")
)


def _gammu_sms(**fields: object) -> dict:
    sms = {**_TEMPLATE, "SMSC": dict(_TEMPLATE["SMSC"]), "UDH": dict(_TEMPLATE["UDH"])}
    for key, value in fields.items():
        if isinstance(value, dict):
            sms[key].update(value)
        else:
            sms[key] = value
    return sms


def _number(rng: random.Random) -> str:
    digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(3, 15)))
    return rng.choice(["+", "", "0"]) + digits


def _text(rng: random.Random, ucs2: bool) -> str:
    # no "~" in UCS-2: Gammu's own text format escapes it and its UCS-2 reading mangles it
    pool = [c for c in GSM if c != "~"] + WIDE * 10 if ucs2 else GSM
    return "".join(rng.choice(pool) for _ in range(rng.randint(1, 400)))


def _part(rng: random.Random, ucs2: bool) -> tuple[str, Alphabet, Concat | None]:
    s = segment(_text(rng, ucs2), 1 if ucs2 else 0)
    seq = rng.randint(1, s.count)
    concat = Concat(rng.randint(0, 255), s.count, seq) if s.count > 1 else None
    return s.parts[seq - 1], s.alphabet, concat


def submit_case(rng: random.Random) -> dict:
    text, alphabet, concat = _part(rng, rng.random() < 0.4)
    number = _number(rng)
    smsc = rng.choice([None, "+" + "".join(rng.choice("0123456789") for _ in range(11))])
    report = rng.random() < 0.5
    validity = rng.choice([None, 5, 60, 720, 1440, 2 * 1440, 7 * 1440])
    message_class = rng.choice([None, None, 0, 1, 2, 3])
    pdu = encode_submit(
        number,
        text,
        alphabet=alphabet,
        smsc=smsc,
        concat=concat,
        request_report=report,
        validity=timedelta(minutes=validity) if validity else None,
        message_class=message_class,
    )
    seen = gammu.DecodePDU(binascii.unhexlify(pdu.hex))
    expected = {
        "Number": number,
        "Text": text,
        "Coding": "Default_No_Compression" if alphabet is Alphabet.GSM7 else "Unicode_No_Compression",
        "Class": -1 if message_class is None else message_class,
        "PartNumber": concat.seq if concat else -1,
        "ID8bit": concat.ref if concat else 0,
    }
    got = {
        "Number": seen["Number"],
        # Gammu pads a GSM-7 text to its septet count (an extension character counts 2) with junk
        "Text": seen["Text"][: len(text)],
        "Coding": seen["Coding"],
        "Class": seen["Class"],
        "PartNumber": seen["UDH"]["PartNumber"],
        "ID8bit": seen["UDH"]["ID8bit"],
    }
    if got != expected:
        sys.exit(f"gammu reads {pdu.hex} differently:\n  expected {expected}\n  gammu    {got}")
    return {
        "number": number,
        "text": text,
        "alphabet": alphabet.value,
        "smsc": smsc,
        "concat": [concat.ref, concat.total, concat.seq] if concat else None,
        "request_report": report,
        "validity_minutes": validity,
        "message_class": message_class,
        "pdu": pdu.hex,
        "tpdu_length": pdu.tpdu_length,
    }


def deliver_case(rng: random.Random) -> dict:
    ucs2 = rng.random() < 0.4
    text, _alphabet, concat = _part(rng, ucs2)
    kind = rng.choice(["international", "unknown", "alphanumeric"])  # Gammu types a number without + unknown
    if kind == "alphanumeric":
        sender = "".join(rng.choice(ALNUM) for _ in range(rng.randint(1, 11)))
    else:
        sender = ("+" if kind == "international" else "") + "".join(
            rng.choice("0123456789") for _ in range(rng.randint(3, 15))
        )
    udh = {"Type": "NoUDH", "Text": b""}
    bits = rng.choice([8, 16])
    if concat and bits == 8:
        udh = {"Type": "UserUDH", "Text": bytes((5, 0, 3, concat.ref, concat.total, concat.seq))}
    elif concat:
        # the 16-bit reference's header is one octet longer: 152 septets or 66 UTF-16 units are left
        while len(text.encode("utf-16-be")) > 132 if ucs2 else len(gsm7_septets(text)) > 152:
            text = text[:-1]
        ref = rng.randint(0, 0xFFFF)
        concat = Concat(ref, concat.total, concat.seq, 16)
        udh = {"Type": "UserUDH", "Text": bytes((6, 8, 4, ref >> 8, ref & 0xFF, concat.total, concat.seq))}
    when = datetime(2000, 1, 1) + timedelta(seconds=rng.randint(0, 89 * 365 * 86400))
    message_class = rng.choice([-1, -1, 0, 1, 2, 3])
    sms = _gammu_sms(
        Number=sender,
        Text=text,
        Coding="Unicode_No_Compression" if ucs2 else "Default_No_Compression",
        UDH=udh,
        Class=message_class,
        DateTime=when,
        SMSC={"Number": "+" + "".join(rng.choice("0123456789") for _ in range(11))},
    )
    pdu = gammu.EncodePDU(sms, "Deliver")
    return {
        "pdu": pdu.hex().upper(),
        "smsc": sms["SMSC"]["Number"],
        "sender": sender,
        "sender_type": kind,
        "text": text,
        "concat": [concat.ref, concat.total, concat.seq, concat.ref_bits] if concat else None,
        "message_class": None if message_class < 0 else message_class,
        "scts": when.replace(tzinfo=UTC).isoformat(),
    }


def main() -> None:
    rng = random.Random(SEED)
    vectors: dict[str, object] = {
        "note": "generated by make_pdu_vectors.py with python-gammu " + ".".join(gammu.Version()[:1]),
        "submit": [submit_case(rng) for _ in range(300)],
        "deliver": [deliver_case(rng) for _ in range(300)],
    }
    lines = [f'{{"note": {json.dumps(vectors.pop("note"))},']
    for i, (kind, cases) in enumerate(vectors.items()):
        rows = ",\n".join(json.dumps(case, ensure_ascii=False) for case in cases)
        lines.append(f'"{kind}": [\n{rows}\n]' + ("," if i < len(vectors) - 1 else "}"))
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(vectors['submit'])} submit and {len(vectors['deliver'])} deliver vectors to {OUT}")


if __name__ == "__main__":
    main()
