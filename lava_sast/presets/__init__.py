"""Named presets: per-method settings stored as data, in the format ``lava_sast.tune``
writes as ``best.json`` (``{"methods": {METHOD: {setting: value}}, ...}``).

The defaults of a network family load a preset (:mod:`lava_sast.methods`), and
``--config`` takes a preset name as well as a file.  This module only finds and reads the
JSON; :func:`lava_sast.config.read_settings` checks every setting.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

FOLDER = Path(__file__).resolve().parent


def preset_names() -> list[str]:
    """Names of the presets shipped with the package (file names without ``.json``)."""
    return sorted(p.stem for p in FOLDER.glob("*.json"))


def preset_path(name: str) -> Path:
    """The file of preset ``name``; ``KeyError`` when there is none."""
    path = FOLDER / f"{name}.json"
    if not path.is_file():
        raise KeyError(name)
    return path


@lru_cache(maxsize=None)
def _load(name: str) -> str:
    return preset_path(name).read_text()


def load_preset(name: str) -> dict[str, Any]:
    """The parsed preset ``name`` (a fresh copy each call)."""
    return json.loads(_load(name))


def preset_settings(name: str, method: str) -> dict[str, Any]:
    """Method ``method``'s settings in preset ``name`` (empty when it has none)."""
    return dict(load_preset(name)["methods"].get(method, {}))


def tuning_record(data: dict[str, Any]) -> Optional[dict[str, Any]]:
    """Where the settings of a ``best.json``-format file were tuned: its ``tuned_on``
    record (dataset, ``tuning_block``, ...); for a tuning output written before tuning
    blocks existed, one saying it tuned on the whole training split (``tuning_block``
    0); ``None`` for a hand-written file (nothing was tuned)."""
    if isinstance(data.get("tuned_on"), dict):
        return dict(data["tuned_on"])
    if "trials" in data:
        return {"dataset": data.get("dataset"), "tuning_block": 0.0}
    return None

