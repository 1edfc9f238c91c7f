"""Log output of ``ejoin gateway``: human lines, or one JSON object a line (``--log-format json``).

JSON lines are for log shippers (journald, Loki, ELK): time, level, logger,
message, and the traceback when there is one.  What is logged is the same in
both forms, and never a secret (the access log masks credentials).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


class ThrottledLog:
    """Info lines for the person watching, at most ``per_second`` a second; the rest summed up.

    A line per SMS is what someone watching a few ports wants, but at thousands of SMS a second the
    lines cost more CPU than the SMS (about 9 µs each) and nobody reads them.  Beyond the budget a
    line is only counted, and the count is logged with the next line that fits.  Human reading
    speed, not device behaviour: this runs on the monotonic clock, never the device's.
    """

    def __init__(
        self, logger: logging.Logger, what: str, per_second: int = 50, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._log = logger
        self._what = what
        self._budget = per_second
        self._clock = clock
        self._window = -1.0
        self._used = 0
        self._skipped = 0

    def info(self, msg: str, *args: object) -> None:
        if not self._log.isEnabledFor(logging.INFO):
            return
        now = self._clock()
        if now - self._window >= 1.0:
            self._window, self._used = now, 0
        if self._used >= self._budget:
            self._skipped += 1
            return
        self._used += 1
        if self._skipped:
            skipped, self._skipped = self._skipped, 0
            self._log.info("(%d more %s lines not shown: over %d a second)", skipped, self._what, self._budget)
        self._log.info(msg, *args)
