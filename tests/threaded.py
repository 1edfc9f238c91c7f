"""The suite's synchronous tests use the public test helper, with a small default device."""

from __future__ import annotations

from typing import Any

from ejoin.testing import GatewayThread


class ServerThread(GatewayThread):
    def __init__(self, data: str, **overrides: Any) -> None:
        super().__init__(data, **{"ports": 4, "slots": 4, "push_timeout": 1.0, **overrides})
