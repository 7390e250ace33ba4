"""lava-sast: train CUBA-LIF spiking nets in lava-dl (SLAYER) with Sharpness-Aware
Surrogate Training (SAST) and other methods, export them through NetX and run them in
Lava ``fixed_pt`` (Loihi 2).

Importing this package first installs :mod:`lava_sast.compat`, which makes lava-nc
0.10.0 and lava-dl 0.6.0 importable on Python 3.11: import ``lava_sast`` before ``lava``.
Every public name loads on first use, so ``import lava_sast`` stays light::

    import lava_sast as L
    report = L.train(L.TrainConfig(method="sast", epochs=3, out="runs/api"))
    lava = L.evaluate_network("runs/api/network_int8.net", "digits", None, "test",
                              samples=20, engine="lava")

Training

- ``TrainConfig``: dataclass of every run setting (``None``: the method's and net
  family's default; ``python -m lava_sast.train --defaults`` prints them).
- ``train(cfg: TrainConfig, resume: bool = False, ...) -> dict``: one run as ``python -m
  lava_sast.train`` does it (checkpoint, INT8/INT4 NetX files, ``report.json``); returns
  the report.  ``train`` is also that command's module (``lava_sast.train.main``).
- ``SastNetwork(arch: list[dict], input_shape: Sequence[int], ...)``: the CUBA-LIF net, a
  ``torch.nn.Module`` of lava-dl SLAYER blocks, with smooth or hard spikes.
- ``SAM(params, base_optimizer_cls, rho: float = 0.05, adaptive: bool = False, ...)``:
  Sharpness-Aware Minimization around any torch optimiser, for your own training loop.
- ``spike_modes(model, modes: Sequence[str])``: a context that evaluates in other modes.
- ``get_method(name: str) -> Method``, ``METHOD_NAMES``: the training methods.

Data

- ``load_dataset(name: str, data_dir=None, split: str = "train", ...) -> BinnedDataset``.
- ``register_dataset(name: str, info: DatasetInfo) -> None`` and ``DatasetInfo``: your own
  events, for the API and every command's ``--dataset``.
- ``make_moving_shapes(n: int, seed: int)``: synthetic event recordings (tutorial 03).

Networks and deployment (the NetX and Lava helpers are :mod:`netx_export`'s)

- ``load_network(path, which: str = "best") -> SastNetwork``: a trained net from its
  ``checkpoint.pt``.
- ``input_binning(path) -> dict``: the input binning a NetX file records.
- ``model_from_file(path) -> SastNetwork``: a net from a NIR graph.
- ``train_and_deploy(cfg: TrainConfig, **kwargs) -> dict``: ``train`` with the export.
- ``export_network(model, path, weight_bits: int = 8, ..., binning=None) -> list[dict]``:
  the net as NetX hdf5 with power-of-two per-layer weights.
- ``evaluate_network(path: str, dataset: str, data_dir, split: str, samples, engine:
  str = "lava", ...) -> dict``: accuracy and SynOps of a NetX file in Lava ``fixed_pt``
  or the bit-exact emulator (``engine="emulator"``).
- ``compare(path: str, inputs, timeout_s: float = 900.0, ...) -> dict``: the emulator
  against Lava, spike for spike.
- ``load_int_network(path) -> IntNetwork``, ``load_inputs(net, dataset, data_dir, split,
  samples, ...)``, ``emulate(net, spikes)``, ``emulate_dataset(net, data)``: a NetX file's
  integer net, inputs binned as it records, and the bit-exact emulator.
- ``import_file(path, out, ...) -> dict`` / ``export_file(source, out)``: NIR graphs in
  (to NetX files) and out.
- ``landscape``: the transfer-gap landscape of committed predictions (tutorial 01).
- ``__version__``: this package's version.
"""
from __future__ import annotations

import importlib
from typing import Any

from . import compat as _compat  # noqa: F401  (must precede any lava import)

__version__ = "0.1.0"

#: Public name -> (module, attribute; None: the module itself), loaded on first use.
#: Names from :mod:`netx_export` are loaded by name only (this package's library modules
#: never import it; see tests/test_shape.py).
_LAZY: dict[str, tuple[str, Any]] = {
    "TrainConfig": ("lava_sast.config", "TrainConfig"),
    "train": ("lava_sast.train", None),  # the command's module, callable as the function
    "SastNetwork": ("lava_sast.models", "SastNetwork"),
    "SAM": ("lava_sast.sam", "SAM"),
    "spike_modes": ("lava_sast.models", "spike_modes"),
    "input_binning": ("lava_sast.models", "input_binning"),
    "get_method": ("lava_sast.methods", "get_method"),
    "METHOD_NAMES": ("lava_sast.methods", "METHOD_NAMES"),
    "load_dataset": ("lava_sast.datasets", "load_dataset"),
    "register_dataset": ("lava_sast.datasets", "register_dataset"),
    "DatasetInfo": ("lava_sast.datasets", "DatasetInfo"),
    "make_moving_shapes": ("lava_sast.datasets.shapes", "make_moving_shapes"),
    "load_network": ("lava_sast.checkpoint", "load_network"),
    "model_from_file": ("lava_sast.nir_graph", "model_from_file"),
    "landscape": ("lava_sast.experiments.landscape", None),
    "train_and_deploy": ("netx_export.hardware_eval", "train_and_deploy"),
    "export_network": ("netx_export.export", "export_network"),
    "evaluate_network": ("netx_export.run", "evaluate_network"),
    "compare": ("netx_export.verify", "compare"),
    "load_int_network": ("netx_export.netx_model", "load_int_network"),
    "load_inputs": ("netx_export.data_input", "load_inputs"),
    "emulate": ("netx_export.emulate", "emulate"),
    "emulate_dataset": ("netx_export.emulate", "emulate_dataset"),
    "import_file": ("netx_export.nir", "import_file"),
    "export_file": ("netx_export.nir", "export_file"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    """PEP 562: load a public name on first use."""
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'lava_sast' has no attribute {name!r}") from None
    mod = importlib.import_module(module)
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value  # cached: the next use skips this hook
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
