"""Requests a browser sends for a page of another site: refused (docs/api/security.md).

A page on another origin, opened in a browser on a machine that reaches the
device, can make that browser send requests to it: a form POST (``text/plain``
needs no CORS preflight) that posts a send task, an ``<img>`` whose URL locks a
slot.  With the credentials in the URL the device would obey.  Browsers say
where a request comes from: ``Sec-Fetch-Site`` on every request (Chrome 76,
Firefox 90, Safari 16.4 and later), ``Origin`` on every POST and CORS request.
Platforms' HTTP clients send neither, so they are not affected.

A request is refused (403, the device's JSON shape) when ``Sec-Fetch-Site`` is
``cross-site`` or ``same-site``, or, without it, when an ``Origin`` is not the
device's own (its ``Host``); unless that ``Origin`` is listed in
``allowed_origins`` (a browser-based platform), which then also gets the CORS
answers a browser needs to read the device's answers.  Not refused: ``/healthz``
and ``/openapi.json`` (they reveal nothing), the dashboard's static files, and a
top-level navigation (a link followed) to a dashboard page: its session cookie is
``SameSite=Strict``, so such a page only shows the login.
"""

from __future__ import annotations

import logging

from aiohttp import web

from ..config.server import DEFAULT_PORTS, origin_key
from ..protocol.codes import ResultCode
from ..protocol.operations import HEALTHZ
from .endpoint import DEVICE, error_response
from .layers import LAYERS

log = logging.getLogger(__name__)

HARMLESS = frozenset({HEALTHZ.path, "/openapi.json"})
_FROM_ELSEWHERE = frozenset({"cross-site", "same-site"})
_FROM_HERE = frozenset({"same-origin", "none"})  # "none": typed, bookmarked, or not from a page


def _own_origin(origin: str, request: web.Request) -> bool:
    """The Origin names the host the request was sent to (its Host header), port included."""
    key = origin_key(origin)
    if key is None:
        return False
    scheme = key.split("://", 1)[0]
    host = (request.host or "").lower()
    default = f":{DEFAULT_PORTS[scheme]}"
    if host.endswith(default):
        host = host[: -len(default)]
    return key == f"{scheme}://{host}"


def _exempt(request: web.Request) -> bool:
    path = request.path
    if path in HARMLESS or path.startswith("/dashboard/static/"):
        return True
    if request.method == "GET" and (path == "/" or path == "/dashboard" or path.startswith("/dashboard/")):
        h = request.headers
        return h.get("Sec-Fetch-Mode") == "navigate" and h.get("Sec-Fetch-Dest", "document") == "document"
    return False


def _from_elsewhere(request: web.Request) -> bool:
    site = request.headers.get("Sec-Fetch-Site", "").strip().lower()
    if site in _FROM_ELSEWHERE:
        return True
    if site in _FROM_HERE:
        return False
    origin = request.headers.get("Origin")  # a browser without Sec-Fetch-*, or something else
    return origin is not None and not _own_origin(origin, request)


def allow(response: web.StreamResponse, origin: str) -> web.StreamResponse:
    """The CORS headers that let ``origin``'s page read ``response``."""
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers.add("Vary", "Origin")
    return response


def check(request: web.Request) -> web.StreamResponse | str | None:
    """Before the handler (web/layers.py calls it): None, the request goes on; an allowed origin
    (``allowed_origins``), the request goes on and its answer gets ``allow``; or the answer now
    (a preflight of an allowed origin, or the refusal of a request from another site)."""
    headers = request.headers
    origin = headers.get("Origin")
    if origin is not None and origin_key(origin) in request.app[DEVICE].config.allowed_origins:
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in headers:
            preflight = web.Response(status=204)
            preflight.headers["Access-Control-Allow-Methods"] = "GET, POST"
            preflight.headers["Access-Control-Allow-Headers"] = headers.get(
                "Access-Control-Request-Headers", "Content-Type"
            )
            preflight.headers["Access-Control-Max-Age"] = "600"
            return allow(preflight, origin)
        return origin
    if _from_elsewhere(request) and not _exempt(request):
        where = (origin or headers.get("Sec-Fetch-Site") or "?")[:100]
        # the path only: credentials travel in query strings
        log.info(
            "refused %s %s: a browser sent it for a page of another site (%s)",
            request.method,
            request.path,
            where,
        )
        return error_response(
            ResultCode.FORBIDDEN,
            f"refused: a browser sent this request for a page of another site ({where}); "
            "a browser-based platform's origin may be listed in allowed_origins",
            403,
        )
    return None


def install(app: web.Application) -> None:
    """Refuse requests from other sites on ``app`` (a device app: its ``layers``)."""
    layers = app[LAYERS]
    layers.check, layers.allow = check, allow
