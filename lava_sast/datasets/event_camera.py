"""A small simulated event camera: intensity videos -> (x, y, t, p) events.

Each pixel keeps a reference log intensity and emits one ON (p=1) or OFF (p=0)
event per contrast step ``threshold`` crossed between frames, as a DVS does.
Per-pixel threshold mismatch and background noise events make the streams
look like recordings rather than rendered frames.
"""
from __future__ import annotations

import numpy as np

EVENT_DTYPE = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])


def video_to_events(video: np.ndarray, frame_us: int, rng: np.random.Generator,
                    threshold: float = 0.25, mismatch: float = 0.1,
                    noise_rate_hz: float = 0.5) -> list[np.ndarray]:
    """Convert videos ``[N, T, H, W]`` (intensity >= 0) into event arrays.

    Returns one structured array per video, sorted by time, fields x, y, t
    (microseconds), p (0/1), the layout tonic uses.
    """
    n, steps, h, w = video.shape
    log_i = np.log(video.astype(np.float64) + 0.05)
    ref = log_i[:, 0].copy()
    thr = threshold * (1 + mismatch * rng.standard_normal((n, h, w))).clip(0.5, 2)
    chunks = []
    for step in range(1, steps):
        diff = log_i[:, step] - ref
        count = np.trunc(diff / thr).astype(int)
        ref += count * thr
        idx = np.nonzero(count)
        reps = np.abs(count[idx])
        s, y, x = (np.repeat(a, reps) for a in idx)
        pol = np.repeat(count[idx] > 0, reps).astype(int)
        t = step * frame_us + rng.integers(0, frame_us, size=len(s))
        chunks.append(np.stack([s, x, y, t, pol], 1))
    n_noise = rng.poisson(noise_rate_hz * steps * frame_us * 1e-6 * h * w, size=n)
    total = int(n_noise.sum())
    chunks.append(np.stack([np.repeat(np.arange(n), n_noise), rng.integers(0, w, total),
                            rng.integers(0, h, total),
                            rng.integers(0, steps * frame_us, total),
                            rng.integers(0, 2, total)], 1))
    ev = np.concatenate(chunks)
    ev = ev[np.lexsort((ev[:, 3], ev[:, 0]))]
    bounds = np.searchsorted(ev[:, 0], np.arange(n + 1))
    out = []
    for k in range(n):
        part = ev[bounds[k]:bounds[k + 1]]
        arr = np.zeros(len(part), dtype=EVENT_DTYPE)
        for j, name in enumerate(("x", "y", "t", "p"), start=1):
            arr[name] = part[:, j]
        out.append(arr)
    return out


def shift_bilinear(images: np.ndarray, dx: float, dy: float,
                   out_hw: tuple[int, int], origin: tuple[int, int]) -> np.ndarray:
    """Place ``images [N, h, w]`` on an ``out_hw`` canvas at ``origin + (dx, dy)``
    with bilinear sub-pixel interpolation."""
    n, h, w = images.shape
    canvas = np.zeros((n, out_hw[0] + 1, out_hw[1] + 1))
    ox, oy = origin[1] + dx, origin[0] + dy
    ix, iy = int(np.floor(ox)), int(np.floor(oy))
    fx, fy = ox - ix, oy - iy
    for (ddy, ddx, wgt) in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx),
                            (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):
        canvas[:, iy + ddy:iy + ddy + h, ix + ddx:ix + ddx + w] += wgt * images
    return canvas[:, :out_hw[0], :out_hw[1]]
