"""Status code tables of the spec, with their texts as the device emits them."""

from __future__ import annotations

from enum import IntEnum


class PortState(IntEnum):
    """Port/slot status, spec 4.1.4 (v2.4.0; 10 is unassigned)."""

    NO_SIM = 0
    IDLE_SIM = 1
    REGISTERING = 2
    REGISTERED = 3
    CALL_CONNECTED = 4
    NO_BALANCE = 5
    REGISTER_FAILED = 6
    LOCKED_BY_DEVICE = 7
    LOCKED_BY_OPERATOR = 8
    SIM_ERROR = 9
    CARD_DETECTED = 11
    USER_LOCKED = 12
    INTER_CALLING = 13
    INTER_CALLING_HOLDING = 14
    ACCESS_NETWORK = 15
    MODULE_TIMEOUT = 16

    @property
    def text(self) -> str:
        return _PORT_STATE_TEXT[self]

    @property
    def label(self) -> str:
        """``"3 Registered"``: the text form used by port-status pushes."""
        return f"{int(self)} {self.text}"

    @property
    def can_send(self) -> bool:
        return self in (PortState.REGISTERED, PortState.CALL_CONNECTED)


def port_state_label(st: int) -> str:
    """The text form of a port state code, also of one outside the table (a member's newer firmware)."""
    try:
        return PortState(st).label
    except ValueError:
        return str(st)


_PORT_STATE_TEXT = {
    PortState.NO_SIM: "No SIM card",
    PortState.IDLE_SIM: "Exist idle SIM card",
    PortState.REGISTERING: "Registering",
    PortState.REGISTERED: "Registered",
    PortState.CALL_CONNECTED: "Call connected",
    PortState.NO_BALANCE: "No balance or alarm",
    PortState.REGISTER_FAILED: "Register failed",
    PortState.LOCKED_BY_DEVICE: "SIM card locked by device",
    PortState.LOCKED_BY_OPERATOR: "SIM card locked by operator",
    PortState.SIM_ERROR: "Recognize SIM card error",
    PortState.CARD_DETECTED: "Card Detected",
    PortState.USER_LOCKED: "User locked",
    PortState.INTER_CALLING: "Port inter-calling",
    PortState.INTER_CALLING_HOLDING: "Inter-calling holding",
    PortState.ACCESS_NETWORK: "Access Mobile Network",
    PortState.MODULE_TIMEOUT: "Module response timeout",
}


class TaskStatus(IntEnum):
    """Send task acceptance codes, spec 6.3.1.4."""

    OK = 0
    INVALID_USER = 1
    INVALID_PORT = 2
    USSD_EXPECTED = 3
    PENDING_USSD = 4
    SIM_UNREGISTERED = 5
    TIMEOUT = 6
    SERVER_ERROR = 7
    SMS_EXPECTED = 8
    TO_EXPECTED = 9
    PENDING_TRANSACTION = 10
    TID_EXPECTED = 11
    FROM_EXPECTED = 12
    DUPLICATED_TASK_ID = 13
    UNAUTHORIZED = 14
    INVALID_CMD = 15
    TOO_MANY_TASK = 16
    MMS_TITLE_EXPECTED = 17
    TOO_MANY_MMS_ATTACHMENTS = 18
    MMS_ATTACHMENTS_EXPECTED = 19
    MMS_ATTACHMENTS_OVERLIMIT = 20

    @property
    def text(self) -> str:
        return _TASK_STATUS_TEXT[self]

    @property
    def label(self) -> str:
        return _TASK_STATUS_LABEL[self]


_TASK_STATUS_TEXT = {
    TaskStatus.OK: "OK",
    TaskStatus.INVALID_USER: "Invalid User",
    TaskStatus.INVALID_PORT: "Invalid Port",
    TaskStatus.USSD_EXPECTED: "USSD Expected",
    TaskStatus.PENDING_USSD: "Pending USSD",
    TaskStatus.SIM_UNREGISTERED: "SIM Unregistered",
    TaskStatus.TIMEOUT: "Timeout",
    TaskStatus.SERVER_ERROR: "Server Error",
    TaskStatus.SMS_EXPECTED: "SMS expected",
    TaskStatus.TO_EXPECTED: "TO expected",
    TaskStatus.PENDING_TRANSACTION: "Pending Transaction",
    TaskStatus.TID_EXPECTED: "TID Expected",
    TaskStatus.FROM_EXPECTED: "FROM Expected",
    TaskStatus.DUPLICATED_TASK_ID: "Duplicated TaskId",
    TaskStatus.UNAUTHORIZED: "Unauthorized",
    TaskStatus.INVALID_CMD: "Invalid CMD",
    TaskStatus.TOO_MANY_TASK: "Too Many Task",
    TaskStatus.MMS_TITLE_EXPECTED: "MMS Title expected",
    TaskStatus.TOO_MANY_MMS_ATTACHMENTS: "Too Many MMS Attachments",
    TaskStatus.MMS_ATTACHMENTS_EXPECTED: "MMS Attachments expected",
    TaskStatus.MMS_ATTACHMENTS_OVERLIMIT: "MMS Attachments Cache size Overlimit",
}
# "0 OK": what task statuses say, made once (one per task answered)
_TASK_STATUS_LABEL = {status: f"{int(status)} {text}" for status, text in _TASK_STATUS_TEXT.items()}


class ResultCode(IntEnum):
    """The ``code`` of endpoint answers.

    Success is 0 for goip_send_cmd / goip_get_sms and 200 elsewhere (as the spec's
    examples show).  Failures reuse the task-status numbers where one fits; a
    request that cannot be read at all gets 400, one too large 413
    (docs/decisions.md).
    """

    OK = 0
    INVALID_USER = 1
    INVALID_PORT = 2
    INVALID_CMD = 15
    TOO_MANY = 16
    OK_HTTP = 200
    BAD_REQUEST = 400
    FORBIDDEN = 403  # a browser's request from another site (docs/api/security.md)
    NOT_FOUND = 404
    REQUEST_TIMEOUT = 408
    TOO_LARGE = 413
    URI_TOO_LONG = 414
    HEADERS_TOO_LARGE = 431
    SERVER_ERROR = 500


class SendFailure:
    """Progress reasons of fdr rows (``[4]``): why an SMS did not go out."""

    SEND_FAILED = "1 Send failed"  # the network refused it; [5] says why
    NO_BALANCE = "5 No balance"
    TIMEOUT = "6 Timeout"  # no result within the task's tmo
    INTERRUPTED = "7 Interrupted by restart"  # in a module when the device stopped
    REMOVED = "8 Removed"  # never sent: its task was removed first
    UNKNOWN = "9 Outcome unknown"  # the module took it and never said how it went (lost, silent); [5] says why
    # Reasons of SMS that may have gone out all the same: a delivery report for one proves it was sent.
    UNCONFIRMED = frozenset({TIMEOUT, INTERRUPTED, UNKNOWN})
