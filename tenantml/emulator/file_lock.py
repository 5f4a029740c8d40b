"""An exclusive lock on a file that names its holder: one ``tenantml up`` per directory, one apply per tenant.

The lock is ``fcntl.flock`` on an open descriptor: the kernel releases it when its holder closes
the file, exits or crashes, so a lock file left behind never blocks anyone (a pid file alone
would). Two opens of the file conflict even within one process, so threads exclude each other
too. The holder writes its pid into the file, so whoever finds the lock taken can say who holds
it; it empties the file before releasing, so a pid read there belongs to a live holder or, after
a crash, to a dead one (:meth:`FileLock.holder` tells them apart).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path

#: how often a waiting process tries again; the lock has no wake-up of its own
POLL_INTERVAL_S = 0.05
#: how long :meth:`FileLock.holder` waits for a holder that has just taken the lock to write its pid
HOLDER_GRACE_S = 2.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class FileLock:
    """An exclusive, non-reentrant lock on ``path`` (created with its directory when missing)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lock if it is free; False at once when another descriptor holds it."""
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already locked by this FileLock")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return True

    def acquire(self, timeout: float, on_wait: Callable[[int | None], None] | None = None) -> bool:
        """Take the lock, waiting up to ``timeout`` seconds; ``on_wait(holder pid)`` once if it must wait.

        False when it is still held after ``timeout``.
        """
        if self.try_acquire():
            return True
        if on_wait is not None:
            on_wait(self.holder())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL_S)
            if self.try_acquire():
                return True
        return False

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)  # no pid is left behind for a holder that no longer holds it
        finally:
            os.close(fd)  # closing releases the lock

    def holder(self) -> int | None:
        """The pid of the process that holds the lock, if it can be told.

        A holder writes its pid right after taking the lock: an empty file, or the pid of a
        process that died holding it, is read again for up to :data:`HOLDER_GRACE_S`.
        """
        deadline = time.monotonic() + HOLDER_GRACE_S
        while True:
            try:
                text = self.path.read_text(encoding="utf-8").strip()
            except OSError:
                text = ""
            if text.isdigit() and _alive(int(text)):
                return int(text)
            if time.monotonic() >= deadline:
                return None
            time.sleep(POLL_INTERVAL_S)


__all__ = ["FileLock"]
