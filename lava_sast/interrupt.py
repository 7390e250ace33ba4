"""How every command ends: SIGTERM handled like Ctrl-C, bad input as a one-line error."""
from __future__ import annotations

import signal
import sys
from contextlib import contextmanager
from typing import Callable, Iterator, Optional, TypeVar

T = TypeVar("T")


def _raise_interrupt(signum, frame):  # noqa: ARG001
    raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`KeyboardInterrupt` (as SIGINT does), so
    ``finally`` clauses run: checkpoints stay whole and Lava children are killed."""
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_guarded(work: Callable[[], T], errors: tuple[type[BaseException], ...],
                interrupted: str) -> tuple[int, Optional[T]]:
    """``(0, work())``; or ``(2, None)`` after printing ``error: ...`` for one of
    ``errors``; or ``(130, None)`` after printing ``interrupted: <interrupted>`` on
    Ctrl-C or SIGTERM.  No traceback either way."""
    try:
        with sigterm_as_interrupt():
            return 0, work()
    except errors as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2, None
    except KeyboardInterrupt:
        print(f"interrupted: {interrupted}", file=sys.stderr)
        return 130, None
