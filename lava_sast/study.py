"""``python -m lava_sast.study``: runs :func:`lava_sast.experiments.study.main`."""
import sys

from .experiments.study import main

if __name__ == "__main__":
    sys.exit(main())
