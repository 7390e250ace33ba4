"""N-MNIST from a local folder, through ``tonic.datasets.NMNIST``.

Accepted layouts under ``data_dir``: tonic's own (``NMNIST/Train/<digit>/*.bin``)
or N-MNIST's (``Train/<digit>/*.bin``).  Nothing is downloaded: tonic only
downloads when its archive check fails, and this subclass replaces that check
with a validation of the folder that raises :class:`DatasetError`.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import tonic

from .errors import DatasetError

SENSOR_SIZE = (34, 34, 2)


def _find_root(data_dir: Path, split_folder: str) -> Path:
    for root in (data_dir / "NMNIST", data_dir):
        if (root / split_folder).is_dir():
            return root
    if not data_dir.exists():
        raise DatasetError(f"N-MNIST folder {data_dir} does not exist")
    raise DatasetError(
        f"N-MNIST folder {data_dir} has no '{split_folder}/' (expected "
        f"{data_dir}/{split_folder}/<digit>/*.bin or {data_dir}/NMNIST/{split_folder}/...)")


class NMNIST(tonic.datasets.NMNIST):
    """``tonic.datasets.NMNIST`` reading an existing folder; never downloads.

    The class keeps tonic's name ``NMNIST`` (tonic derives its folder from it);
    the location is resolved here instead, so both layouts work.
    """

    def __init__(self, data_dir: str | os.PathLike, train: bool = True, **kwargs) -> None:
        folder = self.train_folder if train else self.test_folder
        self._root = _find_root(Path(data_dir), folder)
        super().__init__(save_to=str(data_dir), train=train, **kwargs)
        if not self.data:
            raise DatasetError(f"N-MNIST folder {self._root / folder} holds no .bin files")

    @property
    def location_on_system(self) -> str:  # type: ignore[override]
        return str(self._root)

    @location_on_system.setter
    def location_on_system(self, _value: str) -> None:
        pass  # tonic would use save_to/NMNIST; the resolved root wins

    def _check_exists(self) -> bool:
        split = Path(self._root) / self.folder_name
        if not any(split.glob("*/*.bin")):
            raise DatasetError(f"N-MNIST folder {split} holds no <digit>/*.bin files")
        return True

    def download(self) -> None:  # pragma: no cover - _check_exists never fails
        raise DatasetError("lava-sast never downloads N-MNIST; pass --data-dir")

    def __getitem__(self, index: int):
        path = self.data[index]
        size = os.path.getsize(path)
        if size == 0 or size % 5:
            raise DatasetError(
                f"corrupt N-MNIST event file {path}: {size} bytes is not a "
                f"positive multiple of 5 (5 bytes per event)")
        return super().__getitem__(index)
