"""Make lava-nc 0.10.0 and lava-dl 0.6.0 importable on Python >= 3.11.

Importing :mod:`lava_sast` (or :mod:`netx_export`) installs this hook before
any ``lava`` module loads.  It fixes two problems without editing
site-packages:

1. ``lava/magma/compiler/var_model.py`` declares dataclass fields as
   ``x: ByteEncoder = ByteEncoder()``.  Python 3.11 rejects such mutable
   defaults (``ValueError: mutable default ... ByteEncoder``).  The hook
   rewrites those lines to ``field(default_factory=ByteEncoder)`` while the
   module's source is compiled; behaviour is otherwise unchanged.
2. ``lava.lib.dl.slayer`` imports ``object_detection`` at package import,
   which needs ``cv2`` and a ``torchvision`` that loads beside the CPU torch
   wheel (none does).  When either is missing, the hook serves a placeholder
   module that raises a clear ``ImportError`` only if object detection is
   actually used.  SAST never uses it.

3. ``lava/magma/runtime/message_infrastructure/multiprocessing.py`` calls
   ``mp.set_start_method('fork')`` at import, which raises ``RuntimeError:
   context has already been set`` when torch or scikit-learn touched the
   multiprocessing context first, and would switch the whole importing process
   to ``fork``.  The hook removes that call; :func:`use_fork_for_lava` sets the
   start method only in the process where Lava runs (the child that
   :mod:`netx_export.lava_runner` forks).

Every patch checks that the installed versions are the ones it was written for
(:data:`PATCHED_VERSIONS`) and that its target text is found; otherwise the import
fails with a :class:`LavaCompatError` that says which file and version, instead of
silently doing nothing.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.metadata
import importlib.util
import multiprocessing
import re
import sys
import types
from typing import Optional, Sequence

VAR_MODEL = "lava.magma.compiler.var_model"
LAVA_MP = "lava.magma.runtime.message_infrastructure.multiprocessing"
OBJECT_DETECTION = "lava.lib.dl.slayer.object_detection"
_MUTABLE_DEFAULT = re.compile(r"^(\s+\w+: ByteEncoder) = ByteEncoder\(\)\s*$", re.M)
_SET_FORK = "mp.set_start_method('fork')"

#: Distribution versions whose source the patches below were written against.
PATCHED_VERSIONS = {"lava-nc": "0.10.0", "lava-dl": "0.6.0"}


class LavaCompatError(ImportError):
    """The installed Lava is not the one the compatibility patches were written for."""


def check_versions() -> None:
    """Raise :class:`LavaCompatError` unless lava-nc and lava-dl are the patched versions."""
    for dist, want in PATCHED_VERSIONS.items():
        try:
            have = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            raise LavaCompatError(f"{dist} is not installed; run ./install.sh") from None
        if have != want:
            raise LavaCompatError(
                f"lava_sast.compat patches {dist} {want}, but {have} is installed; "
                f"install {dist}=={want} (./install.sh) or update lava_sast/compat.py")


def patch_var_model_source(source: str) -> str:
    """Return ``var_model.py`` source with dataclass-safe ByteEncoder defaults."""
    patched, count = _MUTABLE_DEFAULT.subn(
        r"\1 = _dc_field(default_factory=ByteEncoder)", source)
    if count == 0:
        raise LavaCompatError(f"{VAR_MODEL}: no 'x: ByteEncoder = ByteEncoder()' field "
                              f"found to patch (lava-nc {PATCHED_VERSIONS['lava-nc']} "
                              f"expected)")
    lines = patched.split("\n")
    future = [i for i, line in enumerate(lines)
              if line.startswith("from __future__")]
    lines.insert(future[-1] + 1 if future else 0,
                 "from dataclasses import field as _dc_field")
    return "\n".join(lines)


def patch_lava_mp_source(source: str) -> str:
    """Return Lava's multiprocessing module source without its import-time
    ``set_start_method('fork')`` (see :func:`use_fork_for_lava`)."""
    if _SET_FORK not in source:
        raise LavaCompatError(f"{LAVA_MP}: {_SET_FORK} not found to patch (lava-nc "
                              f"{PATCHED_VERSIONS['lava-nc']} expected)")
    return source.replace(_SET_FORK, "pass  # lava_sast.compat: see use_fork_for_lava()")


def use_fork_for_lava() -> None:
    """Make this process start Lava's runtime processes by ``fork`` (call it only in
    the process that runs Lava)."""
    multiprocessing.set_start_method("fork", force=True)


_PATCHES = {VAR_MODEL: patch_var_model_source, LAVA_MP: patch_lava_mp_source}


class _PatchedSourceLoader(importlib.machinery.SourceFileLoader):
    def source_to_code(self, data, path, *, _optimize=-1):  # type: ignore[override]
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return compile(_PATCHES[self.name](text), path, "exec",
                       dont_inherit=True, optimize=_optimize)

    def get_code(self, fullname):  # bypass the cached, unpatched bytecode
        source = self.get_data(self.get_filename(fullname))
        return self.source_to_code(source, self.get_filename(fullname))


class _ObjectDetectionPlaceholder(importlib.abc.Loader):
    def create_module(self, spec):
        return _MissingObjectDetection(spec.name)

    def exec_module(self, module):
        return None


class _MissingObjectDetection(types.ModuleType):
    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        raise ImportError(
            "lava.lib.dl.slayer.object_detection needs cv2 and a torchvision "
            "that loads beside the installed torch; lava-sast does not install "
            "them (see lava_sast/compat.py).")


def _object_detection_deps_available() -> bool:
    for name in ("cv2", "torchvision"):
        try:
            if importlib.util.find_spec(name) is None:
                return False
            __import__(name)
        except Exception:  # torchvision fails to import beside CPU torch
            return False
    return True


class LavaCompatFinder(importlib.abc.MetaPathFinder):
    """Meta-path finder that serves the patched modules."""

    def __init__(self) -> None:
        self._od_ok: Optional[bool] = None

    def find_spec(self, fullname: str, path: Optional[Sequence[str]],
                  target=None):
        if fullname in _PATCHES:
            spec = importlib.machinery.PathFinder.find_spec(fullname, path)
            if spec is None or spec.origin is None:
                return None
            spec.loader = _PatchedSourceLoader(fullname, spec.origin)
            return spec
        if fullname == OBJECT_DETECTION:
            if self._od_ok is None:
                self._od_ok = _object_detection_deps_available()
            if not self._od_ok:
                return importlib.machinery.ModuleSpec(
                    fullname, _ObjectDetectionPlaceholder(), is_package=True)
        return None


def install() -> None:
    """Check the Lava versions and install the finder once, ahead of the default path finders."""
    check_versions()
    if not any(isinstance(f, LavaCompatFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, LavaCompatFinder())


install()
