"""The fleet's TOML file: its own device account, its store, and the ``[[member]]`` devices."""

from __future__ import annotations

import importlib.util
import math
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..gateway.config import ConfigError, SmppAccount, check_origins, smpp_accounts_of, smpp_problem
from ..protocol import values

_RANGE = re.compile(r"^\s*(\d{1,3})\s*-\s*(\d{1,3})\s*$")
# A member's name is a segment of the URLs it pushes to (its reports, statuses, received SMS).
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class MemberConfig:
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


@dataclass
class FleetConfig:
    host: str = "127.0.0.1"
    port: int = 8090
    username: str = "root"
    password: str = "root"
    password_file: str = ""  # as a gateway's (ejoin.credentials): EJOIN_PASSWORD, else this file in data
    data: str = "./ejoin-fleet"
    db: str = ""  # empty: the embedded SQLite store in ``data``; postgresql://...: shared by replicas
    lease: float = 10.0  # PostgreSQL: seconds a replica holds a task or push destination unless it renews
    public_url: str = ""  # how members reach the fleet (their sr_url); default http://host:port
    slots: int = 32  # slots a fleet port may name ("3.02"); members check their own
    member_timeout: float = 5.0  # seconds a member request may take before the member counts as down
    status_poll: float = 10.0  # seconds between status polls of each member
    failover_after: float = 60.0  # seconds a member may be down before its unsent units go elsewhere
    policy: str = "least-busy"  # or "round-robin": how the fleet picks ports for a task without from
    sim_hour_quota: int = 0  # SMS the fleet gives one SIM per rolling hour (0: no limit)
    sim_day_quota: int = 0  # ... per rolling 24 hours
    # Seconds a finished, reported task (its recipients, dispatches) stays in the ledger; at least the
    # quotas' window when they are set (they count what SIMs sent from it).  As a device's task_retention.
    task_retention: float = 3600.0
    inbox_max: int = 100_000  # received SMS kept in the merged inbox; older ones, pushed, are pruned hourly
    max_recipients: int = 1_000_000
    # What the shared endpoint machinery (web/endpoint.py) and the outbox read.
    max_body: int = 16 * 1024 * 1024
    read_timeout: float = 30.0
    max_connections: int = 1000  # open HTTP connections; more are answered 503 and closed (web/connections.py)
    allowed_origins: list[str] = field(default_factory=list)  # browser pages' origins allowed (web/cross_site.py)
    max_sessions: int = 1000
    login_delay_cap: float = 5.0
    push_timeout: float = 10.0
    push_retry_base: float = 1.0
    push_retry_cap: float = 300.0
    push_retry_window: float = 259_200.0
    push_dead_keep: int = 10_000
    members: list[MemberConfig] = field(default_factory=list)
    smpp_port: int = 0  # SMPP 3.4 server (docs/smpp.md); 0: off
    smpp_host: str = ""
    smpp_window: int = 100
    smpp_accounts: list[SmppAccount] = field(default_factory=list)  # [[smpp_accounts]]

    @property
    def ports(self) -> int:
        return max((m.last for m in self.members), default=0)


def parse_range(text: Any, where: str) -> tuple[int, int]:
    m = _RANGE.match(str(text))
    if not m:
        raise ConfigError(f'{where}: ports is a range such as "1-32", not {text!r}')
    first, last = int(m[1]), int(m[2])
    if not 1 <= first <= last <= 256:
        raise ConfigError(f"{where}: ports {text!r} must go from low to high within 1-256")
    return first, last


def member_of(raw: Any, index: int, where: str = "") -> MemberConfig:
    where = where or f"member {index + 1}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: a [[member]] table is expected")
    unknown = set(raw) - {"name", "url", "username", "password", "ports", "secure", "crypt"}
    if unknown:
        raise ConfigError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    try:
        url = values.push_url(str(raw.get("url", ""))).rstrip("/")
    except values.ValueRefused as exc:
        raise ConfigError(f"{where}: url: {exc}") from None
    if not url:
        raise ConfigError(f"{where}: url is required (the member's http:// or https:// address)")
    if "ports" not in raw:
        raise ConfigError(f'{where}: ports is required (the fleet ports it occupies, e.g. "1-32")')
    first, last = parse_range(raw["ports"], where)
    name = str(raw.get("name") or f"m{index + 1}")
    if not _NAME.match(name):
        raise ConfigError(f"{where}: name {name!r} must be 1-64 letters, digits, '.', '_' or '-' (it is part of URLs)")
    crypt = _crypt(raw.get("crypt"), where)
    secure = _secure(raw.get("secure", bool(crypt)), where)
    if crypt and not secure:
        raise ConfigError(f"{where}: crypt {crypt!r} needs a secure session; leave secure out or set it true")
    return MemberConfig(
        name=name,
        url=url,
        username=str(raw.get("username", "root")),
        password=str(raw.get("password", "root")),
        first=first,
        last=last,
        secure=secure,
        crypt=crypt,
    )


def _crypt(value: Any, where: str) -> str:
    # What spec 3 offers: aes-ecb bodies, or none (the session authenticates only).
    if value is None or value == "":
        return ""
    if isinstance(value, str) and value.strip().lower() == "aes-ecb":
        return "aes-ecb"
    raise ConfigError(f'{where}: crypt is "aes-ecb" (POST bodies encrypted) or absent, not {value!r}')


def _secure(value: Any, where: str) -> bool:
    # bool("no") is True: only a real flag says it (true/false, or 1/0 from a JSON client)
    if isinstance(value, bool) or value in (0, 1):
        return bool(value)
    raise ConfigError(f"{where}: secure is true or false, not {value!r}")


def _check_numbers(config: FleetConfig) -> None:
    # TOML has inf and nan, which pass every "> 0" check and then never fire (or always)
    for f in fields(FleetConfig):
        default, value = f.default, getattr(config, f.name)
        if isinstance(default, bool) or not isinstance(default, (int, float)):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{f.name} is a number, not {value!r}")


def check_members(members: list[MemberConfig]) -> None:
    names = [m.name for m in members]
    if len(set(names)) != len(names):
        raise ConfigError("member names must be different")
    spans = sorted(members, key=lambda m: m.first)
    for a, b in zip(spans, spans[1:], strict=False):
        if b.first <= a.last:
            raise ConfigError(f"members {a.name} and {b.name} both claim port {b.first}")


def check_new_member(members: list[MemberConfig], new: MemberConfig) -> None:
    """A member added at run time: its name free and its ports nobody else's, or why not."""
    for m in members:
        if m.name == new.name:
            raise ConfigError(f"a member named {new.name} exists already (remove it first to change it)")
        if new.first <= m.last and m.first <= new.last:
            shared = max(new.first, m.first), min(new.last, m.last)
            where = f"port {shared[0]}" if shared[0] == shared[1] else f"ports {shared[0]}-{shared[1]}"
            raise ConfigError(f"ports {new.ports} overlap member {m.name} ({m.ports}): {where} would be both's")


def load_fleet_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> FleetConfig:
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    if "password" in raw and raw.get("password_file"):
        raise ConfigError(f"{path}: give password or password_file, not both")
    raw.update(overrides or {})
    if (overrides or {}).get("password") is not None and (overrides or {}).get("password_file") is None:
        raw.pop("password_file", None)  # --password on the command line wins over the file's way
    members_raw = raw.pop("member", [])
    if not isinstance(members_raw, list):
        raise ConfigError("member is a list of [[member]] tables")
    known = {f.name for f in fields(FleetConfig)} - {"members"}
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
    accounts = raw.pop("smpp_accounts", [])
    config = FleetConfig(**raw)
    _check_numbers(config)
    try:
        config.public_url = values.push_url(str(config.public_url))
    except values.ValueRefused as exc:
        raise ConfigError(f"public_url: {exc}") from None
    config.smpp_accounts = smpp_accounts_of(accounts)
    if reason := smpp_problem(config.smpp_port, config.smpp_window, config.smpp_accounts):
        raise ConfigError(reason)
    config.members = [member_of(m, i) for i, m in enumerate(members_raw)]
    check_members(config.members)
    if config.policy not in ("least-busy", "round-robin"):
        raise ConfigError(f'policy is "least-busy" or "round-robin", not {config.policy!r}')
    if config.sim_hour_quota < 0 or config.sim_day_quota < 0:
        raise ConfigError("sim_hour_quota and sim_day_quota are 0 (no limit) or more")
    if config.db and not config.db.startswith(("sqlite:", "postgresql://", "postgres://")):
        raise ConfigError(f"db is sqlite:PATH or a postgresql://... URL, not {config.db.split(':')[0]!r}")
    if config.smpp_port and config.db.startswith(("postgresql://", "postgres://")):
        # Replicas share one push outbox: an SMPP task's report could be sent by a replica that does not
        # hold its SMPP store, and each replica's store would number its messages (and tids) alike.
        raise ConfigError("smpp_port works with the fleet's own SQLite ledger only, not with PostgreSQL replicas")
    if config.db.startswith(("postgresql://", "postgres://")) and importlib.util.find_spec("psycopg_pool") is None:
        raise ConfigError("a postgresql:// db needs the PostgreSQL driver: pip install 'ejoin[postgres]'")
    if config.lease < 1:
        raise ConfigError("lease is at least 1 second")
    if config.task_retention <= 0:
        raise ConfigError("task_retention is a number of seconds above 0")
    if config.inbox_max < 1:
        raise ConfigError("inbox_max is at least 1")
    if config.max_connections < 1 or config.read_timeout <= 0:
        raise ConfigError("max_connections is at least 1 and read_timeout a number of seconds above 0")
    config.allowed_origins = check_origins(config.allowed_origins)
    return config
