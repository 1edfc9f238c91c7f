"""The gateway's handlers, each bound to the operation it serves (``protocol/operations.py``): the app
serves this table (and /metrics, the driver's routes) and /openapi.json documents their operations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..protocol import operations as op
from . import command, health, pushes, receiving, session, sms, stats, status, ussd
from .route import Route

ROUTES: tuple[Route, ...] = (
    Route(op.GET_STATUS, status.get_status),
    Route(op.SEND_CMD, command.send_cmd),
    Route(op.POST_SMS, sms.post_sms),
    Route(op.PAUSE_SMS, sms.pause_sms),
    Route(op.RESUME_SMS, sms.resume_sms),
    Route(op.REMOVE_SMS, sms.remove_sms),
    Route(op.GET_TASKS, sms.get_tasks),
    Route(op.GET_SMS, receiving.get_sms),
    Route(op.GET_SMS_STAT, stats.sms_stat),
    Route(op.GET_CALL_STAT, stats.call_stat),
    Route(op.GET_ESIMS, stats.get_esims),
    Route(op.WRITE_ESIMS, stats.write_esims),
    Route(op.DELETE_ESIMS, stats.delete_esims),
    Route(op.SEND_USSD, ussd.send_ussd),
    Route(op.SEND_AT, ussd.send_at),
    Route(op.CRYPT_SESSION, session.crypt_session),
    Route(op.PUSHES, pushes.list_pushes),
    Route(op.PUSHES_RETRY, pushes.retry_pushes),
    Route(op.PUSHES_DROP, pushes.drop_pushes),
    Route(op.INBOX_RAW, receiving.get_raw),
    Route(op.INBOX_RAW_DROP, receiving.drop_raw),
    Route(op.HEALTHZ, health.healthz),
)

if TYPE_CHECKING:
    from ..gateway.runtime import Gateway
    from .endpoint import Served

    def _a_gateway_has_every_part(gw: Gateway) -> None:
        """For mypy: each handler above takes its parts of the app's device as a Protocol (see
        endpoint); a Gateway must have every one of them."""
        parts: tuple[
            Served,
            status.StatusParts,
            command.CommandParts,
            sms.SendingParts,
            receiving.InboxParts,
            stats.StatsParts,
            stats.EsimParts,
            ussd.PassthroughParts,
            pushes.PushParts,
            health.HealthParts,
        ] = (gw, gw, gw, gw, gw, gw, gw, gw, gw, gw)
        del parts
