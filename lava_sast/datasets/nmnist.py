"""N-MNIST from a local folder, through ``tonic.datasets.NMNIST``.

Accepted layouts under ``data_dir``: tonic's own (``NMNIST/Train/<digit>/*.bin``)
or N-MNIST's (``Train/<digit>/*.bin``).  Nothing is downloaded: tonic only
downloads when its archive check fails, and this subclass replaces that check
with a validation of the folder that raises :class:`DatasetError`.
"""
from __future__ import annotations

import os
from pathlib import Path

import tonic

from .errors import DatasetError
from .local_folder import LocalFolderMixin, find_root

SENSOR_SIZE = (34, 34, 2)
DIGITS = {str(d) for d in range(10)}


class NMNIST(LocalFolderMixin, tonic.datasets.NMNIST):
    """``tonic.datasets.NMNIST`` reading an existing folder; never downloads.

    The class keeps tonic's name ``NMNIST`` (tonic derives its folder from it);
    the location is resolved here instead, so both layouts work.
    """

    def __init__(self, data_dir: str | os.PathLike, train: bool = True, **kwargs) -> None:
        folder = self.train_folder if train else self.test_folder
        self._root = find_root(Path(data_dir), "NMNIST", folder, "N-MNIST", "<digit>/*.bin")
        super().__init__(save_to=str(data_dir), train=train, **kwargs)
        if not self.data:
            raise DatasetError(f"N-MNIST folder {self._root / folder} holds no .bin files")

    def _check_exists(self) -> bool:
        split = Path(self._root) / self.folder_name
        try:
            entries = sorted(split.iterdir())
        except OSError as exc:
            raise DatasetError(f"N-MNIST folder {split} cannot be listed: {exc}") from exc
        bad = [p.name for p in entries if not p.is_dir() or p.name not in DIGITS]
        if bad:  # tonic would take the last character of any folder name as the label
            raise DatasetError(f"N-MNIST folder {split} has entries that are not digit "
                               f"folders 0-9: {', '.join(bad[:5])}")
        if not any(split.glob("*/*.bin")):
            raise DatasetError(f"N-MNIST folder {split} holds no <digit>/*.bin files")
        return True

    def __getitem__(self, index: int):
        path = self.data[index]
        try:
            size = os.path.getsize(path)
            if size == 0 or size % 5:
                raise DatasetError(
                    f"corrupt N-MNIST event file {path}: {size} bytes is not a "
                    f"positive multiple of 5 (5 bytes per event)")
            events, label = super().__getitem__(index)
        except OSError as exc:  # unreadable, a dangling link, a symlink loop
            raise DatasetError(f"N-MNIST event file {path} cannot be read: "
                               f"{exc.strerror or exc}") from exc
        width, height, _ = SENSOR_SIZE
        if len(events) and (events["x"].max() >= width or events["y"].max() >= height):
            raise DatasetError(f"N-MNIST event file {path} has events outside the "
                               f"{width}x{height} sensor (x up to {events['x'].max()}, "
                               f"y up to {events['y'].max()}): not an N-MNIST recording")
        return events, label
