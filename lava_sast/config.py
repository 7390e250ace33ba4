"""Training configuration: one dataclass, its resolution and checks, and the
command-line options that every training CLI shares (declared once, here)."""
from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Optional, Sequence

from .datasets import DATASETS, DEFAULT_DATASET, network_family
from .defaults import (ANNEAL_FACTOR, FAMILY_DEFAULTS, FAMILY_METHOD_DEFAULTS, LOSSES, METHOD_ALIASES, METHOD_DEFAULTS,
                       METHOD_NAMES, SAM_METHODS, SLAYER_GRADIENT, TRAINING_DEFAULTS,
                       TUNED_DEFAULTS)
from .cli_types import non_negative_float
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
    adaptive: Optional[bool] = None  # adaptive SAM (default) or standard
    climb_every: int = 1
    sam_layerwise: bool = False
    sam_layers: str = "all"  # "all", "dense" or "conv": which layers SAM's climb perturbs
    sam_ascent: Optional[str] = None  # "same" batch (default) or an "independent" one
    beta: Optional[float] = None
    beta_end: Optional[float] = None  # anneal: slope at the last epoch
    beta_warmup: Optional[int] = None  # surrogate forward: epochs to raise beta from beta_start
    beta_start: Optional[float] = None  # surrogate forward: slope of the first epoch
    threshold: Optional[float] = None
    tau_grad: Optional[float] = None
    scale_grad: Optional[float] = None
    qat_bits: Optional[int] = None  # 8 or 4: exporter's quantiser in the loop; 0: off
    epochs: int = 20
    batch_size: int = 32
    lr: Optional[float] = None
    lr_schedule: str = "constant"
    lr_per_slope: Optional[bool] = None  # surrogate forward: Adam's lr divided by beta
    weight_scale: Optional[float] = None
    seed: int = 0
    hidden: Optional[int] = None
    conv_channels: Optional[tuple[int, int]] = None
    init_from: Optional[str] = None  # a NIR graph to start from (its net replaces the default)
    bin_us: Optional[int] = None
    n_bins: Optional[int] = None
    train_samples: Optional[int] = None
    test_samples: Optional[int] = None
    val_fraction: float = 0.1
    folds: int = 0  # > 1: cross-validation over the training split; fold `fold` is held out
    fold: int = 0
    fold_seed: int = 0  # the folds' shuffle, the same for every method and seed
    true_rate: Optional[float] = None
    false_rate: Optional[float] = None
    loss: Optional[str] = None  # "rate" (lava-dl's SpikeRate) or "ce" (cross-entropy on counts)
    logit_scale: Optional[float] = None  # ce: logits = logit_scale * output spike rate
    clip_grad: Optional[float] = None  # max global gradient norm (0: no clipping)
    init_rate: Optional[float] = None  # calibrate each layer's initial rate on data (0: off)
    patience: Optional[int] = None  # stop after this many epochs without a better validation
    hardware_eval: bool = True
    out: str = "runs/default"
    # where and how a run computes and reads data; no effect on what it learns
    device: str = "auto"
    cache_dir: Optional[str] = None
    download: bool = False
    quiet: bool = False

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
    """``cfg`` with every ``None`` default filled in, the later winning: the dataset's
    network family, SLAYER's surrogate gradient, the training defaults, the method's, the
    method's for that family, and its tuned settings for that family
    (:data:`defaults.TUNED_DEFAULTS`)."""
    family = network_family(cfg.dataset)
    filled = {**FAMILY_DEFAULTS[family], **SLAYER_GRADIENT, "rho": 0.0,
              **TRAINING_DEFAULTS, **METHOD_DEFAULTS.get(cfg.method, {}),
              **FAMILY_METHOD_DEFAULTS.get(family, {}).get(cfg.method, {}),
              **TUNED_DEFAULTS.get(family, {}).get(cfg.method, {})}
    cfg = replace(cfg, **{k: v for k, v in filled.items() if getattr(cfg, k) is None})
    if cfg.beta_end is None:
        cfg = replace(cfg, beta_end=cfg.beta * ANNEAL_FACTOR if cfg.method == "anneal"
                      else cfg.beta)
    return cfg


#: Settings a stored run may differ in from a request to continue or reuse it.
RESUMABLE = frozenset({"epochs", "out", "hardware_eval", "data_dir", "device", "cache_dir",
                       "download", "quiet"})


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
    for name in ("lr", "beta", "beta_end", "beta_start", "threshold", "weight_scale", "tau_grad",
                 "scale_grad"):
        _positive(name, getattr(cfg, name))
    for name in ("rho", "clip_grad", "init_rate"):
        _positive(name, getattr(cfg, name), allow_zero=True)
    _positive("logit_scale", cfg.logit_scale)
    if cfg.init_rate is not None and cfg.init_rate >= 1:
        raise ValueError(f"init_rate must be below 1, got {cfg.init_rate}")
    if cfg.loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {cfg.loss!r}")
    for name in ("patience", "beta_warmup"):
        if getattr(cfg, name) is not None and getattr(cfg, name) < 0:
            raise ValueError(f"{name} must be >= 0, got {getattr(cfg, name)}")
    for name in ("epochs", "batch_size", "climb_every", "bin_us", "n_bins", "train_samples",
                 "test_samples"):
        value = getattr(cfg, name)
        if value is not None and value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if cfg.folds and (cfg.folds < 2 or not 0 <= cfg.fold < cfg.folds):
        raise ValueError(f"fold must be in 0..{cfg.folds - 1} and folds >= 2, got fold "
                         f"{cfg.fold} of {cfg.folds}")
    if not 0.0 <= cfg.val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {cfg.val_fraction}")
    resolve_device(cfg.device)
    if cfg.qat_bits not in (None, 0, 8, 4):
        raise ValueError(f"qat_bits must be 8, 4 or 0 (off), got {cfg.qat_bits}")
    if not 0.0 <= cfg.false_rate < cfg.true_rate <= 1.0:
        raise ValueError(f"rate targets must satisfy 0 <= false rate < true rate <= 1, got "
                         f"false rate {cfg.false_rate} and true rate {cfg.true_rate}")


_D = TrainConfig()


def _on_off(text: str) -> bool:
    if text not in ("on", "off"):
        raise argparse.ArgumentTypeError(f"expected on or off, got {text!r}")
    return text == "on"


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
    p.add_argument("--quiet", action="store_true",
                   help="no progress bars and no per-epoch lines (bars show only on a "
                        "terminal anyway)")


def add_training_args(p: argparse.ArgumentParser, many: bool = False) -> None:
    """Declare every training option on ``p``.  With ``many`` (study and sweep),
    ``--method``, ``--rho`` and ``--seed`` take lists (also spelt ``--methods``,
    ``--seeds``)."""
    lists = {"nargs": "+"} if many else {}
    p.add_argument("--config", default=None, metavar="FILE",
                   help="per-method settings from a JSON file (lava_sast.tune's best.json); "
                        "options given on the command line win")
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
    p.add_argument("--rho", type=non_negative_float, default=None, **lists,
                   help="SAM radius (default: the method's, tuned on N-MNIST validation for "
                        "dense nets; see lava_sast/defaults.py)")
    p.add_argument("--sam", choices=["adaptive", "standard"], default=None,
                   help="adaptive SAM (rho relative to each weight; the default) or standard "
                        "(absolute)")
    p.add_argument("--sam-layerwise", action="store_true",
                   help="normalise the SAM climb per layer instead of over the whole net")
    p.add_argument("--sam-layers", choices=["all", "dense", "conv"], default=_D.sam_layers,
                   help="layers SAM's climb perturbs")
    p.add_argument("--sam-ascent", choices=["same", "independent"], default=None,
                   help="batch the climb's gradient comes from: the same one (default), or an "
                        "independent one (the paper's ascent minibatch)")
    p.add_argument("--climb-every", type=int, default=_D.climb_every,
                   help="recompute the SAM ascent direction every k steps (cheaper)")
    p.add_argument("--beta", type=float, default=None,
                   help="surrogate sigmoid slope (default 1 dense nets, 5 conv nets)")
    p.add_argument("--beta-end", type=float, default=None,
                   help="anneal: slope at the last epoch (default 10 x --beta)")
    p.add_argument("--beta-warmup", type=int, default=None,
                   help="surrogate-forward methods: raise the slope geometrically from "
                        "--beta-start to --beta over this many epochs (0: --beta throughout)")
    p.add_argument("--beta-start", type=float, default=None,
                   help="slope of the first warm-up epoch (default 1)")
    p.add_argument("--threshold", type=float, default=None,
                   help="neuron threshold (default 1.25 dense nets, 1.0 conv nets)")
    p.add_argument("--tau-grad", type=float, default=None,
                   help="SLAYER surrogate-gradient width for hard-forward methods (0.03)")
    p.add_argument("--scale-grad", type=float, default=None,
                   help="SLAYER surrogate-gradient scale for hard-forward methods (3)")
    p.add_argument("--qat-bits", type=int, choices=[8, 4, 0], default=None,
                   help="train through the exporter's per-layer power-of-two quantiser "
                        "(straight-through) at this weight width; 0: off (default: the "
                        "method's)")
    p.add_argument("--loss", choices=list(LOSSES), default=None,
                   help="rate: lava-dl's SpikeRate targets; ce: cross-entropy with the output "
                        "spike rates times --logit-scale as logits (lava-dl's SpikeMax); "
                        "default: rate for slayer methods, ce for surrogate-forward ones")
    p.add_argument("--logit-scale", type=float, default=None,
                   help="ce loss: logits = this x output spike rate")
    p.add_argument("--clip-grad", type=float, default=None,
                   help="clip the gradient's global norm to this (0: off)")
    p.add_argument("--init-rate", type=float, default=None,
                   help="before training, scale each layer's weights (input to output) so "
                        "its mean spike rate on a training batch is this (0: SLAYER's "
                        "initialisation unchanged)")
    p.add_argument("--epochs", type=int, default=_D.epochs, help="most epochs to train")
    p.add_argument("--patience", type=int, default=None,
                   help="stop once validation has not improved for this many epochs "
                        "(0: train all --epochs)")
    p.add_argument("--batch-size", type=int, default=_D.batch_size)
    p.add_argument("--lr", type=float, default=None,
                   help="Adam learning rate (default 3e-3; 1e-3 for slayer methods)")
    p.add_argument("--lr-schedule", choices=["constant", "cosine"], default=_D.lr_schedule)
    p.add_argument("--lr-per-slope", type=_on_off, default=None, metavar="on|off",
                   help="surrogate-forward methods: Adam's learning rate is --lr / beta, so "
                        "a step moves beta (v - theta) equally at every slope")
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
    p.add_argument("--init-from", default=None, metavar="NET.nir",
                   help="start from a NIR graph (any framework's; see netx_export.nir): its "
                        "layers, weights and neurons replace the default net")
    p.add_argument("--bin-us", type=int, default=None, help="time bin in microseconds")
    p.add_argument("--n-bins", type=int, default=None, help="time bins per sample")
    p.add_argument("--train-samples", type=int, default=None,
                   help="class-stratified, seed-shuffled subset of the training split")
    p.add_argument("--test-samples", type=int, default=None,
                   help="class-stratified subset of the test split (the same for every run)")
    p.add_argument("--val-fraction", type=float, default=_D.val_fraction,
                   help="stratified share of the training data held out to pick the epoch")
    p.add_argument("--folds", type=int, default=_D.folds,
                   help="cross-validation: stratified K folds of the training split; the "
                        "test metrics are on the held-out fold" + (
                            " (a study runs every fold and pools them)" if many else ""))
    if not many:
        p.add_argument("--fold", type=int, default=_D.fold, help="the held-out fold")
    p.add_argument("--fold-seed", type=int, default=_D.fold_seed,
                   help="shuffle of the folds (the same for every method and seed)")
    p.add_argument("--no-hardware-eval", dest="hardware_eval", action="store_false",
                   help="skip the INT8/INT4 export and emulator evaluation")
    p.add_argument("--out", default=None if many else _D.out, required=many,
                   help="output folder")
    add_runtime_args(p)
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT/checkpoint.pt" + (" (a study always resumes)"
                                                              if many else ""))


def given_options(p: argparse.ArgumentParser, argv: Sequence[str]) -> set[str]:
    """Config fields the command line ``argv`` sets explicitly (``--sam`` sets
    ``adaptive``)."""
    words = {w.split("=", 1)[0] for w in argv if w.startswith("--")}
    given = {a.dest for a in p._actions if words & set(a.option_strings)}
    return {"adaptive" if d == "sam" else d for d in given}


def read_config_file(path: str | Path) -> dict[str, dict[str, Any]]:
    """Per-method settings from a ``--config`` JSON file: ``{"methods": {METHOD:
    {field: value}}}`` (what ``lava_sast.tune`` writes as ``best.json``).  Every field
    is checked against :class:`TrainConfig`."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"--config {path}: cannot be read as JSON ({exc})") from None
    methods = data.get("methods") if isinstance(data, dict) else None
    if not isinstance(methods, dict):
        raise ValueError(f"--config {path}: expected {{\"methods\": {{METHOD: {{...}}}}}}")
    known = {f.name for f in fields(TrainConfig)} - _NOT_FROM_FILE
    for method, settings in methods.items():
        bad = sorted(set(settings) - known) if isinstance(settings, dict) else ["(not a dict)"]
        if bad:
            raise ValueError(f"--config {path}: method {method!r} sets unknown or "
                             f"disallowed setting {bad[0]!r}")
    for settings in methods.values():  # a tuning trial without QAT: off, not "default"
        if "qat_bits" in settings and settings["qat_bits"] is None:
            settings["qat_bits"] = 0
    return methods


#: What a ``--config`` file may not set: where a run lives and which method it is.
_NOT_FROM_FILE = {"method", "out", "dataset", "data_dir", "seed", "fold", "folds",
                  "fold_seed", "epochs", "device", "cache_dir", "download", "quiet"}


def with_config_file(cfg: TrainConfig, methods: Optional[dict[str, dict[str, Any]]],
                     given: set[str]) -> TrainConfig:
    """``cfg`` with its method's settings from a ``--config`` file, except those the
    command line sets explicitly (``given``)."""
    if not methods:
        return cfg
    if cfg.method not in methods:
        raise ValueError(f"--config has no settings for method {cfg.method!r} (it has "
                         f"{sorted(methods)})")
    return replace(cfg, **{k: v for k, v in methods[cfg.method].items() if k not in given})


def config_from_args(args: argparse.Namespace, **override: Any) -> TrainConfig:
    """A :class:`TrainConfig` from parsed :func:`add_training_args` options."""
    values = {k: v for k, v in vars(args).items() if k in {f.name for f in fields(TrainConfig)}}
    values["adaptive"] = None if args.sam is None else args.sam == "adaptive"
    values.update(override)
    return TrainConfig(**values)
