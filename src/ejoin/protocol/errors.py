"""The one base of errors that the device answers with a code of its own."""

from __future__ import annotations


class DeviceError(Exception):
    """An answer with the device's own ``code``, a ``reason`` a person understands, and its HTTP status.

    Raised anywhere below the web layer (planning a command, a USSD refusal, a bad
    parameter); the endpoint mechanism turns it into ``{"code":..,"reason":..}`` in one place.
    """

    def __init__(self, code: int, reason: str, http_status: int = 200) -> None:
        super().__init__(reason)
        self.code = int(code)
        self.reason = reason
        self.http_status = http_status
