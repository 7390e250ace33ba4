"""Training configuration: one dataclass, its resolution (defaults filled in once, at
a run's entry) and its checks.  The command line that fills it is :mod:`lava_sast.cli`."""
from __future__ import annotations

import json
import math
import typing
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Optional

from .arch import FAMILIES, arch_family, check_arch_options
from .datasets import DATASETS, DEFAULT_DATASET
from .defaults import COMMON_DEFAULTS, FAMILY_DEFAULTS, LOSSES
from .device import resolve_device
from .methods import METHOD_NAMES, canonical_name, get_method
from .neuron import RESET_GRADS
from .presets import preset_names, preset_path, tuning_record


@dataclass
class TrainConfig:
    """Every training setting; saved in the checkpoint and the report.  ``None``
    means "the default of the dataset's network family or of the method"
    (:func:`resolved`)."""

    dataset: str = DEFAULT_DATASET
    data_dir: Optional[str] = None
    method: str = "sast"
    rho: Optional[float] = None  # default: the method's (lava_sast.methods), else 0
    adaptive: Optional[bool] = None  # adaptive SAM (default) or standard
    climb_every: int = 1
    sam_layerwise: bool = False
    sam_layers: str = "all"  # "all", "dense" or "conv": which layers SAM's climb perturbs
    sam_ascent: Optional[str] = None  # "same" batch (default) or an "independent" one
    beta: Optional[float] = None
    beta_end: Optional[float] = None  # anneal: slope at the last epoch
    beta_warmup: Optional[int] = None  # surrogate forward: epochs to raise beta from beta_start
    beta_start: Optional[float] = None  # surrogate forward: slope of the first epoch
    reset_grad: Optional[str] = None  # surrogate forward: "exact" or "detached" reset gradient
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
    arch: Optional[str] = None  # "dense", "conv" or a JSON layer list (default: the dataset's)
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
    # a stratified share of the training split set aside for tuning (lava_sast.tune draws
    # only on it, every other run never sees it): part "tuning" is the block, "scored" the rest
    tuning_block: float = 0.0
    part: str = "scored"
    tuned_on: Optional[dict] = None  # where the settings were tuned (best.json, a preset)
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
        self.method = canonical_name(self.method)

    @property
    def effective_rho(self) -> float:
        """The SAM radius training uses (0 for methods without SAM; ``self`` resolved)."""
        return get_method(self.method).effective_rho(self.rho)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Rebuild from a saved dict, ignoring keys this version does not know."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def default_settings(method: str, family: str, dataset: Optional[str] = None
                     ) -> dict[str, Any]:
    """Every default of ``method`` on a ``family`` net (dense or conv) of ``dataset``, the
    later winning: the family's, every method's, then the method's own
    (:meth:`Method.defaults_for`; a dataset without tuned presets takes none)."""
    return {**FAMILY_DEFAULTS[family], **COMMON_DEFAULTS,
            **get_method(method).defaults_for(family, dataset)}


#: The settings :func:`resolved` fills in (``None`` in a config means "the default").
DEFAULTED = frozenset({*FAMILY_DEFAULTS["dense"], *COMMON_DEFAULTS, "beta_end"})


def resolved(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` with every ``None`` default filled in (:func:`default_settings` of its method
    and network family); a resolved config comes back as it is."""
    if all(getattr(cfg, k) is not None for k in DEFAULTED):
        return cfg
    filled = default_settings(cfg.method, arch_family(cfg.arch, cfg.dataset), cfg.dataset)
    cfg = replace(cfg, **{k: v for k, v in filled.items() if getattr(cfg, k) is None})
    if cfg.beta_end is None:
        cfg = replace(cfg, beta_end=get_method(cfg.method).default_beta_end(cfg.beta))
    return cfg


#: Parts of the training split a run draws on: all but the tuning block, or the block.
PARTS = ("scored", "tuning")


#: Settings a stored run may differ in from a request to continue or reuse it.
RESUMABLE = frozenset({"epochs", "out", "hardware_eval", "data_dir", "device", "cache_dir",
                       "download", "quiet"})


def config_differences(stored: dict[str, Any], wanted: TrainConfig,
                       keys: Optional[set[str]] = None) -> list[tuple[str, Any, Any]]:
    """``(setting, stored value, wanted value)`` for every resolved setting (of ``keys``,
    default all) outside :data:`RESUMABLE` in which a stored run differs from ``wanted``
    (resolved)."""
    have = resolved(TrainConfig.from_dict(stored)).as_dict()
    want = wanted.as_dict()
    names = want if keys is None else [k for k in sorted(keys) if k in want]
    return [(k, have.get(k), want[k]) for k in names
            if k not in RESUMABLE and have.get(k) != want[k]]


def resumed(stored: dict[str, Any], cfg: TrainConfig, given: set[str],
            where: Path) -> TrainConfig:
    """The settings of the run stored in ``where`` (``stored``, its config) continued by
    the request ``cfg``: the run's own, except the :data:`RESUMABLE` ones the request sets
    (``data_dir`` only where it names one).  ``ValueError`` for a setting named in
    ``given`` (the command line's) that differs from the run's."""
    diffs = config_differences(stored, cfg, given)
    if diffs:
        key, have, want = diffs[0]
        raise ValueError(f"--resume: the run in {where} was trained with {key} "
                         f"{have!r}, not {want!r}; use another --out")
    moved = {"data_dir": cfg.data_dir} if cfg.data_dir is not None else {}
    here = {k: getattr(cfg, k) for k in RESUMABLE - {"data_dir"}}  # this request's
    return resolved(TrainConfig.from_dict({**stored, **here, **moved}))


def _positive(name: str, value: Optional[float], allow_zero: bool = False) -> None:
    if value is None:
        return
    ok = math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'} and finite, "
                         f"got {value}")


def resolve(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` checked and resolved: what a run's entry calls once, before anything is
    written (``ValueError`` naming the first bad setting)."""
    if cfg.dataset not in DATASETS:
        raise ValueError(f"unknown dataset {cfg.dataset!r}; choose from {sorted(DATASETS)}")
    if cfg.method not in METHOD_NAMES:
        raise ValueError(f"unknown method {cfg.method!r}; choose from {list(METHOD_NAMES)}")
    if cfg.arch is not None and cfg.arch not in FAMILIES and not Path(cfg.arch).is_file():
        raise ValueError(f"--arch {cfg.arch}: neither {' nor '.join(FAMILIES)} nor a JSON "
                         f"file")
    cfg = resolved(cfg)
    check_config(cfg)
    return cfg


def check_config(cfg: TrainConfig) -> None:
    """Raise ``ValueError`` naming the first bad setting of the resolved ``cfg``."""
    for name in ("lr", "beta", "beta_end", "beta_start", "threshold", "weight_scale", "tau_grad",
                 "scale_grad"):
        _positive(name, getattr(cfg, name))
    for name in ("rho", "clip_grad", "init_rate"):
        _positive(name, getattr(cfg, name), allow_zero=True)
    _positive("logit_scale", cfg.logit_scale)
    if cfg.init_rate is not None and cfg.init_rate >= 1:
        raise ValueError(f"init_rate must be below 1, got {cfg.init_rate}")
    if cfg.reset_grad not in RESET_GRADS:
        raise ValueError(f"reset_grad must be one of {RESET_GRADS}, got {cfg.reset_grad!r}")
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
    if not 0.0 <= cfg.tuning_block < 1.0:
        raise ValueError(f"tuning_block must be in [0, 1), got {cfg.tuning_block}")
    if cfg.part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {cfg.part!r}")
    if cfg.part == "tuning" and (not cfg.tuning_block or cfg.folds):
        raise ValueError("the tuning part needs --tuning-block > 0 and no --folds")
    check_arch_options(cfg.hidden, cfg.conv_channels)
    resolve_device(cfg.device)
    if cfg.qat_bits not in (None, 0, 8, 4):
        raise ValueError(f"qat_bits must be 8, 4 or 0 (off), got {cfg.qat_bits}")
    if not 0.0 <= cfg.false_rate < cfg.true_rate <= 1.0:
        raise ValueError(f"rate targets must satisfy 0 <= false rate < true rate <= 1, got "
                         f"false rate {cfg.false_rate} and true rate {cfg.true_rate}")


def read_settings(source: str | Path) -> dict[str, dict[str, Any]]:
    """Per-method settings from ``--config``: a preset's name (:mod:`lava_sast.presets`) or
    a JSON file ``{"methods": {METHOD: {setting: value}}}`` (what ``lava_sast.tune``
    writes as ``best.json``).  Every setting is checked against :class:`TrainConfig`, its
    name and the type of its value; ``ValueError`` names the first bad one.  Each method's
    settings carry ``tuned_on``, where the file's settings were tuned
    (:func:`lava_sast.presets.tuning_record`)."""
    name = str(source)
    if name in preset_names():
        path, label = preset_path(name), f"--config {name} (preset)"
    else:
        path, label = Path(source), f"--config {source}"
        if not path.is_file():
            raise ValueError(f"{label}: no such file, and no preset of that name (presets: "
                             f"{', '.join(preset_names())})")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{label}: cannot be read as JSON ({exc})") from None
    methods = data.get("methods") if isinstance(data, dict) else None
    if not isinstance(methods, dict):
        raise ValueError(f"{label}: expected {{\"methods\": {{METHOD: {{...}}}}}}")
    known = {f.name for f in fields(TrainConfig)} - _NOT_FROM_FILE
    by_name: dict[str, dict[str, Any]] = {}
    for method, settings in methods.items():  # an alias (``smooth``) reads as its method
        if canonical_name(method) not in METHOD_NAMES:
            raise ValueError(f"{label}: unknown method {method!r}; choose from "
                             f"{list(METHOD_NAMES)}")
        if canonical_name(method) in by_name:
            raise ValueError(f"{label}: method {canonical_name(method)!r} is given twice "
                             f"(once under an alias)")
        by_name[canonical_name(method)] = settings
    methods = by_name
    for method, settings in methods.items():
        bad = sorted(set(settings) - known) if isinstance(settings, dict) else ["(not a dict)"]
        if bad:
            raise ValueError(f"{label}: method {method!r} sets unknown or "
                             f"disallowed setting {bad[0]!r}")
        if "qat_bits" in settings and settings["qat_bits"] is None:
            settings["qat_bits"] = 0  # a tuning trial without QAT: off, not "default"
        for key, value in settings.items():
            _check_type(label, method, key, value)
    record = tuning_record(data)
    if record is not None:  # every run with these settings says where they were tuned
        for settings in methods.values():
            settings["tuned_on"] = record
    return methods


def _check_type(label: str, method: str, key: str, value: Any) -> None:
    """Refuse a ``--config`` value whose type does not fit the setting, naming both."""
    hint = _HINTS[key]
    allowed = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    kind = allowed[0]
    if value is None and type(None) in typing.get_args(hint):
        return
    if kind is bool:
        ok, what = isinstance(value, bool), "true or false"
    elif kind is int:
        ok, what = isinstance(value, int) and not isinstance(value, bool), "a whole number"
    elif kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        what = "a number"
    elif kind is str:
        ok, what = isinstance(value, str), "a string"
    else:  # tuples (conv_channels)
        ok = isinstance(value, list) and all(isinstance(v, int) for v in value)
        what = "a list of whole numbers"
    if not ok:
        raise ValueError(f"{label}: method {method!r} sets {key} to {value!r}, expected "
                         f"{what}")


#: What a ``--config`` file may not set: where a run lives and which method it is.
_NOT_FROM_FILE = {"method", "out", "dataset", "data_dir", "seed", "fold", "folds",
                  "fold_seed", "tuning_block", "part", "tuned_on", "epochs", "device",
                  "cache_dir", "download", "quiet"}


#: Each setting's type, read from :class:`TrainConfig`'s annotations.
_HINTS = typing.get_type_hints(TrainConfig)


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
