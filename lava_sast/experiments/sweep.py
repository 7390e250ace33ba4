"""rho sweep: ``python -m lava_sast.sweep --dataset D --rho 0 0.1 0.3 --seeds 0 1 2
--epochs E --out DIR``.

The study (:mod:`lava_sast.experiments.study`) with the paper's comparison as its default:
``smooth`` (alias ``surrogate``; rho 0: the same net with a plain optimiser) against
``sast`` at every ``--rho``.  Takes every option of ``python -m lava_sast.study``.
"""
from __future__ import annotations

import sys
from typing import Optional, Sequence

from . import study


def main(argv: Optional[Sequence[str]] = None) -> int:
    return study.main(argv, prog="python -m lava_sast.sweep",
                      default_methods=("smooth", "sast"),
                      default_rho=(0.0, 0.1, 0.2, 0.3, 0.4))


if __name__ == "__main__":
    sys.exit(main())
