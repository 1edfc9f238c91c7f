"""The device password of a gateway or a fleet: given, from the environment, or generated once.

With ``password_file`` set (the deployment files set it), the password is ``EJOIN_PASSWORD`` from
the environment when that is set, else the first line of that file (relative to the data
directory), which the first start creates with a random password and prints once; later starts
read it and print nothing.  Without ``password_file``, ``password`` is the password, as before.

``open_door`` says when an address that others can reach answers to credentials anyone would try:
the start logs it and the dashboard shows it.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ENV_PASSWORD = "EJOIN_PASSWORD"
DEFAULT_USERNAME = DEFAULT_PASSWORD = "root"


class PasswordError(ValueError):
    """The password file cannot be read or written; ``str()`` says which and why."""


@dataclass(frozen=True)
class Password:
    value: str
    generated_in: Path | None = None  # the file this start wrote: print the password once, here


def settle_password(password: str, password_file: str, data: str, environ: Mapping[str, str] | None = None) -> Password:
    """The password the device answers to (see the module's doc)."""
    if not password_file:
        return Password(password)
    env = os.environ if environ is None else environ
    from_env = env.get(ENV_PASSWORD, "")
    if from_env:
        return Password(from_env)
    path = Path(password_file)
    if not path.is_absolute():
        path = Path(data) / path
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Password(_generate(path), generated_in=path)
    except (OSError, UnicodeDecodeError) as exc:
        raise PasswordError(f"cannot read the password file {path}: {exc}") from None
    value = text.splitlines()[0].strip() if text.strip() else ""
    if not value:
        raise PasswordError(f"the password file {path} is empty: put a password in it, or delete it for a new one")
    return Password(value)


def _generate(path: Path) -> str:
    value = secrets.token_urlsafe(18)  # 24 characters, 144 bits
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two starts at once cannot both write (and print) one; 0600: the service's own
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return settle_password("", str(path), "", {}).value  # the other start wrote it first
    except OSError as exc:
        raise PasswordError(f"cannot write the password file {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value + "\n")
    return value


def announce(username: str, password: Password) -> str | None:
    """The line to print once (stderr, never a log) when this start generated the password."""
    if password.generated_in is None:
        return None
    return (
        f"ejoin: generated the device password for user {username}: {password.value}\n"
        f"ejoin: it is kept in {password.generated_in} and not shown again "
        f"(or set {ENV_PASSWORD} in the environment)"
    )


def reachable_by_others(host: str) -> bool:
    """Whether an address to listen on is reachable from other machines (not loopback)."""
    name = host.strip().strip("[]")
    if name.lower() == "localhost":
        return False
    try:
        return not ipaddress.ip_address(name).is_loopback
    except ValueError:
        return True  # "" (every interface) or a host name: others may reach it


def open_door(host: str, username: str, password: str) -> str | None:
    """Why the device API is open to anyone who reaches it (a reachable address and credentials anyone
    would try), or None."""
    if not reachable_by_others(host):
        return None
    if (username, password) == (DEFAULT_USERNAME, DEFAULT_PASSWORD):
        why = f"the default credentials {DEFAULT_USERNAME}/{DEFAULT_PASSWORD}"
    elif not password:
        why = "an empty password"
    elif password == username:
        why = "a password equal to the username"
    else:
        return None
    return (
        f"listening on {host or 'every interface'} with {why}: anyone who reaches this address can send "
        f"SMS and change the device; set password (or password_file, docs/operations.md)"
    )
