"""Training configuration: one dataclass, its resolution and checks, and the
command-line options that every training CLI shares (declared once, here)."""
from __future__ import annotations

import argparse
import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Optional

from .datasets import DATASETS, DEFAULT_DATASET, network_family
from .defaults import (ANNEAL_FACTOR, FAMILY_DEFAULTS, METHOD_ALIASES, METHOD_DEFAULTS,
                       METHOD_NAMES, SAM_METHODS, SLAYER_GRADIENT)
from .device import DEVICE_CHOICES, resolve_device
from .models import check_arch_options


@dataclass
class TrainConfig:
    """Every training setting; saved in the checkpoint and the report.  ``None``
    means "the default of the dataset's network family or of the method"
    (:func:`resolved`)."""

    dataset: str = DEFAULT_DATASET
    data_dir: Optional[str] = None
    method: str = "sast"
    rho: Optional[float] = None  # default: the method's (defaults.METHOD_DEFAULTS), else 0
    adaptive: bool = True
    climb_every: int = 1
    sam_layerwise: bool = False
    sam_layers: str = "all"  # "all", "dense" or "conv": which layers SAM's climb perturbs
    sam_ascent: str = "same"  # "same" batch or an "independent" one for the climb
    beta: Optional[float] = None
    beta_end: Optional[float] = None  # anneal: slope at the last epoch
    threshold: Optional[float] = None
    tau_grad: Optional[float] = None
    scale_grad: Optional[float] = None
    qat_bits: Optional[int] = None  # 8 or 4: exporter's quantiser in the loop
    epochs: int = 20
    batch_size: int = 32
    lr: Optional[float] = None
    lr_schedule: str = "constant"
    weight_scale: Optional[float] = None
    seed: int = 0
    hidden: Optional[int] = None
    conv_channels: Optional[tuple[int, int]] = None
    bin_us: Optional[int] = None
    n_bins: Optional[int] = None
    train_samples: Optional[int] = None
    test_samples: Optional[int] = None
    val_fraction: float = 0.1
    true_rate: Optional[float] = None
    false_rate: Optional[float] = None
    hardware_eval: bool = True
    out: str = "runs/default"
    # where and how a run computes and reads data; no effect on what it learns
    device: str = "auto"
    cache_dir: Optional[str] = None
    download: bool = False

    def __post_init__(self) -> None:
        if self.conv_channels is not None:  # a CLI list or a JSON list: one canonical form
            self.conv_channels = tuple(self.conv_channels)
        self.method = METHOD_ALIASES.get(self.method, self.method)

    @property
    def effective_rho(self) -> float:
        """The SAM radius training uses (0 for methods without SAM)."""
        return resolved(self).rho if self.method in SAM_METHODS else 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Rebuild from a saved dict, ignoring keys this version does not know."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def resolved(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` with every ``None`` default filled in: method defaults first, then
    the dataset's network family, then SLAYER's surrogate gradient."""
    filled = {**FAMILY_DEFAULTS[network_family(cfg.dataset)], **SLAYER_GRADIENT, "rho": 0.0,
              **METHOD_DEFAULTS.get(cfg.method, {})}
    cfg = replace(cfg, **{k: v for k, v in filled.items() if getattr(cfg, k) is None})
    if cfg.beta_end is None:
        cfg = replace(cfg, beta_end=cfg.beta * ANNEAL_FACTOR if cfg.method == "anneal"
                      else cfg.beta)
    return cfg


#: Settings a stored run may differ in from a request to continue or reuse it.
RESUMABLE = frozenset({"epochs", "out", "hardware_eval", "data_dir", "device", "cache_dir",
                       "download"})


def config_differences(stored: dict[str, Any], wanted: TrainConfig,
                       keys: Optional[set[str]] = None) -> list[tuple[str, Any, Any]]:
    """``(setting, stored value, wanted value)`` for every resolved setting (of ``keys``,
    default all) outside :data:`RESUMABLE` in which a stored run differs from ``wanted``."""
    have = resolved(TrainConfig.from_dict(stored)).as_dict()
    want = resolved(wanted).as_dict()
    names = want if keys is None else [k for k in sorted(keys) if k in want]
    return [(k, have.get(k), want[k]) for k in names
            if k not in RESUMABLE and have.get(k) != want[k]]


def _positive(name: str, value: Optional[float], allow_zero: bool = False) -> None:
    if value is None:
        return
    ok = math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'} and finite, "
                         f"got {value}")


def check_config(cfg: TrainConfig) -> None:
    """Raise ``ValueError`` naming the first bad setting; called before anything is written."""
    if cfg.dataset not in DATASETS:
        raise ValueError(f"unknown dataset {cfg.dataset!r}; choose from {sorted(DATASETS)}")
    if cfg.method not in METHOD_NAMES:
        raise ValueError(f"unknown method {cfg.method!r}; choose from {list(METHOD_NAMES)}")
    cfg = resolved(cfg)
    check_arch_options(cfg.hidden, cfg.conv_channels)
    for name in ("lr", "beta", "beta_end", "threshold", "weight_scale", "tau_grad",
                 "scale_grad"):
        _positive(name, getattr(cfg, name))
    _positive("rho", cfg.rho, allow_zero=True)
    for name in ("epochs", "batch_size", "climb_every", "bin_us", "n_bins", "train_samples",
                 "test_samples"):
        value = getattr(cfg, name)
        if value is not None and value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if not 0.0 <= cfg.val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {cfg.val_fraction}")
    resolve_device(cfg.device)
    if cfg.qat_bits not in (None, 8, 4):
        raise ValueError(f"qat_bits must be 8 or 4, got {cfg.qat_bits}")
    if not 0.0 <= cfg.false_rate < cfg.true_rate <= 1.0:
        raise ValueError(f"rate targets must satisfy 0 <= false rate < true rate <= 1, got "
                         f"false rate {cfg.false_rate} and true rate {cfg.true_rate}")


_D = TrainConfig()


def add_runtime_args(p: argparse.ArgumentParser) -> None:
    """Declare ``--device``, ``--cache-dir`` and ``--download`` (every command that trains,
    evaluates or reads a dataset)."""
    p.add_argument("--device", default=_D.device,
                   help=f"{DEVICE_CHOICES} (auto: CUDA when present, else the CPU)")
    p.add_argument("--cache-dir", default=None,
                   help="folder of the binned-dataset cache (default $LAVA_SAST_CACHE_DIR, "
                        "else ~/.cache/lava-sast)")
    p.add_argument("--download", action="store_true",
                   help="let tonic fetch N-MNIST / DVS Gesture into --data-dir when it is "
                        "not there (needs a network)")


def add_training_args(p: argparse.ArgumentParser, many: bool = False) -> None:
    """Declare every training option on ``p``.  With ``many`` (study and sweep),
    ``--method``, ``--rho`` and ``--seed`` take lists (also spelt ``--methods``,
    ``--seeds``)."""
    lists = {"nargs": "+"} if many else {}
    p.add_argument("--dataset", choices=sorted(DATASETS), default=_D.dataset)
    p.add_argument("--data-dir", default=None, help="local dataset folder (never downloaded)")
    p.add_argument("--method", *(["--methods"] if many else []),
                   **({} if many else {"choices": list(METHOD_NAMES) + list(METHOD_ALIASES)}),
                   default=[_D.method] if many else _D.method, **lists,
                   help="surrogate (alias baseline): smooth forward, Adam; sast: surrogate + "
                        "SAM; slayer: lava-dl's recipe (hard forward, SLAYER gradient, 8-bit "
                        "hook); slayer-sam: SAM around slayer; anneal: surrogate with beta "
                        "raised to --beta-end (SAM if --rho > 0)"
                        + ("; in a study NAME@RHO pins a SAM method's radius" if many else ""))
    p.add_argument("--rho", type=float, default=None, **lists,
                   help="SAM radius (default: the method's, chosen on validation in the "
                        "N-MNIST pilot: sast 0.3, slayer-sam 0.05, anneal 0)")
    p.add_argument("--sam", choices=["adaptive", "standard"], default="adaptive",
                   help="adaptive SAM (rho relative to each weight) or standard (absolute)")
    p.add_argument("--sam-layerwise", action="store_true",
                   help="normalise the SAM climb per layer instead of over the whole net")
    p.add_argument("--sam-layers", choices=["all", "dense", "conv"], default=_D.sam_layers,
                   help="layers SAM's climb perturbs")
    p.add_argument("--sam-ascent", choices=["same", "independent"], default=_D.sam_ascent,
                   help="batch the climb's gradient comes from: the same one, or an "
                        "independent one (the paper's ascent minibatch)")
    p.add_argument("--climb-every", type=int, default=_D.climb_every,
                   help="recompute the SAM ascent direction every k steps (cheaper)")
    p.add_argument("--beta", type=float, default=None,
                   help="surrogate sigmoid slope (default 1 dense nets, 5 conv nets)")
    p.add_argument("--beta-end", type=float, default=None,
                   help="anneal: slope at the last epoch (default 10 x --beta)")
    p.add_argument("--threshold", type=float, default=None,
                   help="neuron threshold (default 1.25 dense nets, 1.0 conv nets)")
    p.add_argument("--tau-grad", type=float, default=None,
                   help="SLAYER surrogate-gradient width for hard-forward methods (0.03)")
    p.add_argument("--scale-grad", type=float, default=None,
                   help="SLAYER surrogate-gradient scale for hard-forward methods (3)")
    p.add_argument("--qat-bits", type=int, choices=[8, 4], default=None,
                   help="train through the exporter's per-layer power-of-two quantiser "
                        "(straight-through) at this weight width")
    p.add_argument("--epochs", type=int, default=_D.epochs)
    p.add_argument("--batch-size", type=int, default=_D.batch_size)
    p.add_argument("--lr", type=float, default=None,
                   help="Adam learning rate (default 3e-3; 1e-3 for slayer methods)")
    p.add_argument("--lr-schedule", choices=["constant", "cosine"], default=_D.lr_schedule)
    p.add_argument("--weight-scale", type=float, default=None,
                   help="SLAYER initial weight scale (default 2 dense nets, 0.5 conv nets)")
    p.add_argument("--true-rate", type=float, default=None,
                   help="spike-rate target of the true class (default 0.2 dense, 0.5 conv)")
    p.add_argument("--false-rate", type=float, default=None,
                   help="spike-rate target of the other classes (default 0.03)")
    p.add_argument("--seed", *(["--seeds"] if many else []), type=int,
                   default=[_D.seed] if many else _D.seed, **lists)
    p.add_argument("--hidden", type=int, default=None,
                   help="hidden dense layer width (0: none, the output reads the last layer)")
    p.add_argument("--conv-channels", type=int, nargs=2, default=None, metavar=("C1", "C2"),
                   help="output channels of the two conv layers (conv nets; default 16 32)")
    p.add_argument("--bin-us", type=int, default=None, help="time bin in microseconds")
    p.add_argument("--n-bins", type=int, default=None, help="time bins per sample")
    p.add_argument("--train-samples", type=int, default=None,
                   help="class-stratified, seed-shuffled subset of the training split")
    p.add_argument("--test-samples", type=int, default=None,
                   help="class-stratified subset of the test split (the same for every run)")
    p.add_argument("--val-fraction", type=float, default=_D.val_fraction,
                   help="stratified share of the training data held out to pick the epoch")
    p.add_argument("--no-hardware-eval", dest="hardware_eval", action="store_false",
                   help="skip the INT8/INT4 export and emulator evaluation")
    p.add_argument("--out", default=None if many else _D.out, required=many,
                   help="output folder")
    add_runtime_args(p)
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT/checkpoint.pt" + (" (a study always resumes)"
                                                              if many else ""))


def config_from_args(args: argparse.Namespace, **override: Any) -> TrainConfig:
    """A :class:`TrainConfig` from parsed :func:`add_training_args` options."""
    values = {k: v for k, v in vars(args).items() if k in {f.name for f in fields(TrainConfig)}}
    values["adaptive"] = args.sam == "adaptive"
    values.update(override)
    return TrainConfig(**values)
