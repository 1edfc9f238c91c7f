"""The fleet's TOML file: its own device account, its store, and the ``[[member]]`` devices.

The keys a gateway has too (host, port, the account, the HTTP limits, the outbox, TLS, logging)
are ``ServerConfig``'s (ejoin.config), declared once; these are the fleet's own.  It is read by the
same typed loader as a gateway's: unknown keys refused with the closest known one, a wrong type or
a value out of bounds one line naming the file, the key and what was expected.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import msgspec
from msgspec import Meta

from ..config import ConfigError, Refused, ServerConfig, Sources, key_name, keys_of, refuse_unknown, shown, typed
from ..config.server import NotNegative, Port, Seconds, SecondsOrZero, Slots
from ..protocol import values

_RANGE = re.compile(r"^\s*(\d{1,3})\s*-\s*(\d{1,3})\s*$")
# A member's name is a segment of the URLs it pushes to (its reports, statuses, received SMS).
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # fullmatch: "$" lets a final newline through


class MemberTable(msgspec.Struct, forbid_unknown_fields=True):
    """A ``[[member]]`` table as written (in the file, in ``member add``, in the ledger)."""

    url: Annotated[str, Meta(description="the member's http:// or https:// address")]
    ports: Annotated[str, Meta(description='the fleet ports it occupies, a range such as "1-32"')]
    name: str = ""  # default: m1, m2, ... by its place
    username: str = "root"
    password: str = "root"
    secure: bool | None = None  # default: what crypt needs
    crypt: str = ""  # "aes-ecb": POST bodies encrypted in its spec 3 sessions (implies secure)


class MemberConfig(msgspec.Struct, frozen=True):
    """A member as the fleet uses it: its ports as the range of fleet ports it occupies."""

    name: str
    url: str
    username: str
    password: str
    first: int  # the fleet port of the member's port 1
    last: int
    secure: bool = False
    crypt: str = ""  # "aes-ecb": POST bodies encrypted in its spec 3 sessions (implies secure)

    @property
    def count(self) -> int:
        return self.last - self.first + 1

    @property
    def ports(self) -> str:
        return f"{self.first}-{self.last}"

    def settings(self) -> dict[str, Any]:
        """As a ``[[member]]`` table (what the ledger keeps; ``member_of`` reads it back)."""
        return {
            "name": self.name,
            "url": self.url,
            "username": self.username,
            "password": self.password,
            "ports": self.ports,
            "secure": self.secure,
            # only when set: a member recorded before the key existed reads back as it was recorded
            **({"crypt": self.crypt} if self.crypt else {}),
        }


class FleetConfig(ServerConfig):
    # Fields that are no TOML keys: the [[member]] tables, checked.
    DERIVED: ClassVar[frozenset[str]] = frozenset({"members"})

    port: Port = 8090
    data: str = "./ejoin-fleet"
    slots: Slots = 32  # slots a fleet port may name ("3.02"); members check their own
    db: str = ""  # empty: the embedded SQLite store in ``data``; postgresql://...: shared by replicas
    lease: Annotated[float, Meta(ge=1)] = 10.0  # PostgreSQL: seconds a replica holds a task or push destination
    public_url: str = ""  # how members reach the fleet (their sr_url); default http(s)://host:port
    member_timeout: Seconds = 5.0  # seconds a member request may take before the member counts as down
    status_poll: Seconds = 10.0  # seconds between status polls of each member
    failover_after: SecondsOrZero = 60.0  # seconds a member may be down before its unsent units go elsewhere
    policy: Literal["least-busy", "round-robin"] = "least-busy"  # how the fleet picks ports for a task without from
    sim_hour_quota: NotNegative = 0  # SMS the fleet gives one SIM per rolling hour (0: no limit)
    sim_day_quota: NotNegative = 0  # ... per rolling 24 hours
    # task_retention (shared): at least the quotas' window when they are set (they count what SIMs sent from it)
    members: list[MemberConfig] = msgspec.field(default_factory=list)

    @property
    def ports(self) -> int:
        return max((m.last for m in self.members), default=0)

    def check(self) -> None:
        """What the types cannot say: ``Refused`` naming the key."""
        self.check_server()
        try:
            self.public_url = values.push_url(self.public_url)
        except values.ValueRefused as exc:
            raise Refused(("public_url",), str(exc)) from None
        postgres = self.db.startswith(("postgresql://", "postgres://"))
        if self.db and not (postgres or self.db.startswith("sqlite:")):
            raise Refused(("db",), f"sqlite:PATH or a postgresql://... URL, not {self.db.split(':')[0]!r}")
        if postgres and self.smpp_port:
            # Replicas share one push outbox: an SMPP task's report could be sent by a replica that does not
            # hold its SMPP store, and each replica's store would number its messages (and tids) alike.
            raise Refused(("smpp_port",), "works with the fleet's own SQLite ledger only, not with PostgreSQL replicas")
        if postgres and importlib.util.find_spec("psycopg_pool") is None:
            raise Refused(("db",), "a postgresql:// db needs the PostgreSQL driver: pip install 'ejoin[postgres]'")
        check_members(self.members)


def parse_range(text: str) -> tuple[int, int]:
    """``"1-32"``: the first and last fleet port, or ValueError saying why not."""
    m = _RANGE.match(text)
    if not m:
        raise ValueError(f'a range such as "1-32", not {shown(text)}')
    first, last = int(m[1]), int(m[2])
    if not 1 <= first <= last <= 256:
        raise ValueError(f"{shown(text)} must go from low to high within 1-256")
    return first, last


def member_of(raw: Any, index: int, where: str = "") -> MemberConfig:
    """The ``index``-th ``[[member]]`` table checked: ``Refused`` naming the key in the file's terms
    (``[[member]] #2 ports``); with ``where`` (a member given at run time, or read back from the
    ledger), ``ConfigError`` naming it so: ``member rack3: ports: ...``."""
    if where:
        try:
            return member_of(raw, index)
        except Refused as exc:
            inside = exc.key[2:] if isinstance(exc.key, tuple) else ()
            said = f"{where}: {key_name(inside)}: {exc.reason}" if inside else f"{where}: {exc.reason}"
            raise ConfigError(said) from None
    at = ("member", index)
    if not isinstance(raw, dict):
        raise Refused(f"[[member]] #{index + 1}", f"expected a table ([[member]]), not {shown(raw)}")
    if raw.get("secure") in (0, 1) and not isinstance(raw.get("secure"), bool):
        raw = {**raw, "secure": bool(raw["secure"])}  # 1/0 from a JSON client
    table = typed(MemberTable, raw, at=at)
    try:
        url = values.push_url(table.url).rstrip("/")
    except values.ValueRefused as exc:
        raise Refused((*at, "url"), str(exc)) from None
    if not url:
        raise Refused((*at, "url"), "must not be empty (the member's http:// or https:// address)")
    try:
        first, last = parse_range(table.ports)
    except ValueError as exc:
        raise Refused((*at, "ports"), str(exc)) from None
    name = table.name or f"m{index + 1}"
    if not _NAME.fullmatch(name):
        raise Refused(
            (*at, "name"), f"{shown(name)} must be 1-64 letters, digits, '.', '_' or '-' (it is part of URLs)"
        )
    crypt = table.crypt.strip().lower()
    if crypt not in ("", "aes-ecb"):
        said = f'expected "aes-ecb" (POST bodies encrypted) or nothing, not {shown(table.crypt)}'
        raise Refused((*at, "crypt"), said)
    secure = bool(crypt) if table.secure is None else table.secure
    if crypt and not secure:
        raise Refused((*at, "secure"), f"crypt {crypt!r} needs a secure session; leave secure out or set it true")
    return MemberConfig(
        name=name,
        url=url,
        username=table.username,
        password=table.password,
        first=first,
        last=last,
        secure=secure,
        crypt=crypt,
    )


def check_members(members: list[MemberConfig]) -> None:
    """``Refused`` naming the ``[[member]]`` whose name or ports another has already."""
    for i, m in enumerate(members):
        for j, other in enumerate(members[:i]):
            if other.name == m.name:
                raise Refused(("member", i, "name"), f"{m.name!r} is [[member]] #{j + 1}'s name too")
            if m.first <= other.last and other.first <= m.last:
                shared = max(m.first, other.first)
                raise Refused(("member", i, "ports"), f"port {shared} is member {other.name}'s too ({other.ports})")


def check_new_member(members: list[MemberConfig], new: MemberConfig) -> None:
    """A member added at run time: its name free and its ports nobody else's, or why not."""
    for m in members:
        if m.name == new.name:
            raise ConfigError(f"a member named {new.name} exists already (remove it first to change it)")
        if new.first <= m.last and m.first <= new.last:
            shared = max(new.first, m.first), min(new.last, m.last)
            where = f"port {shared[0]}" if shared[0] == shared[1] else f"ports {shared[0]}-{shared[1]}"
            raise ConfigError(f"ports {new.ports} overlap member {m.name} ({m.ports}): {where} would be both's")


def load_fleet_config(
    path: str | Path | None, overrides: dict[str, Any] | None = None, *, flags: bool = False
) -> FleetConfig:
    """The fleet's config from ``path`` with ``overrides`` over it (``flags``: they are the command
    line's); ``ConfigError`` (one line naming the file or flag, the key and what was expected) if it
    cannot be used."""
    sources = Sources(path, overrides, flags=flags)
    table = sources.table
    with sources.naming():
        refuse_unknown(table, keys_of(FleetConfig) | {"member"})
        members = table.get("member", [])
        if not isinstance(members, list):
            raise Refused(("member",), f"expected an array of tables ([[member]]), not {shown(members)}")
        config = typed(FleetConfig, {k: v for k, v in table.items() if k != "member"})
        config.members = [member_of(m, i) for i, m in enumerate(members)]
        config.check()
    return config
