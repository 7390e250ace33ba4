"""Packaging says what install.sh installs: lava-nc and lava-dl declared at the versions
install.sh adds (and lava_sast/compat.py patches), every exact pin in pyproject.toml
explained there, and the license file the metadata names."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = (ROOT / "pyproject.toml").read_text()
INSTALL = (ROOT / "install.sh").read_text()


def _pins(text: str) -> dict[str, str]:
    return dict(re.findall(r'"([A-Za-z0-9_.-]+)==([0-9][^"\s]*)"', text))


def test_lava_is_declared_as_install_sh_installs_it():
    project = tomllib.loads(PYPROJECT)["project"]
    deps = _pins(" ".join(f'"{d}"' for d in project["dependencies"]))
    installed = _pins(INSTALL)
    for name in ("lava-nc", "lava-dl", "torch"):
        assert deps[name] == installed[name], name
    assert "--no-deps --ignore-requires-python" in INSTALL
    from lava_sast.compat import PATCHED_VERSIONS
    assert {k: v for k, v in PATCHED_VERSIONS.items() if k in deps} == \
        {k: deps[k] for k in PATCHED_VERSIONS if k in deps}


def test_every_exact_pin_is_explained_and_the_license_is_shipped():
    project = tomllib.loads(PYPROJECT)["project"]
    head = PYPROJECT.split("dependencies = [", 1)[0]
    for name in _pins(" ".join(f'"{d}"' for d in project["dependencies"])):
        assert re.search(rf"^# - .*\b{re.escape(name)}\b", head, re.M), \
            f"{name}: exact pin without a reason in pyproject.toml"
    assert project["license"] == "BSD-3-Clause" and project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("BSD 3-Clause License")
    assert {"nir", "ray", "test"} <= set(project["optional-dependencies"])
