"""Opening the SQLite file safely: one process per data directory, and faults named plainly.

A person starting a gateway on a read-only disk, a full disk or a damaged file
must read one line that names the file and the cause, not SQLite's terse
"unable to open database file" or a traceback.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import shutil
import sqlite3
from pathlib import Path

log = logging.getLogger(__name__)

# The two magic numbers a SQLite write-ahead log starts with (big- and little-endian checksums).
_WAL_MAGIC = (b"\x37\x7f\x06\x82", b"\x37\x7f\x06\x83")
_LOCK_NAME = "ejoin.lock"
_MIN_FREE_BYTES = 1 << 20


class StoreOpenError(Exception):
    """The store cannot be opened; ``str()`` is the one line to show a person."""


class DataDirectoryLock:
    """An exclusive lock on the data directory: two writers on one store would corrupt it.

    ``flock`` is released by the kernel when the process dies (kill -9 included), so
    a stale lock file never blocks a restart.
    """

    def __init__(self, directory: Path) -> None:
        self.path = directory / _LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreOpenError(_os_reason(exc, self.path.parent)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise StoreOpenError(
                f"the data directory {self.path.parent} is in use by another ejoin process (pid {holder}); "
                "stop it first or use another --data directory"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None


def prepare_directory(path: Path) -> None:
    """Create the data directory, or say plainly why it cannot be."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreOpenError(_os_reason(exc, path.parent)) from None
    if not path.parent.is_dir():
        raise StoreOpenError(f"cannot use {path.parent} as the data directory: it is not a directory")


def warn_about_leftovers(path: Path) -> None:
    """A zero-byte store or a WAL that is not one: SQLite would start over silently."""
    try:
        if path.exists() and path.stat().st_size == 0:
            log.warning(
                "the store %s is empty (0 bytes): starting as a NEW device with fresh SIMs and no history", path
            )
        wal = path.with_name(path.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            with wal.open("rb") as f:
                head = f.read(4)
            if head not in _WAL_MAGIC:
                log.warning(
                    "the write-ahead log %s is not a SQLite WAL (damaged?): SQLite ignores it, "
                    "so changes only it held are lost",
                    wal,
                )
    except OSError as exc:
        raise StoreOpenError(_os_reason(exc, path)) from None


def describe_failure(exc: BaseException, path: Path) -> str:
    """One line naming the file and the cause of a failure to open or migrate the store."""
    if isinstance(exc, StoreOpenError):
        return str(exc)
    if isinstance(exc, OSError):
        return _os_reason(exc, path)
    text = " ".join(str(exc).split())  # SQLite's integrity reports span lines
    if isinstance(exc, sqlite3.DatabaseError):
        code = getattr(exc, "sqlite_errorcode", None)
        lowered = text.lower()
        if "malformed" in lowered or "not a database" in lowered or code in (11, 26):  # CORRUPT, NOTADB
            return (
                f"the store {path} is damaged ({text}); move it away to start a new device, or restore it from a backup"
            )
        if "readonly" in lowered or "read-only" in lowered or code == 8 or not _writable(path.parent):
            return f"cannot write the store {path}: the file or its directory is read-only"
        if "full" in lowered or code == 13 or _disk_full(path.parent):
            return f"cannot write the store {path}: the disk is full"
        if "unable to open" in lowered:
            return f"cannot open the store {path}: check that the directory exists and can be written"
        return f"cannot open the store {path}: {text}"
    return f"cannot open the store {path}: {text or type(exc).__name__}"


def _os_reason(exc: OSError, path: Path) -> str:
    if exc.errno == errno.EROFS:
        return f"cannot write {path}: the file system is read-only"
    if exc.errno == errno.ENOSPC:
        return f"cannot write {path}: the disk is full"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"cannot write {path}: permission denied"
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        return f"cannot use {path} as the data directory: a file is in the way"
    return f"cannot use {path}: {exc.strerror or exc}"


def _writable(directory: Path) -> bool:
    try:
        return os.access(directory, os.W_OK) and not os.statvfs(directory).f_flag & os.ST_RDONLY
    except OSError:
        return False


def _disk_full(directory: Path) -> bool:
    try:
        return shutil.disk_usage(directory).free < _MIN_FREE_BYTES
    except OSError:
        return False
