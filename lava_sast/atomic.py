"""The one way lava-sast writes files: to a temporary name beside the target,
flushed to disk, then renamed, so a crash never leaves a partial file and a
reader never sees one."""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path to write; on success it replaces ``path``, on error it
    is removed and ``path`` is left as it was."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield str(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


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
