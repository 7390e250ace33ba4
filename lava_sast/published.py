"""``python -m lava_sast.published``: runs :func:`lava_sast.experiments.published.main`."""
import sys

from .experiments.published import main

if __name__ == "__main__":
    sys.exit(main())
