"""The client side: an SDK for any EJOIN device (a real box or ``ejoin gateway``).

from ejoin.client import Client, SendTask
with Client("http://127.0.0.1:8080", "root", "root") as dev:
    for port in dev.status().status:
        print(port.port, port.state_text, port.opr)
    print(dev.send_sms("13800000000", "hello").status)
"""

from ..protocol.codes import PortState, TaskStatus
from ..protocol.ports import PortAddress
from .client import AsyncClient, Client
from .errors import (
    BadRequest,
    DeviceUnreachable,
    EjoinError,
    InvalidCommand,
    InvalidPort,
    InvalidUser,
    ModuleTimeout,
    NotAnEjoinDevice,
    PendingUssd,
    SessionError,
    SimUnregistered,
)
from .models import (
    AtAnswer,
    CallStat,
    DeliveryReport,
    DevStatus,
    EsimResult,
    Euicc,
    InboundSms,
    InboxPage,
    PortStatus,
    PushDestination,
    PushQueue,
    SmsStat,
    TaskPage,
    TaskReport,
    TaskResult,
    UssdAnswer,
)
from .tasks import SendTask, new_tid, read_numbers

__all__ = [
    "AsyncClient",
    "AtAnswer",
    "BadRequest",
    "CallStat",
    "Client",
    "DeliveryReport",
    "DevStatus",
    "DeviceUnreachable",
    "EjoinError",
    "EsimResult",
    "Euicc",
    "InboundSms",
    "InboxPage",
    "InvalidCommand",
    "InvalidPort",
    "InvalidUser",
    "NotAnEjoinDevice",
    "ModuleTimeout",
    "PendingUssd",
    "PortAddress",
    "PortState",
    "PortStatus",
    "PushDestination",
    "PushQueue",
    "SendTask",
    "SessionError",
    "SimUnregistered",
    "SmsStat",
    "TaskPage",
    "TaskReport",
    "TaskResult",
    "TaskStatus",
    "UssdAnswer",
    "new_tid",
    "read_numbers",
]
