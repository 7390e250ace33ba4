"""Shared pieces for tonic datasets read from an existing local folder."""
from __future__ import annotations

from pathlib import Path

from .errors import DatasetError


def find_root(data_dir: Path, tonic_name: str, split_folder: str, dataset: str,
              example: str) -> Path:
    """Folder holding ``split_folder``: ``data_dir/<tonic_name>`` (tonic's layout) or ``data_dir``."""
    for root in (data_dir / tonic_name, data_dir):
        if (root / split_folder).is_dir():
            return root
    if not data_dir.exists():
        raise DatasetError(f"{dataset} folder {data_dir} does not exist")
    raise DatasetError(
        f"{dataset} folder {data_dir} has no '{split_folder}/' (expected "
        f"{data_dir}/{split_folder}/{example} or {data_dir}/{tonic_name}/{split_folder}/...)")


class LocalFolderMixin:
    """Put before a tonic dataset class: the resolved ``_root`` replaces tonic's
    ``save_to/<ClassName>`` location, and downloading is refused."""

    _root: Path

    @property
    def location_on_system(self) -> str:
        return str(self._root)

    @location_on_system.setter
    def location_on_system(self, _value: str) -> None:
        pass  # tonic would derive save_to/<ClassName>; the resolved root wins

    def download(self) -> None:  # pragma: no cover - _check_exists never returns False
        raise DatasetError(f"lava-sast never downloads {type(self).__name__}; pass --data-dir")
