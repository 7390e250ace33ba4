"""Deploy lava_sast networks through lava-dl NetX to fixed-point Lava."""
from lava_sast import compat as _compat  # noqa: F401  (must precede lava imports)
