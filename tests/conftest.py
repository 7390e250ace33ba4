"""Shared fixtures: paths to the real event data beside the project; a private
binned-dataset cache for the session."""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# binned-dataset cache of this test session (CLIs started by tests inherit it), removed after
os.environ["LAVA_SAST_CACHE_DIR"] = tempfile.mkdtemp(prefix="lava-sast-test-cache-")
atexit.register(shutil.rmtree, os.environ["LAVA_SAST_CACHE_DIR"], ignore_errors=True)

import lava_sast  # noqa: F401  (compat hook before any lava import)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
NMNIST_SMALL = SHARED / "nmnist-small"
GESTURE_CLIPS = SHARED / "dvsgesture-clips"


@pytest.fixture(scope="session")
def nmnist_dir() -> Path:
    if not (NMNIST_SMALL / "Train").is_dir():
        pytest.skip(f"real N-MNIST subset not found at {NMNIST_SMALL} (see ../shared/data/README.md)")
    return NMNIST_SMALL


@pytest.fixture(scope="session")
def gesture_clips() -> Path:
    if not (GESTURE_CLIPS / "labels.tsv").is_file():
        pytest.skip(f"DVS Gesture clips not found at {GESTURE_CLIPS}")
    return GESTURE_CLIPS
