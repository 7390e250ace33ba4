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
   multiprocessing context first.  The hook adds ``force=True`` (fork is the
   Linux default on 3.11 anyway).

Lava starts its runtime processes by ``fork``, so children inherit the hook.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import re
import sys
import types
from typing import Optional, Sequence

VAR_MODEL = "lava.magma.compiler.var_model"
LAVA_MP = "lava.magma.runtime.message_infrastructure.multiprocessing"
OBJECT_DETECTION = "lava.lib.dl.slayer.object_detection"
_MUTABLE_DEFAULT = re.compile(r"^(\s+\w+: ByteEncoder) = ByteEncoder\(\)\s*$", re.M)


def patch_var_model_source(source: str) -> str:
    """Return ``var_model.py`` source with dataclass-safe ByteEncoder defaults."""
    patched, count = _MUTABLE_DEFAULT.subn(
        r"\1 = _dc_field(default_factory=ByteEncoder)", source)
    if count == 0:
        return source
    lines = patched.split("\n")
    future = [i for i, line in enumerate(lines)
              if line.startswith("from __future__")]
    lines.insert(future[-1] + 1 if future else 0,
                 "from dataclasses import field as _dc_field")
    return "\n".join(lines)


def patch_lava_mp_source(source: str) -> str:
    """Return Lava's multiprocessing module source with a forced fork start method."""
    return source.replace("mp.set_start_method('fork')",
                          "mp.set_start_method('fork', force=True)")


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
    """Install the finder once, ahead of the default path finders."""
    if not any(isinstance(f, LavaCompatFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, LavaCompatFinder())


install()
