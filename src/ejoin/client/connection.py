"""How the client commands reach a device: the common options (--url, --username, --password,
--profile, --secure, --json), profiles, and the client they make.  Shared by every command module,
so that none of them imports the others."""

from __future__ import annotations

import functools
import os
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from .client import Client
from .errors import DeviceUnreachable, EjoinError, InvalidUser, NotAnEjoinDevice
from .terminal import REFUSED, UNREACHABLE, USAGE, UserError, fail

DEFAULT_URL = "http://127.0.0.1:8080"


def _profile(name: str | None) -> dict[str, str]:
    path = Path(os.environ.get("EJOIN_PROFILES", Path.home() / ".config" / "ejoin" / "profiles.toml"))
    if not path.exists():
        if name:
            raise UserError(f"no profile file at {path}")
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} is not a readable TOML file: {exc}") from None
    section = data.get(name or "default", {})
    if not isinstance(section, dict) or (name and not section):
        raise UserError(f"no profile [{name or 'default'}] in {path}")
    return {k: str(v) for k, v in section.items()}


def _given(flag: str | None, env: str, prof: dict[str, str], key: str, default: str) -> str:
    """The first value given, where an empty string counts as given (an empty password is a password)."""
    if flag is not None:
        return flag
    if env in os.environ:
        return os.environ[env]
    return prof.get(key, default)


def with_scheme(url: str) -> str:
    """A device URL as people type it ("192.0.2.10:8080"): http:// when no scheme is given."""
    url = url.strip()
    return url if "://" in url else "http://" + url


def _normal_url(url: str) -> str:
    url = with_scheme(url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        raise UserError(f"{url!r} is not a device URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"{url!r} is not a device URL; give e.g. http://192.0.2.10 or 192.0.2.10:8080")
    return url.rstrip("/")


def device_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    @click.option(
        "--url",
        metavar="URL",
        help=f"Device base URL; http:// is assumed when no scheme is given. Env EJOIN_URL.  [default: {DEFAULT_URL}]",
    )
    @click.option("--username", metavar="NAME", help="Device account. Env EJOIN_USERNAME.  [default: root]")
    @click.option(
        "--password",
        metavar="PASSWORD",
        help="Device password ('' is an empty password). Env EJOIN_PASSWORD.  [default: root]",
    )
    @click.option("--profile", envvar="EJOIN_PROFILE", metavar="NAME", help="A [NAME] section of the profile file.")
    @click.option("--secure", is_flag=True, help="Use a secure session (spec 3) instead of sending the password.")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output (errors too, as JSON).")
    @functools.wraps(fn)
    def wrapper(
        url: str | None,
        username: str | None,
        password: str | None,
        profile: str | None,
        secure: bool,
        as_json: bool,
        **kwargs: Any,
    ) -> Any:
        try:
            prof = _profile(profile)
            settings = {
                "url": _normal_url(url or os.environ.get("EJOIN_URL") or prof.get("url") or DEFAULT_URL),
                "username": _given(username, "EJOIN_USERNAME", prof, "username", "root"),
                "password": _given(password, "EJOIN_PASSWORD", prof, "password", "root"),
                "secure": secure or prof.get("secure", "").lower() in ("1", "true", "yes"),
            }
            return fn(settings, as_json, **kwargs)
        except UserError as exc:
            if not as_json:
                raise
            fail(as_json, "usage", exc.format_message(), USAGE)
        except DeviceUnreachable as exc:
            fail(as_json, "unreachable", f"cannot reach {settings['url']}: {exc.reason}", UNREACHABLE)
        except InvalidUser as exc:
            message = f"wrong username or password for {settings['url']} (the device answered {exc.code} {exc.reason})"
            fail(as_json, "credentials", message, REFUSED, code=exc.code, reason=exc.reason)
        except EjoinError as exc:
            if isinstance(exc, NotAnEjoinDevice) or exc.http_status in (404, 405):
                message = f"not an EJOIN device: HTTP {exc.http_status} from {settings['url']}"
                fail(as_json, "not-ejoin", message, UNREACHABLE, http_status=exc.http_status)
            message = f"the device refused: {exc.code} {exc.reason}"
            fail(as_json, "refused", message, REFUSED, code=exc.code, reason=exc.reason)

    return wrapper


def _client(s: dict[str, Any], **options: Any) -> Client:
    return Client(s["url"], s["username"], s["password"], secure=s["secure"], **options)
