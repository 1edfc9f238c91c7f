"""goip_get_status.html (spec 4)."""

from __future__ import annotations

from typing import Protocol

from ..gateway.parameters import ParameterError, parse_url
from ..gateway.status import StatusReporter
from ..protocol import values
from ..protocol.codes import ResultCode
from ..protocol.messages import DevStatus
from .endpoint import ApiError, ApiRequest, endpoint, flag, integer


class StatusParts(Protocol):
    @property
    def reporter(self) -> StatusReporter: ...


def push_settings(req: ApiRequest) -> tuple[str | None, int | None]:
    """``url`` and ``period`` of goip_get_status, each None when not given: read as op=set reads
    ``status_url`` and ``status_period`` (a device's and a fleet's)."""
    period_text = req.param("period")
    period = None
    if period_text is not None:
        period = integer(period_text, "period", default=60, minimum=0, maximum=values.MAX_PERIOD)
    url = req.param("url")
    if url is not None:
        try:
            url = parse_url(url)
        except ParameterError as exc:
            raise ApiError(ResultCode.BAD_REQUEST, f"url: {exc}", 400) from None
    return url, period


@endpoint()
async def get_status(req: ApiRequest, gw: StatusParts) -> DevStatus:
    all_sims = flag(req.param("all_sims"), "all_sims")
    all_slots = flag(req.param("all_slots"), "all_slots")
    url, period = push_settings(req)
    if url is not None or period is not None:
        await gw.reporter.configure(url=url, period=period)
    return gw.reporter.dev_status(all_sims=all_sims, all_slots=all_slots)
