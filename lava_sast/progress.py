"""Progress bars that show only where a person watches: on a terminal, and not with
``--quiet``.  Off a terminal (CI, a cluster job, ``> log``) a long job writes one line
per epoch or run instead of every bar update."""
from __future__ import annotations

import sys
from typing import Any, Iterable, Optional

from tqdm import tqdm


def on_terminal() -> bool:
    """Whether standard error is a terminal."""
    return sys.stderr.isatty()


def progress(iterable: Optional[Iterable] = None, quiet: bool = False, **kwargs: Any) -> tqdm:
    """``tqdm(iterable, **kwargs)``, disabled off a terminal or when ``quiet``."""
    return tqdm(iterable, disable=quiet or not on_terminal(), **kwargs)
