"""Event streams -> dense binary spike tensors, with tonic transforms."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np
import tonic
import torch
from torch.utils.data import (BatchSampler, DataLoader, Dataset, RandomSampler,
                              SequentialSampler)
from ..progress import progress


@dataclass(frozen=True)
class BinningSpec:
    """How events become spikes: ``n_bins`` bins of ``bin_us`` microseconds.

    ``sensor_size`` is tonic's ``(width, height, polarities)`` of the *binned*
    frames (after optional ``downsample`` by an integer factor).
    """

    sensor_size: tuple[int, int, int]
    bin_us: int
    n_bins: int
    downsample: int = 1

    @property
    def frame_size(self) -> tuple[int, int, int]:
        w, h, p = self.sensor_size
        return (w // self.downsample, h // self.downsample, p)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Shape ``(C, H, W)`` of one time bin as SLAYER sees it."""
        w, h, p = self.frame_size
        return (p, h, w)

    @property
    def sample_shape(self) -> tuple[int, int, int, int]:
        """Shape ``(C, H, W, T)`` of one binned sample."""
        return (*self.input_shape, self.n_bins)

    @property
    def row_bytes(self) -> int:
        """Bytes of one bit-packed sample (``numpy.packbits`` of :attr:`sample_shape`)."""
        return (int(np.prod(self.sample_shape)) + 7) // 8

    def transform(self) -> Callable[[np.ndarray], np.ndarray]:
        """tonic transform pipeline: events -> bool array ``[T, C, H, W]``."""
        steps: list = [tonic.transforms.CropTime(max=self.bin_us * self.n_bins - 1)]
        if self.downsample > 1:
            steps.append(tonic.transforms.Downsample(
                spatial_factor=1.0 / self.downsample))
        steps.append(tonic.transforms.ToFrame(
            sensor_size=self.frame_size, time_window=self.bin_us,
            start_time=0, end_time=self.bin_us * self.n_bins))
        compose = tonic.transforms.Compose(steps)

        def to_spikes(events: np.ndarray) -> np.ndarray:
            frames = compose(events) if len(events) else np.zeros(
                (self.n_bins, *self.input_shape), dtype=np.int16)
            out = np.zeros((self.n_bins, *self.input_shape), dtype=bool)
            n = min(self.n_bins, frames.shape[0])
            out[:n] = frames[:n] > 0
            return out

        return to_spikes


class BinnedDataset(Dataset):
    """Binary spike tensors ``[C, H, W, T]`` with integer labels, stored bit-packed
    (one row of ``numpy.packbits`` per sample, in memory or memory-mapped from the disk
    cache, :mod:`lava_sast.datasets.cache`) and unpacked per batch.

    ``dataset[i]`` gives ``(float spikes, label)``; ``dataset[[i, j, ...]]`` gives a
    batch ``(float [B, C, H, W, T], labels [B])``, which is what :meth:`loader` feeds.
    """

    def __init__(self, packed: np.ndarray, labels: torch.Tensor, spec: BinningSpec,
                 num_classes: int, name: str, class_names: Optional[Sequence[str]] = None,
                 rows: Optional[np.ndarray] = None) -> None:
        self.spec = spec
        self.sample_shape = spec.sample_shape
        self.sample_bits = int(np.prod(self.sample_shape))
        if packed.ndim != 2 or packed.shape[1] != spec.row_bytes:
            raise ValueError(f"{name}: packed spikes must be [N, {spec.row_bytes}] bytes, "
                             f"got {packed.shape}")
        self.packed = packed
        self.rows = np.arange(len(packed)) if rows is None else np.asarray(rows, dtype=np.int64)
        self.labels = torch.as_tensor(labels, dtype=torch.long)
        if len(self.labels) != len(self.rows):
            raise ValueError(f"{name}: {len(self.rows)} samples but {len(self.labels)} labels")
        self.num_classes = num_classes
        self.name = name
        self.class_names = list(class_names) if class_names else None

    @classmethod
    def from_spikes(cls, spikes: torch.Tensor, labels: torch.Tensor, spec: BinningSpec,
                    num_classes: int, name: str,
                    class_names: Optional[Sequence[str]] = None) -> "BinnedDataset":
        """Pack boolean spikes ``[N, C, H, W, T]`` (kept in memory)."""
        if spikes.dim() != 5:
            raise ValueError(f"spikes must be [N, C, H, W, T], got {tuple(spikes.shape)}")
        flat = spikes.reshape(spikes.shape[0], -1).bool().numpy()
        return cls(np.packbits(flat, axis=1), labels, spec, num_classes, name, class_names)

    def __len__(self) -> int:
        return len(self.labels)

    def unpack(self, positions: Sequence[int] | np.ndarray) -> torch.Tensor:
        """Boolean spikes ``[B, C, H, W, T]`` of the samples at ``positions``."""
        rows = self.rows[np.asarray(positions, dtype=np.int64)]
        order = np.argsort(rows, kind="stable")  # read a memory map front to back
        bits = np.unpackbits(self.packed[rows[order]], axis=1, count=self.sample_bits)
        bits[order] = bits.copy()
        return torch.from_numpy(bits).view(torch.bool).reshape(len(rows), *self.sample_shape)

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)):
            return self.unpack([int(index)])[0].float(), int(self.labels[index])
        positions = np.asarray(index, dtype=np.int64)
        return self.unpack(positions).float(), self.labels[torch.from_numpy(positions)]

    @property
    def spikes(self) -> torch.Tensor:
        """Every sample unpacked, ``[N, C, H, W, T]`` bool (small sets; else use batches)."""
        return self.unpack(np.arange(len(self)))

    def select(self, indices: Sequence[int]) -> "BinnedDataset":
        """The samples at ``indices``, in that order (shares the packed storage)."""
        idx = np.asarray(indices, dtype=np.int64)
        return BinnedDataset(self.packed, self.labels[torch.from_numpy(idx)], self.spec,
                             self.num_classes, self.name, self.class_names, self.rows[idx])

    def loader(self, batch_size: int, shuffle: bool = False,
               generator: Optional[torch.Generator] = None) -> DataLoader:
        """Batches ``(float spikes, labels)``, each unpacked at once; shuffled with
        ``generator`` the way ``DataLoader(shuffle=True, generator=...)`` shuffles."""
        sampler = (RandomSampler(self, generator=generator) if shuffle
                   else SequentialSampler(self))
        return DataLoader(self, sampler=BatchSampler(sampler, batch_size, drop_last=False),
                          batch_size=None, generator=generator)


def bin_samples(events_dataset: Dataset, indices: Sequence[int],
                spec: BinningSpec) -> tuple[np.ndarray, np.ndarray]:
    """``(packed spikes [len(indices), bytes], labels)`` of samples ``indices``."""
    to_spikes = spec.transform()
    packed, labels = [], []
    for i in indices:
        events, label = events_dataset[i]
        spikes = np.ascontiguousarray(to_spikes(events).transpose(1, 2, 3, 0))  # C, H, W, T
        packed.append(np.packbits(spikes.reshape(-1)))
        labels.append(int(label))
    return np.stack(packed), np.asarray(labels, dtype=np.int64)


def bin_dataset(events_dataset: Dataset, spec: BinningSpec, num_classes: int,
                name: str, desc: str = "binning events",
                class_names: Optional[Sequence[str]] = None) -> BinnedDataset:
    """Bin every ``(events, label)`` of a tonic dataset into an in-memory
    :class:`BinnedDataset` (the disk cache, :func:`~lava_sast.datasets.cache.cached_binning`,
    does the same into a memory-mapped file with worker processes)."""
    if len(events_dataset) == 0:
        raise ValueError(f"{name}: no samples to bin")
    chunks, labels = [], []
    for start in progress(range(0, len(events_dataset), 64), desc=desc, leave=False):
        p, y = bin_samples(events_dataset, range(start, min(start + 64, len(events_dataset))),
                           spec)
        chunks.append(p)
        labels.append(y)
    return BinnedDataset(np.concatenate(chunks), torch.from_numpy(np.concatenate(labels)),
                         spec, num_classes, name, class_names)
