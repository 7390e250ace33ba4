"""Embedded default: scikit-learn's bundled 8x8 digits seen by a simulated
event camera during three saccades, the way N-MNIST was recorded.

Needs no download and no file from outside the installed packages.  The digit
(upscaled to 12x12) moves on an 18x18 sensor along N-MNIST's triangle:
down-right, up-right, then left, 100 ms each.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import zoom
from sklearn.datasets import load_digits
from torch.utils.data import Dataset

from .event_camera import shift_bilinear, video_to_events

SENSOR_SIZE = (18, 18, 2)
DURATION_US = 300_000
_FRAME_US = 2_000
_SACCADES = ((1.5, 3.0), (1.5, -3.0), (-3.0, 0.0))  # (dx, dy) per saccade


def _saccade_path(steps: int) -> np.ndarray:
    per = steps // len(_SACCADES)
    pos, path = np.zeros(2), []
    for dx, dy in _SACCADES:
        for k in range(per):
            path.append(pos + (k + 1) / per * np.array([dx, dy]))
        pos = pos + np.array([dx, dy])
    return np.array(path)


def make_saccade_digits(seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """All 1,797 digits as event streams; returns ``(events_list, labels)``."""
    digits = load_digits()
    images = zoom(digits.images / 16.0, (1, 1.5, 1.5), order=1).clip(0, 1)
    steps = DURATION_US // _FRAME_US
    path = _saccade_path(steps)
    h, w = SENSOR_SIZE[1], SENSOR_SIZE[0]
    video = np.stack([shift_bilinear(images, dx, dy, (h, w), origin=(1, 1))
                      for dx, dy in path], axis=1)
    rng = np.random.default_rng(seed)
    return video_to_events(video, _FRAME_US, rng), digits.target.astype(int)


class SaccadeDigits(Dataset):
    """tonic-style dataset of ``(events, label)``; 80/20 train/test split, fixed."""

    sensor_size = SENSOR_SIZE
    classes = [str(d) for d in range(10)]
    _cache: dict[int, tuple[list[np.ndarray], np.ndarray]] = {}

    def __init__(self, train: bool = True, seed: int = 0) -> None:
        if seed not in self._cache:
            self._cache[seed] = make_saccade_digits(seed)
        events, labels = self._cache[seed]
        order = np.random.default_rng(1234).permutation(len(labels))
        n_train = int(0.8 * len(labels))
        self.index = order[:n_train] if train else order[n_train:]
        self.events, self.labels = events, labels

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        j = self.index[i]
        return self.events[j], int(self.labels[j])
