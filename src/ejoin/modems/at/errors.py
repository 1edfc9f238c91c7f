"""+CMS ERROR codes as the carrier reason of a failed send (the fdr's "code description").

0-127 are the network's RP causes (3GPP TS 24.011 E.2) and TP failure causes,
300 and up the module's own (TS 27.005 3.2.5).
"""

from __future__ import annotations

from ...protocol.at import Final, FinalKind

CMS_TEXT = {
    1: "Unassigned number",
    8: "Operator determined barring",
    10: "Call barred",
    21: "Short message transfer rejected",
    27: "Destination out of service",
    28: "Unidentified subscriber",
    29: "Facility rejected",
    30: "Unknown subscriber",
    38: "Network out of order",
    41: "Temporary failure",
    42: "Congestion",
    47: "Resources unavailable",
    50: "Requested facility not subscribed",
    69: "Requested facility not implemented",
    81: "Invalid short message transfer reference value",
    95: "Invalid message",
    96: "Invalid mandatory information",
    97: "Message type non-existent",
    98: "Message not compatible with short message protocol state",
    99: "Information element non-existent",
    111: "Protocol error",
    127: "Interworking",
    300: "ME failure",
    301: "SMS service of ME reserved",
    302: "Operation not allowed",
    303: "Operation not supported",
    304: "Invalid PDU mode parameter",
    305: "Invalid text mode parameter",
    310: "SIM not inserted",
    311: "SIM PIN required",
    313: "SIM failure",
    314: "SIM busy",
    315: "SIM wrong",
    320: "Memory failure",
    321: "Invalid memory index",
    322: "Memory full",
    330: "SMSC address unknown",
    331: "No network service",
    332: "Network timeout",
    340: "No +CNMA acknowledgement expected",
    500: "Unknown error",
    512: "Message sending failed",  # Quectel, SIMCom: the network refused (often no credit)
}


# Causes that name the recipient, not the module or its network: the same module sends to the next one.
RECIPIENT_CAUSES = frozenset({1, 21, 27, 28, 30})


def refuses_recipient(final: Final) -> bool:
    """Whether the +CMS ERROR is the network refusing this recipient (an unassigned, unknown or
    unreachable number) rather than a failure of the module, its SIM or the network."""
    return final.kind is FinalKind.CMS and final.code in RECIPIENT_CAUSES


def cms_reason(final: Final) -> str:
    """``"38 Network out of order"``; a plain ERROR or a verbose text as it came."""
    if final.kind is FinalKind.CMS and final.code is not None:
        return f"{final.code} {CMS_TEXT.get(final.code, 'Message service error')}"
    if final.kind in (FinalKind.CMS, FinalKind.CME):
        return f"500 {final.text or 'Unknown error'}"
    return f"500 {final.kind.value}"
