"""Event streams -> dense binary spike tensors, with tonic transforms."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np
import tonic
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm


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
    """In-memory binary spike tensors ``[C, H, W, T]`` with integer labels."""

    def __init__(self, spikes: torch.Tensor, labels: torch.Tensor,
                 spec: BinningSpec, num_classes: int, name: str,
                 class_names: Optional[Sequence[str]] = None) -> None:
        if spikes.dim() != 5:
            raise ValueError(f"spikes must be [N, C, H, W, T], got {tuple(spikes.shape)}")
        self.spikes = spikes
        self.labels = labels
        self.spec = spec
        self.num_classes = num_classes
        self.name = name
        self.class_names = list(class_names) if class_names else None

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.spikes[i].float(), int(self.labels[i])

    def select(self, indices: Sequence[int]) -> "BinnedDataset":
        """The samples at ``indices``, in that order."""
        idx = torch.as_tensor(np.asarray(indices), dtype=torch.long)
        return BinnedDataset(self.spikes[idx], self.labels[idx], self.spec,
                             self.num_classes, self.name, self.class_names)


def bin_dataset(events_dataset: Dataset, spec: BinningSpec, num_classes: int,
                name: str, desc: str = "binning events",
                class_names: Optional[Sequence[str]] = None) -> BinnedDataset:
    """Bin every ``(events, label)`` of a tonic dataset into a :class:`BinnedDataset`."""
    to_spikes = spec.transform()
    spikes, labels = [], []
    for i in tqdm(range(len(events_dataset)), desc=desc, leave=False):
        events, label = events_dataset[i]
        spikes.append(torch.from_numpy(to_spikes(events)).permute(1, 2, 3, 0))
        labels.append(int(label))
    if not spikes:
        raise ValueError(f"{name}: no samples to bin")
    return BinnedDataset(torch.stack(spikes), torch.tensor(labels), spec,
                         num_classes, name, class_names)
