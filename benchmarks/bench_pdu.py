"""SMS PDU codec figures, each beside a reference measured in the same run.

    .venv/bin/python benchmarks/bench_pdu.py

1. SMS-SUBMIT encoding (``encode_submit_parts``) of a 1-part and a 3-part GSM-7 text and of
   a 2-part UCS-2 text — beside ``segment`` of the same text, the work the send engine
   already does for every SMS.
2. Decoding SMS-DELIVER PDUs — beside ``bytes.fromhex`` plus the gsm0338 codec's decode of
   the same septets; and beside python-gammu's ``DecodePDU`` when it is installed (it is
   not a dependency: GPL, and it needs Debian's libgammu-dev).

A modem sends about one SMS a second, so the point is only that the codec never matters
beside the modem.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from ejoin.protocol.pdu import decode, encode_submit_parts  # noqa: E402
from ejoin.protocol.pdu_fields import pack_septets  # noqa: E402
from ejoin.protocol.text import gsm7_septets, segment  # noqa: E402


def rate(fn: Callable[[], object], seconds: float = 1.0) -> float:
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(100):
            fn()
        n += 100
    return n / (time.perf_counter() - start)


def main() -> None:
    texts = {
        "GSM-7, 1 part": "Your code is 123456. It expires in 10 minutes. {Do not share it}",
        "GSM-7, 3 parts": ("Lorem ipsum dolor sit amet [€], consectetur adipiscing elit. " * 7)[:420],
        "UCS-2, 2 parts": "Привет, мир! 😀 Это тестовое сообщение. " * 3,
    }
    for label, text in texts.items():
        s = segment(text)
        encode = rate(lambda s=s: encode_submit_parts("+4917612345678", s, concat_ref=7))
        ref = rate(lambda text=text: segment(text))
        print(
            f"encode {label:15s} {encode:9.0f} SMS/s ({s.count} PDUs each)   "
            f"reference segment() of the same text: {ref:9.0f}/s ({encode / ref:.0%})"
        )
    body = "Your code is 123456. It expires in 10 minutes. [Do not share it]"
    raw_ud = gsm7_septets(body)
    # no SMSC, SMS-DELIVER from "Design@Home", PID, DCS, time stamp, UDL, packed text
    head = "00" + "04" + "14D0C4F23C7D760390EF7619" + "0000" + "42206101302040"
    pdu = head + f"{len(raw_ud):02X}" + pack_septets(raw_ud).hex().upper()
    assert decode(pdu).text == body
    ours = rate(lambda: decode(pdu))
    floor = rate(lambda: (bytes.fromhex(pdu), raw_ud.decode("gsm03.38")))
    print(
        f"decode SMS-DELIVER         {ours:9.0f} PDUs/s   "
        f"reference fromhex + gsm0338 decode of the septets: {floor:9.0f}/s ({ours / floor:.0%})"
    )
    try:
        import gammu
    except ImportError:
        print("python-gammu not installed: no Gammu reference")
        return
    raw = bytes.fromhex(pdu)
    theirs = rate(lambda: gammu.DecodePDU(raw))
    print(f"decode SMS-DELIVER         {ours:9.0f} PDUs/s   reference python-gammu DecodePDU: {theirs:9.0f}/s")


if __name__ == "__main__":
    main()
