"""DVS128 Gesture from a local folder, through ``tonic.datasets.DVSGesture``.

Accepted layouts under ``data_dir``: tonic's (``DVSGesture/ibmGestureTrain/
<user>_<lighting>/<label>.npy``) or the same without the ``DVSGesture``
level.  Each ``.npy`` holds an ``[events, 4]`` array of columns x, y, p, t
with t in milliseconds (tonic converts to microseconds).  Nothing is
downloaded, whatever the number of files.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import tonic

from .errors import DatasetError
from .local_folder import LocalFolderMixin, find_root

SENSOR_SIZE = (128, 128, 2)
FOLDERS = {True: "ibmGestureTrain", False: "ibmGestureTest"}


class DVSGesture(LocalFolderMixin, tonic.datasets.DVSGesture):
    """``tonic.datasets.DVSGesture`` reading an existing folder; never downloads.

    Keeps tonic's class name (tonic derives its folder from it).
    """

    def __init__(self, data_dir: str | os.PathLike, train: bool = True, **kwargs) -> None:
        self._root = find_root(Path(data_dir), "DVSGesture", FOLDERS[train], "DVS Gesture",
                               "<user>_<lighting>/<label>.npy")
        super().__init__(save_to=str(data_dir), train=train, **kwargs)
        if not self.data:
            raise DatasetError(f"DVS Gesture folder {self._root / FOLDERS[train]} holds "
                               f"no <user>_<lighting>/<label>.npy files")

    def _check_exists(self) -> bool:
        split = Path(self._root) / self.folder_name
        entries = [p for p in split.iterdir()]
        bad = [p.name for p in entries if not p.is_dir() or "_" not in p.name
               or not p.name.startswith("user")]
        if bad:
            raise DatasetError(f"DVS Gesture folder {split} has entries not in the "
                               f"'user<NN>_<lighting>/' layout: {', '.join(sorted(bad)[:5])}")
        if not any(split.glob("*/*.npy")):
            raise DatasetError(f"DVS Gesture folder {split} holds no <user>_<lighting>/"
                               f"<label>.npy files")
        return True

    def __getitem__(self, index: int):
        path = self.data[index]
        try:
            arr = np.load(path, mmap_mode="r")
        except Exception as exc:
            raise DatasetError(f"DVS Gesture file {path} cannot be read: {exc}") from exc
        if arr.ndim != 2 or arr.shape[1] != 4:
            raise DatasetError(f"DVS Gesture file {path} has shape {arr.shape}; expected "
                               f"[events, 4] with columns x, y, p, t (t in ms)")
        return super().__getitem__(index)


def write_tonic_layout(events: np.ndarray, label: int, out_dir: str | os.PathLike,
                       train: bool = False, user: int = 1,
                       lighting: str = "fluorescent") -> Path:
    """Save one recording (structured x, y, t [us], p) as tonic's ``<label>.npy``.

    For example to turn SLAYER's ``.bs2`` gesture clips into a folder that
    :class:`DVSGesture` and ``--dataset dvsgesture`` read.
    """
    folder = Path(out_dir) / "DVSGesture" / FOLDERS[train] / f"user{user:02d}_{lighting}"
    folder.mkdir(parents=True, exist_ok=True)
    table = np.stack([events["x"], events["y"], events["p"],
                      events["t"] // 1000], axis=1).astype(np.int64)  # t: us -> ms
    path = folder / f"{label}.npy"
    np.save(path, table)
    return path
