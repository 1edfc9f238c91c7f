"""Device settings that the API reads and writes (push URLs, status period).

Held in memory for reads and written through to the store on every change,
so they survive a crash without ``save`` (DECISIONS.md "Commands").
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..store.base import DeviceStateStore

DEFAULTS: dict[str, Any] = {
    "sms_url": "",
    "sr_url": "",
    "mms_url": "",
    "status_url": "",
    "status_period": 60,
    "sms_cnt": 1,  # recv-sms pushes: SMS per push (<= 1: each at once)
    "sms_prd": 30,  # ... or seconds after the first one waiting
    "push_secret": "",  # HMAC-SHA256 key for push signatures ("" = unsigned)
    # 1: an incomplete long SMS carries a 7th row element "n/m" (parts arrived/total); 0: the spec's six
    "sms_incomplete_mark": 0,
}


# The settings that are push destinations (a send request may name others of its own).
PUSH_URLS = ("sms_url", "sr_url", "mms_url", "status_url")


class DeviceSettings:
    def __init__(self, store: DeviceStateStore, values: dict[str, Any] | None = None) -> None:
        self._store = store
        self._values = dict(DEFAULTS)
        self.load(values or {})

    def load(self, values: dict[str, Any]) -> None:
        """The stored values (at start); unknown keys and values of the wrong type keep the defaults."""
        for key, value in values.items():
            if key in DEFAULTS and type(value) is type(DEFAULTS[key]):
                self._values[key] = value

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)

    def update(self, **values: Any) -> asyncio.Future[None]:
        for key, value in values.items():
            if key not in DEFAULTS:
                raise KeyError(key)
            if type(value) is not type(DEFAULTS[key]):
                raise TypeError(f"{key} takes {type(DEFAULTS[key]).__name__}")
        self._values.update(values)
        return self._store.save_settings(values)
