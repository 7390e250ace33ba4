"""DVS128 Gesture from a local folder, through ``tonic.datasets.DVSGesture``.

Accepted layouts under ``data_dir``: tonic's (``DVSGesture/ibmGestureTrain/
<user>_<lighting>/<label>.npy``) or the same without the ``DVSGesture``
level.  Each ``.npy`` holds an ``[events, 4]`` array of columns x, y, p, t
with t in milliseconds (tonic converts to microseconds).  Nothing is
downloaded, whatever the number of files.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import tonic

from .errors import DatasetError
from .local_folder import LocalFolderMixin, find_root

SENSOR_SIZE = (128, 128, 2)
USER_FOLDER = re.compile(r"^user\d+_\w+$")
LABELS = {str(c) for c in range(11)}
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
        try:
            entries = sorted(split.iterdir())
        except OSError as exc:
            raise DatasetError(f"DVS Gesture folder {split} cannot be listed: {exc}") from exc
        bad = [p.name for p in entries if not p.is_dir() or not USER_FOLDER.match(p.name)]
        if bad:
            raise DatasetError(f"DVS Gesture folder {split} has entries not in the "
                               f"'user<NN>_<lighting>/' layout: {', '.join(bad[:5])}")
        for folder in entries:
            names = [f.name for f in folder.iterdir() if f.name.endswith("npy")]
            wrong = [n for n in names if n[:-4] not in LABELS]
            if wrong:  # tonic takes the label from the file name
                raise DatasetError(f"DVS Gesture folder {folder} has files that are not "
                                   f"<label>.npy with a label 0-10: {', '.join(wrong[:5])}")
        if not any(split.glob("*/*.npy")):
            raise DatasetError(f"DVS Gesture folder {split} holds no <user>_<lighting>/"
                               f"<label>.npy files")
        return True

    def __getitem__(self, index: int):
        """Events of recording ``index`` checked, in tonic's dtype with t in us, and its label.

        The file is read without pickle, every column is checked (finite, integer
        coordinates on the 128x128 sensor, polarity 0/1, t >= 0), and converted in
        int64 whatever its stored dtype (tonic's in-place ``t *= 1000`` wraps small
        integer types)."""
        path = self.data[index]
        try:
            arr = np.load(path, allow_pickle=False)
        except Exception as exc:
            raise DatasetError(f"DVS Gesture file {path} cannot be read: {exc}") from exc
        if arr.ndim != 2 or arr.shape[1] != 4:
            raise DatasetError(f"DVS Gesture file {path} has shape {arr.shape}; expected "
                               f"[events, 4] with columns x, y, p, t (t in ms)")
        if arr.dtype.kind not in "iuf":
            raise DatasetError(f"DVS Gesture file {path} holds {arr.dtype} values, not numbers")
        table = arr.astype(np.float64)
        if not np.all(np.isfinite(table)):
            raise DatasetError(f"DVS Gesture file {path} has NaN or infinite values")
        x, y, p, t = table.T
        width, height, _ = SENSOR_SIZE
        coords = np.concatenate([x, y, p])
        if np.any(coords != np.round(coords)) or np.any(coords < 0) or (
                len(x) and (x.max() >= width or y.max() >= height or p.max() > 1)):
            raise DatasetError(f"DVS Gesture file {path} has events off the {width}x{height} "
                               f"sensor or polarities other than 0/1")
        if np.any(t < 0):
            raise DatasetError(f"DVS Gesture file {path} has negative timestamps")
        events = np.zeros(len(table), dtype=self.dtype)
        for name, column in zip("xyp", (x, y, p)):
            events[name] = column.astype(np.int64)
        events["t"] = np.round(t * 1000).astype(np.int64)  # ms -> us
        target = self.targets[index]
        if self.transform is not None:
            events = self.transform(events)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return events, target


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
