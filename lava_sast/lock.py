"""One command per output folder: an exclusive ``fcntl.flock`` on ``FOLDER/.lock``.

The kernel releases the lock when its process ends, however it ends, so a crashed or
killed run never leaves a folder stuck; a second command that targets the folder while
the lock is held fails at once with one line naming it.
"""
from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

LOCK = ".lock"


class FolderInUse(ValueError):
    """Another command holds the folder's lock."""


@contextmanager
def file_lock(path: str | os.PathLike, wait: bool = True) -> Iterator[bool]:
    """Hold an exclusive lock on file ``path`` (created if missing) for the block.  With
    ``wait`` it blocks until the lock is free; without, it yields ``False`` at once when
    another process holds it (and ``True`` when this one does)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing releases the lock


@contextmanager
def folder_lock(folder: str | os.PathLike, option: str = "--out") -> Iterator[None]:
    """Hold the lock of ``folder`` (which must exist) for the block; raise
    :class:`FolderInUse` at once if another process holds it."""
    path = Path(folder) / LOCK
    with file_lock(path, wait=False) as held:
        if not held:
            raise FolderInUse(f"{option} {folder} is in use by another command (lock "
                              f"{path} is held); wait for it or choose another folder")
        yield
