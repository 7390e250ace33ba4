"""Embedded gesture-like default: moving shapes seen by a simulated event camera.

Six motion classes on a 32x32 sensor over 300 ms: a blob swiping right, left,
down, up, and a bar rotating clockwise or counter-clockwise.  Position, size,
speed and start angle vary per sample.  Needs no download; lets the
convolutional SAST path run end to end on a fresh machine.
"""
from __future__ import annotations

import numpy as np
from torch.utils.data import Dataset

from .event_camera import video_to_events

SENSOR_SIZE = (32, 32, 2)
CLASSES = ["swipe right", "swipe left", "swipe down", "swipe up",
           "rotate clockwise", "rotate counter-clockwise"]
DURATION_US = 300_000
_FRAME_US = 5_000
_N_TRAIN, _N_TEST = 900, 300


def _render(label: int, rng: np.random.Generator, steps: int) -> np.ndarray:
    h, w = SENSOR_SIZE[1], SENSOR_SIZE[0]
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    frames = np.empty((steps, h, w))
    phase = np.linspace(0, 1, steps)
    if label < 4:
        sigma = rng.uniform(2.0, 3.5)
        travel = rng.uniform(14, 22)
        cross = rng.uniform(10, 22)
        start = rng.uniform(4, 28 - travel) if travel < 24 else 4.0
        along = start + travel * phase
        if label == 1 or label == 3:
            along = along[::-1]
        for i, a in enumerate(along):
            cx, cy = (a, cross) if label < 2 else (cross, a)
            frames[i] = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma ** 2))
    else:
        cx, cy = rng.uniform(13, 19, size=2)
        length, width = rng.uniform(9, 14), rng.uniform(1.0, 1.8)
        angle0, sweep = rng.uniform(0, np.pi), rng.uniform(0.7, 1.0) * np.pi
        direction = 1 if label == 4 else -1
        for i, p in enumerate(phase):
            ang = angle0 + direction * sweep * p
            dx, dy = np.cos(ang), np.sin(ang)
            t = np.clip((xx - cx) * dx + (yy - cy) * dy, -length, length)
            d2 = (xx - cx - t * dx) ** 2 + (yy - cy - t * dy) ** 2
            frames[i] = np.exp(-d2 / (2 * width ** 2))
    return 0.15 + frames


def make_moving_shapes(n: int, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    """``n`` event streams with balanced labels; returns ``(events_list, labels)``."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % len(CLASSES)
    rng.shuffle(labels)
    steps = DURATION_US // _FRAME_US
    events: list[np.ndarray] = []
    for start in range(0, n, 100):
        chunk = labels[start:start + 100]
        video = np.stack([_render(int(k), rng, steps) for k in chunk])
        events.extend(video_to_events(video, _FRAME_US, rng, threshold=0.3))
    return events, labels


class MovingShapes(Dataset):
    """tonic-style ``(events, label)`` dataset; fixed train/test sets."""

    sensor_size = SENSOR_SIZE
    classes = CLASSES
    _cache: dict[bool, tuple[list[np.ndarray], np.ndarray]] = {}

    def __init__(self, train: bool = True) -> None:
        if train not in self._cache:
            self._cache[train] = make_moving_shapes(_N_TRAIN if train else _N_TEST,
                                                    seed=1 if train else 2)
        self.events, self.labels = self._cache[train]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        return self.events[i], int(self.labels[i])
