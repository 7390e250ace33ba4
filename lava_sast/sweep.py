"""``python -m lava_sast.sweep``: runs :func:`lava_sast.experiments.sweep.main`."""
import sys

from .experiments.sweep import main

if __name__ == "__main__":
    sys.exit(main())
