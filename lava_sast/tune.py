"""``python -m lava_sast.tune``: runs :func:`lava_sast.experiments.tune.main`."""
import sys

from .experiments.tune import main

if __name__ == "__main__":
    sys.exit(main())
