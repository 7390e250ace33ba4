"""A study's plan: its options, the variants it trains (method, SAM radius, QAT width),
and every run with its folder and configuration.  Nothing here trains or writes."""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional, Sequence

from ..config import TrainConfig, resolve
from ..methods import METHOD_NAMES, SAM_METHODS, canonical_name
from ..parallel import RayOptions
from .crossval import variant_label


@dataclass(frozen=True)
class StudyOptions:
    """Everything a study needs, resolved from its command line once."""

    out: Path
    base: TrainConfig  #: settings every run shares (method, rho, seed, fold set per run)
    methods: tuple[str, ...]  #: method specs, ``NAME[@RHO][+qatB]``
    seeds: tuple[int, ...]
    rhos: Optional[tuple[float, ...]] = None  #: every SAM method's radii (``None``: default)
    #: per method, settings from ``--config`` (those the command line sets removed)
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: per SAM method, its radius when ``rhos`` is ``None`` (the method's, or ``--config``'s)
    default_rho: dict[str, float] = field(default_factory=dict)
    lava: Optional[int] = None  #: also run the INT8/INT4 nets in Lava on this many samples
    ray: RayOptions = RayOptions()
    #: cross-validation folds per seed: each seed its own partition (``per-seed``: fold
    #: shuffle ``--fold-seed + seed``) or one partition for every seed (``shared``)
    partition: str = "per-seed"


#: How a cross-validated study's seeds partition the samples into folds.
PARTITIONS = ("per-seed", "shared")


def fold_seed_of(base_fold_seed: int, seed: int, partition: str) -> int:
    """The fold shuffle of ``seed``'s runs: its own (``per-seed``) or the study's."""
    if partition not in PARTITIONS:
        raise ValueError(f"partition must be one of {PARTITIONS}, got {partition!r}")
    return base_fold_seed + seed if partition == "per-seed" else base_fold_seed


@dataclass(frozen=True)
class Variant:
    """One trained configuration of a study: a method, its SAM radius and QAT width
    (``None``: the study's ``--qat-bits``)."""

    method: str
    rho: float = 0.0
    qat_bits: Optional[int] = None

    @property
    def name(self) -> str:
        """Row label, e.g. ``slayer-sam rho=0.05 qat4``."""
        return variant_label(self.method, self.rho, self.qat_bits)

    def run_name(self, seed: int, fold: Optional[int] = None) -> str:
        """Run folder, e.g. ``slayer-sam_rho0.05_qat4_seed3`` (``_fold2`` in a
        cross-validated study)."""
        parts = [self.method] + ([f"rho{self.rho:g}"] if self.method in SAM_METHODS else [])
        return "_".join(parts + ([f"qat{self.qat_bits}"] if self.qat_bits else [])
                        + [f"seed{seed}"] + ([f"fold{fold}"] if fold is not None else []))

    def config(self, base: TrainConfig, seed: int, out: Path, fold: Optional[int] = None,
               settings: Optional[dict[str, Any]] = None) -> TrainConfig:
        """The run's config: ``base``, then the method's ``settings`` (from ``--config``),
        then this variant's radius and (when pinned) QAT width."""
        cfg = replace(base, method=self.method, seed=seed, out=str(out), fold=fold or 0,
                      **(settings or {}))
        qat = self.qat_bits if self.qat_bits is not None else cfg.qat_bits
        return replace(cfg, rho=self.rho, qat_bits=qat)


@dataclass(frozen=True)
class Run:
    """One run of a study: its variant, seed and fold, folder and (resolved) config."""

    variant: Variant
    seed: int
    fold: Optional[int]
    folder: Path
    config: TrainConfig

    @property
    def key(self) -> tuple[Variant, int, Optional[int]]:
        return self.variant, self.seed, self.fold


_SPEC = re.compile(r"^(?P<name>[a-z-]+)(@(?P<rho>[^+]+))?(\+qat(?P<qat>\d+))?$")


def parse_method(spec: str) -> tuple[str, Optional[float], Optional[int]]:
    """``'slayer-sam@0.05+qat4'`` -> ``('slayer-sam', 0.05, 4)``; ``'slayer'`` ->
    ``('slayer', None, None)``."""
    match = _SPEC.match(spec)
    name = canonical_name(match["name"]) if match else spec
    if match is None or name not in METHOD_NAMES:
        raise ValueError(f"unknown method {spec!r}; choose from {list(METHOD_NAMES)}, "
                         f"optionally with @RHO and +qat8/+qat4 (for example "
                         f"slayer-sam@0.05+qat4)")
    rho = qat = None
    if match["rho"] is not None:
        if name not in SAM_METHODS:
            raise ValueError(f"method {spec!r}: {name} takes no rho")
        try:
            rho = float(match["rho"])
        except ValueError:
            raise ValueError(f"method {spec!r}: {match['rho']!r} is not a number") from None
    if match["qat"] is not None:
        qat = int(match["qat"])
        if qat not in (8, 4):
            raise ValueError(f"method {spec!r}: qat width must be 8 or 4")
    return name, rho, qat


def run_plan(methods: Sequence[str], rhos: Optional[Sequence[float]], seeds: Sequence[int],
             default_rho: dict[str, float]) -> list[tuple[Variant, int]]:
    """``(variant, seed)`` of every run, in order.  A method written ``name@rho`` runs at
    that rho only, ``+qat4``/``+qat8`` trains it through the export grid; other SAM
    methods run at every ``rhos`` (``None``: at ``default_rho[method]``; rho 0 of
    ``sast``/``slayer-sam`` is ``surrogate``/``slayer`` and is skipped); methods without
    SAM at rho 0."""
    plan: list[tuple[Variant, int]] = []
    for spec in dict.fromkeys(methods):
        m, pinned, qat = parse_method(spec)
        if pinned is not None:
            m_rhos = [pinned]
        elif m in SAM_METHODS and rhos is None:
            m_rhos = [default_rho[m]]
        elif m in SAM_METHODS:
            m_rhos = [r for r in dict.fromkeys(rhos) if r > 0 or m == "anneal"]
        else:
            m_rhos = [0.0]
        plan += [(Variant(m, float(r), qat), s) for r in m_rhos for s in dict.fromkeys(seeds)
                 if (Variant(m, float(r), qat), s) not in plan]
    return plan


def plan_runs(opts: StudyOptions) -> list[Run]:
    """Every run of the study (each fold of it in a cross-validated study), its config
    checked and resolved; ``ValueError`` names the first bad setting."""
    folds: list[Optional[int]] = list(range(opts.base.folds)) if opts.base.folds else [None]
    runs = []
    for variant, seed in run_plan(opts.methods, opts.rhos, opts.seeds, opts.default_rho):
        for fold in folds:
            folder = opts.out / variant.run_name(seed, fold)
            cfg = variant.config(opts.base, seed, folder, fold,
                                 opts.settings.get(variant.method))
            if opts.base.folds:
                cfg = replace(cfg, fold_seed=fold_seed_of(opts.base.fold_seed, seed,
                                                          opts.partition))
            runs.append(Run(variant, seed, fold, folder, resolve(cfg)))
    return runs
