"""Stratified, seed-shuffled subsets and train/validation splits of labelled data."""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch


def _per_class_counts(sizes: np.ndarray, n: int) -> np.ndarray:
    """Split ``n`` over classes in proportion to ``sizes`` (largest remainder), at
    least one per non-empty class while ``n`` allows."""
    want = sizes / sizes.sum() * n
    counts = np.minimum(np.floor(want).astype(int), sizes)
    floor_one = (counts == 0) & (sizes > 0)
    spare = n - counts.sum()
    for c in np.flatnonzero(floor_one)[:max(spare, 0)]:
        counts[c] = 1
    order = np.argsort(-(want - counts), kind="stable")
    while counts.sum() < n:
        for c in order:
            if counts.sum() >= n:
                break
            if counts[c] < sizes[c]:
                counts[c] += 1
    return counts


def stratified_indices(labels: torch.Tensor, n: Optional[int], seed: int) -> np.ndarray:
    """Indices of a class-stratified, ``seed``-shuffled subset of ``n`` samples
    (all samples, shuffled, when ``n`` is None or not smaller than the set)."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    if n is None or n >= len(labels):
        return np.sort(rng.permutation(len(labels)))
    if n < 1:
        raise ValueError(f"a subset needs at least 1 sample, got {n}")
    classes = np.unique(labels)
    pools = [rng.permutation(np.flatnonzero(labels == c)) for c in classes]
    counts = _per_class_counts(np.array([len(p) for p in pools]), n)
    return np.sort(np.concatenate([p[:k] for p, k in zip(pools, counts)]))


#: Seed of the tuning block's draw: fixed, so that ``tune`` and every study agree on it
#: whatever their run seeds and fold shuffles.
TUNING_BLOCK_SEED = 20261201


def tuning_block_indices(labels: torch.Tensor, fraction: float) -> np.ndarray:
    """Indices of the tuning block: a class-stratified ``fraction`` of the samples drawn
    with :data:`TUNING_BLOCK_SEED` (none when ``fraction`` is 0)."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"tuning_block must be in [0, 1), got {fraction}")
    n = int(round(fraction * len(labels)))
    if n == 0:
        return np.arange(0)
    return stratified_indices(labels, n, TUNING_BLOCK_SEED)


def train_val_indices(labels: torch.Tensor, val_fraction: float,
                      seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(train, val)`` indices: a class-stratified ``val_fraction`` of the samples,
    drawn with ``seed``, is held out for validation (none when it is 0)."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    everything = np.arange(len(labels))
    n_val = int(round(val_fraction * len(labels)))
    if n_val == 0:
        return everything, everything[:0]
    val = stratified_indices(labels, n_val, seed + 7919)  # independent of the subset draw
    return np.setdiff1d(everything, val), val


def fold_indices(labels: torch.Tensor, folds: int, fold: int,
                 seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(rest, held_out)`` indices of fold ``fold`` of a stratified ``folds``-fold split
    (scikit-learn's ``StratifiedKFold``, shuffled with ``seed``): every sample is held out
    in exactly one fold, and the folds depend only on the labels and ``seed``."""
    from sklearn.model_selection import StratifiedKFold
    if folds < 2 or not 0 <= fold < folds:
        raise ValueError(f"fold must be in 0..{folds - 1} of folds >= 2, got fold {fold} "
                         f"of {folds}")
    labels = np.asarray(labels)
    splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    rest, held_out = list(splits.split(np.zeros(len(labels)), labels))[fold]
    return rest, held_out
