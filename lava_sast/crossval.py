"""``python -m lava_sast.crossval``: runs :func:`lava_sast.experiments.crossval.main`."""
import sys

from .experiments.crossval import main

if __name__ == "__main__":
    sys.exit(main())
