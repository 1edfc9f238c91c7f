"""An access log that never writes secrets: credentials travel in query strings."""

from __future__ import annotations

import logging

from aiohttp.web_log import AccessLogger, KeyMethod
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

SECRET_PARAMS = frozenset({"password", "auth", "push_secret"})


def redacted_path(request: BaseRequest) -> str:
    query = request.rel_url.query
    if not any(k.lower() in SECRET_PARAMS for k in query):
        return request.path_qs
    masked = [(k, "***" if k.lower() in SECRET_PARAMS else v) for k, v in query.items()]
    return str(request.rel_url.with_query(masked))


def _request_line(request: BaseRequest, response: StreamResponse, time: float) -> str:
    if request is None:
        return "-"
    return f"{request.method} {redacted_path(request)} HTTP/{request.version.major}.{request.version.minor}"


class RedactingAccessLogger(AccessLogger):
    # aiohttp looks its formatters up on AccessLogger itself and caches the
    # compiled format for every logger class, so the request line ("%r") is
    # swapped in this instance's copy rather than by overriding a method.
    def __init__(self, logger: logging.Logger, log_format: str = AccessLogger.LOG_FORMAT) -> None:
        super().__init__(logger, log_format)
        self._methods = [
            KeyMethod(k, _request_line) if m is AccessLogger._format_r else KeyMethod(k, m) for k, m in self._methods
        ]
