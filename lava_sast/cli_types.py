"""``argparse`` types that refuse bad numbers where they are parsed, so the error names
the option and the value (``argument --timeout: expected a positive number, got 'nan'``)."""
from __future__ import annotations

import argparse
import math
from typing import Callable


def _number(kind: type, low: float, inclusive: bool, what: str) -> Callable[[str], float]:
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        ok = math.isfinite(value) and (value >= low if inclusive else value > low)
        if not ok:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value
    parse.__name__ = what  # argparse names the type in its messages
    return parse


#: A finite number > 0.
positive_float = _number(float, 0.0, False, "a positive number")
#: A finite number >= 0.
non_negative_float = _number(float, 0.0, True, "a number >= 0")
#: A whole number >= 1.
positive_int = _number(int, 1, True, "a whole number >= 1")
