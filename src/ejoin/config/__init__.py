"""One typed config loader for the gateway and the fleet (and the drivers' own keys).

``typed``: a table as a msgspec Struct, every refusal one line naming the key (``typed.py``);
``server``: the keys both programs share, declared once, and how a file and flags merge.
"""

from .server import ServerConfig, Sources, check_origins, origin_key, read_toml, split_origins
from .typed import ConfigError, KeyPath, Refused, key_name, keys_of, refuse_unknown, shown, typed

__all__ = [
    "ConfigError",
    "KeyPath",
    "Refused",
    "ServerConfig",
    "Sources",
    "check_origins",
    "key_name",
    "keys_of",
    "origin_key",
    "read_toml",
    "refuse_unknown",
    "shown",
    "split_origins",
    "typed",
]
