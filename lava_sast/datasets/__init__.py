"""Datasets as binned spike tensors: N-MNIST and DVS Gesture through tonic,
plus embedded defaults that need no download.

>>> train = load_dataset("digits", split="train")      # embedded default
>>> test = load_dataset("nmnist", "../shared/data/nmnist-small", split="test")
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from torch.utils.data import DataLoader, Dataset

from ..defaults import FAMILY_DEFAULTS
from .binning import BinnedDataset, BinningSpec, bin_dataset
from .errors import DatasetError
from .splits import (TUNING_BLOCK_SEED, fold_indices, stratified_indices,
                     train_val_indices, tuning_block_indices)

DEFAULT_DATASET = "digits"


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset needs: how to open a split and how to bin it, and which default net
    and defaults it takes.

    ``family`` (``'dense'`` or ``'conv'``) picks the default network and the net family's
    defaults.  ``tuned_presets``: whether the method defaults of that family load their
    tuned preset (``lava_sast/presets``, tuned on N-MNIST).  The built-in datasets do; a
    dataset you register does not unless it says so, so it never inherits settings tuned
    on other data silently (``python -m lava_sast.train --defaults`` prints both tables).
    """

    open_split: Callable[[Optional[str], bool], Dataset]
    sensor_size: tuple[int, int, int]
    num_classes: int
    bin_us: int
    n_bins: int
    downsample: int = 1
    needs_data_dir: bool = False
    #: kind of default network: ``'dense'`` or ``'conv'`` (spatial input)
    family: str = "dense"
    #: the family's tuned presets are this dataset's defaults (see the class docstring)
    tuned_presets: bool = False


def _open_digits(_data_dir: Optional[str], train: bool) -> Dataset:
    from .digits import SaccadeDigits
    return SaccadeDigits(train=train)


def _open_nmnist(data_dir: Optional[str], train: bool) -> Dataset:
    from .nmnist import NMNIST
    return NMNIST(data_dir, train=train)


def _open_dvsgesture(data_dir: Optional[str], train: bool) -> Dataset:
    from .dvsgesture import DVSGesture
    return DVSGesture(data_dir, train=train)


def _open_shapes(_data_dir: Optional[str], train: bool) -> Dataset:
    from .shapes import MovingShapes
    return MovingShapes(train=train)


#: Every dataset by name: the built-in ones, then what :func:`register_dataset` adds.  The
#: built-in ones take the presets tuned on N-MNIST (the main job's defaults).
DATASETS: dict[str, DatasetInfo] = {
    "digits": DatasetInfo(_open_digits, (18, 18, 2), 10, bin_us=10_000, n_bins=30,
                          tuned_presets=True),
    "nmnist": DatasetInfo(_open_nmnist, (34, 34, 2), 10, bin_us=10_000, n_bins=30,
                          needs_data_dir=True, tuned_presets=True),
    "dvsgesture": DatasetInfo(_open_dvsgesture, (128, 128, 2), 11, bin_us=50_000,
                              n_bins=30, downsample=4, needs_data_dir=True, family="conv",
                              tuned_presets=True),
    "shapes": DatasetInfo(_open_shapes, (32, 32, 2), 6, bin_us=10_000, n_bins=30,
                          family="conv", tuned_presets=True),
}


class RegisteredNames:
    """The names in :data:`DATASETS` as they are *now*: an argparse ``choices`` that sees
    every :func:`register_dataset`, made before or after the parser was built."""

    def __contains__(self, name: object) -> bool:
        return name in DATASETS

    def __iter__(self):
        return iter(sorted(DATASETS))

    def __len__(self) -> int:
        return len(DATASETS)

    def __repr__(self) -> str:
        return repr(sorted(DATASETS))


#: ``choices=`` of every command's ``--dataset``.
DATASET_CHOICES = RegisteredNames()

_MEMORY: dict[tuple, BinnedDataset] = {}


def _open_events(name: str, info: DatasetInfo, data_dir: Optional[str], train: bool,
                 download: bool) -> Dataset:
    try:
        return info.open_split(data_dir, train)
    except DatasetError:
        if not download:
            raise
    from .download import download_split
    download_split(name, data_dir, train)
    return info.open_split(data_dir, train)


def default_binning(info: DatasetInfo, bin_us: Optional[int],
                    n_bins: Optional[int]) -> tuple[int, int]:
    """``(bin_us, n_bins)``: the dataset's own, or a given bin width over the dataset's time
    window (``n_bins`` bins of ``bin_us``: 1 ms bins of N-MNIST's 300 ms are 300)."""
    width = int(bin_us or info.bin_us)
    if n_bins is None:
        n_bins = info.n_bins if bin_us is None else -(-info.bin_us * info.n_bins // width)
    return width, int(n_bins)


def load_dataset(name: str, data_dir: Optional[str | Path] = None, split: str = "train",
                 bin_us: Optional[int] = None, n_bins: Optional[int] = None,
                 downsample: Optional[int] = None,
                 max_samples: Optional[int] = None, subset_seed: int = 0,
                 cache_dir: Optional[str | Path] = None, download: bool = False,
                 workers: Optional[int] = None) -> BinnedDataset:
    """Open ``split`` ('train' or 'test') of dataset ``name`` as binned spikes.

    ``bin_us``, ``n_bins`` and ``downsample`` default to the dataset's own
    settings; ``max_samples`` keeps a class-stratified subset drawn with
    ``subset_seed`` (see :func:`stratified_indices`).  Recorded datasets are binned once
    into the disk cache under ``cache_dir`` (see :mod:`lava_sast.datasets.cache`;
    ``workers`` processes) and memory-mapped from there; ``download`` lets tonic fetch a
    split missing from ``data_dir``.
    """
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; choose from {sorted(DATASETS)}")
    if split not in ("train", "test"):
        raise DatasetError(f"split must be 'train' or 'test', got {split!r}")
    info = DATASETS[name]
    if info.needs_data_dir and data_dir is None:
        raise DatasetError(f"dataset {name!r} needs --data-dir (the folder to read, or with "
                           f"--download the folder to fetch it into)")
    spec = BinningSpec(info.sensor_size, *default_binning(info, bin_us, n_bins),
                       downsample or info.downsample)
    folder = str(Path(data_dir).resolve()) if data_dir else None
    key = (name, folder, split, spec, str(cache_dir) if cache_dir else None)
    if key not in _MEMORY:
        events = _open_events(name, info, str(data_dir) if data_dir else None,
                              split == "train", download)
        classes = getattr(events, "classes", None)
        if info.needs_data_dir and hasattr(events, "data"):  # recordings: disk cache
            from .cache import cached_binning
            _MEMORY[key] = cached_binning(events, spec, info.num_classes, name, split,
                                          folder, cache_dir, workers, class_names=classes)
        else:  # generated in memory: nothing to cache
            _MEMORY[key] = bin_dataset(events, spec, info.num_classes, name,
                                       desc=f"{name} {split}", class_names=classes)
    data = _MEMORY[key]
    if max_samples is None or max_samples >= len(data):
        return data
    return data.select(stratified_indices(data.labels, max_samples, subset_seed))


def batches(dataset: Dataset, batch_size: int) -> DataLoader:
    """Batches ``(float spikes, labels)`` of ``dataset`` in order (a :class:`BinnedDataset`
    unpacks each batch at once; any other dataset goes through a plain ``DataLoader``)."""
    if isinstance(dataset, BinnedDataset):
        return dataset.loader(batch_size)
    return DataLoader(dataset, batch_size=batch_size)


def network_family(name: str) -> str:
    """``'conv'`` or ``'dense'``: the kind of default network of dataset ``name``."""
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; choose from {sorted(DATASETS)}")
    return DATASETS[name].family


def takes_presets(name: str) -> bool:
    """Whether dataset ``name``'s defaults load its net family's tuned presets."""
    return name in DATASETS and DATASETS[name].tuned_presets


def register_dataset(name: str, info: DatasetInfo) -> None:
    """Make another dataset available to :func:`load_dataset` and to every command's
    ``--dataset`` (choices are read when the command line is parsed).  ``info.family``
    picks its default net; it takes the tuned presets only with ``info.tuned_presets``.
    A bad name, info or family raises :class:`DatasetError` naming it."""
    if not isinstance(name, str) or not name or name != name.strip() or name.startswith("-"):
        raise DatasetError(f"register_dataset: bad dataset name {name!r}")
    if not isinstance(info, DatasetInfo):
        raise DatasetError(f"register_dataset({name!r}): info must be a DatasetInfo, got "
                           f"{type(info).__name__}")
    if info.family not in FAMILY_DEFAULTS:
        raise DatasetError(f"register_dataset({name!r}): family {info.family!r} is not one "
                           f"of {sorted(FAMILY_DEFAULTS)}")
    DATASETS[name] = info


__all__ = ["batches", "BinnedDataset", "BinningSpec", "DatasetError", "DatasetInfo", "default_binning",
           "DATASETS", "DATASET_CHOICES", "DEFAULT_DATASET", "load_dataset",
           "network_family", "register_dataset", "takes_presets", "bin_dataset", "fold_indices", "stratified_indices",
           "train_val_indices"]
