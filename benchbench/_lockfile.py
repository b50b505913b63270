"""One exclusive, non-blocking OS lock on a file, holding a line about its holder.

Used for the study folder's writer lock (:meth:`benchbench.store.StudyStore.lock`) and the
per-table import lock (:mod:`tabular_data._import_nb201`).  ``flock`` locks die with their
process, so a killed holder never leaves a stale lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["LockBusy", "exclusive_lock"]


class LockBusy(OSError):
    """Another process holds the lock; ``holder`` is the line it wrote (may be empty)."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(errno.EAGAIN, f"{path} is locked by {holder or 'another process'}")
        self.path = path
        self.holder = holder


def _holder(fd: int) -> str:
    """The holder's line; the holder writes it just after taking the lock, so a reader that
    comes in between waits for it briefly (up to 0.5 s) rather than report no holder."""
    for _ in range(50):
        text = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
        if text:
            return text
        time.sleep(0.01)
    return ""


@contextlib.contextmanager
def exclusive_lock(path: Path, holder: str, *,
                   busy: Callable[[str], Exception] | None = None) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if absent) while the block runs, with
    ``holder`` written in it.  If another process holds it, raise at once ``busy(its holder
    line)`` (the caller's one-line error), or :class:`LockBusy` without ``busy``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            line = _holder(fd)
            raise (LockBusy(path, line) if busy is None else busy(line)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.encode()[:4000], 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
