"""``--download``: let tonic fetch N-MNIST or DVS Gesture into ``--data-dir``.

Off by default.  tonic downloads the archive, checks its MD5 and extracts it into its own
layout (``<data-dir>/NMNIST/Train``, ``<data-dir>/DVSGesture/ibmGestureTrain``), which
the local loaders read.  Without a network the error names the address that failed, and
the folders the attempt created are removed.
"""
from __future__ import annotations

import shutil
import socket
from pathlib import Path

import tonic

from .errors import DatasetError

TONIC_CLASSES = {"nmnist": tonic.datasets.NMNIST, "dvsgesture": tonic.datasets.DVSGesture}


def download_split(name: str, data_dir: str | Path, train: bool,
                   timeout_s: float = 60.0) -> None:
    """Fetch split ``train``/test of dataset ``name`` into ``data_dir`` through tonic."""
    if name not in TONIC_CLASSES:
        raise DatasetError(f"--download: dataset {name!r} is not downloadable; "
                           f"tonic fetches {sorted(TONIC_CLASSES)}")
    cls = TONIC_CLASSES[name]
    url = cls.train_url if train else cls.test_url
    split = "train" if train else "test"
    root = Path(data_dir)
    # what a failed download leaves behind goes: folders this call creates are removed
    created = [p for p in (root, root / cls.__name__) if not p.exists()]
    root.mkdir(parents=True, exist_ok=True)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout_s)
    try:
        print(f"downloading {name} {split} from {url} into {data_dir} (tonic)")
        cls(save_to=str(data_dir), train=train)
    except BaseException as exc:  # urllib, socket, MD5, archive errors, Ctrl-C alike
        for folder in reversed(created):
            shutil.rmtree(folder, ignore_errors=True)
        if not isinstance(exc, Exception):
            raise
        reason = str(getattr(exc, "reason", "") or exc).strip() or type(exc).__name__
        raise DatasetError(f"--download: could not fetch {name} {split} from {url}: "
                           f"{reason}") from exc
    finally:
        socket.setdefaulttimeout(previous)
