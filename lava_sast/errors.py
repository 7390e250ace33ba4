"""Errors a command reports in one line (no dependencies: every module may raise them)."""
from __future__ import annotations


class TrainingError(RuntimeError):
    """Training cannot go on (for example a non-finite loss)."""
