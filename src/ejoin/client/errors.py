"""Device answers that are failures, as exceptions with the device's own text."""

from __future__ import annotations

import socket
import ssl

from ..protocol.codes import ResultCode, TaskStatus


class EjoinError(Exception):
    """A failure answered by the device (``code`` and ``reason`` as it sent them)."""

    def __init__(self, code: int, reason: str, http_status: int = 200) -> None:
        super().__init__(f"{code} {reason}")
        self.code = code
        self.reason = reason
        self.http_status = http_status


class InvalidUser(EjoinError):
    """Wrong username/password or session auth."""


class InvalidPort(EjoinError):
    pass


class InvalidCommand(EjoinError):
    pass


class BadRequest(EjoinError):
    pass


class NotAnEjoinDevice(BadRequest):
    """Something answered, but not as an EJOIN device does (HTML, an error page, no JSON object)."""


class SessionError(EjoinError):
    """The secure session was refused (unknown/expired session, replayed seq)."""


class PendingUssd(EjoinError):
    """Another USSD runs on that port (4 Pending USSD)."""


class SimUnregistered(EjoinError):
    """The port's SIM is not registered, or the named slot is not the active one (5)."""


class ModuleTimeout(EjoinError):
    """The network or the module did not answer in time (6 Timeout)."""


class DeviceUnreachable(EjoinError):
    """The network failed (after retries, where the operation allowed them)."""

    def __init__(self, reason: str) -> None:
        super().__init__(-1, reason, 0)


_BY_CODE: dict[int, type[EjoinError]] = {
    ResultCode.INVALID_USER: InvalidUser,
    ResultCode.INVALID_PORT: InvalidPort,
    ResultCode.INVALID_CMD: InvalidCommand,
    ResultCode.BAD_REQUEST: BadRequest,
    ResultCode.TOO_LARGE: BadRequest,
    # the task code table, as the USSD and AT endpoints answer it
    TaskStatus.USSD_EXPECTED: BadRequest,
    TaskStatus.PENDING_USSD: PendingUssd,
    TaskStatus.SIM_UNREGISTERED: SimUnregistered,
    TaskStatus.TIMEOUT: ModuleTimeout,
    401: SessionError,
    409: SessionError,
    503: SessionError,
}


def unreachable_reason(exc: BaseException) -> str:
    """Why a request got no answer, in words, whatever HTTP library failed (httpx, aiohttp): read from
    the operating system's error under it.  Never the library's own message, which may hold the
    request's URL and so its password."""
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and len(chain) < 8:  # the library's error, its transport's, the socket's
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    for e in chain:
        name = type(e).__name__
        if isinstance(e, ConnectionRefusedError):
            return "connection refused (nothing listens there)"
        if isinstance(e, socket.gaierror):
            return f"unknown host ({(e.strerror or 'name not resolved').lower()})"
        if isinstance(e, ssl.SSLCertVerificationError):
            return f"TLS certificate not accepted ({e.verify_message or e.reason})"
        if isinstance(e, ssl.SSLError):
            return f"TLS failed ({e.reason or e.strerror or 'handshake'})"
        if isinstance(e, TimeoutError) or "Timeout" in name:
            return "no answer in time"
        if isinstance(e, ConnectionResetError):
            return "connection reset"
        if "Disconnected" in name or name == "RemoteProtocolError":
            return "the connection closed without an answer"
    for e in reversed(chain):  # the operating system's words, from the error under the others
        if isinstance(e, OSError) and e.strerror and e.errno is not None:
            return e.strerror[:1].lower() + e.strerror[1:]
    return f"no answer ({type(exc).__name__})"


def error_for(code: int, reason: str, http_status: int = 200) -> EjoinError:
    return _BY_CODE.get(code, EjoinError)(code, reason, http_status)
