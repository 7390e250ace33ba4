"""lava-sast: Sharpness-Aware Surrogate Training for Lava / Loihi 2 deployment.

Importing this package first installs :mod:`lava_sast.compat`, which makes
lava-nc 0.10.0 and lava-dl 0.6.0 importable on Python 3.11.
"""
from . import compat as _compat  # noqa: F401  (must precede any lava import)

__version__ = "0.1.0"
