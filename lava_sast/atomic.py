"""The one way lava-sast writes files: to a temporary name beside the target,
flushed to disk, then renamed, so a crash never leaves a partial file and a
reader never sees one."""
from __future__ import annotations

import errno
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


class WriteError(OSError):
    """A file could not be written (the message names it, the OS's reason, and that the
    file as it was before is kept)."""


def _reason(exc: BaseException, folder: Path) -> str:
    """The OS's reason for a failed write: the error's own, or "no space left on device"
    when the folder's file system is full (libraries such as torch and h5py report a full
    disk in words of their own)."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return os.strerror(exc.errno)
    try:
        if os.statvfs(folder).f_bavail == 0:
            return os.strerror(errno.ENOSPC)
    except OSError:
        pass
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path to write; on success it replaces ``path``.  On error the
    temporary file is removed, ``path`` is left as it was, and a failed write (a full disk,
    a read-only folder) is a :class:`WriteError` naming ``path`` and the OS's reason."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield str(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except WriteError:
        raise
    except (OSError, RuntimeError) as exc:
        kept = "the earlier file is kept" if path.exists() else "nothing was written"
        error = WriteError(f"cannot write {path}: {_reason(exc, path.parent)}; {kept}")
        error.errno = exc.errno if isinstance(exc, OSError) else None
        raise error from exc
    finally:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(obj, indent=2))


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def check_writable(path: str | os.PathLike, what: str = "--out") -> None:
    """Raise ``ValueError`` naming ``path`` unless a file can be written there (checked
    before long work starts, so its result is not lost)."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ValueError(f"{what} {path} is a folder, not a file")
    if not parent.is_dir():
        raise ValueError(f"{what} {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise ValueError(f"{what} {path}: folder {parent} is not writable")


def check_out_folder(path: str | os.PathLike, what: str = "--out") -> None:
    """Raise ``ValueError`` when the output folder ``path`` exists as a file."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{what} {path} is a file, not a folder")
