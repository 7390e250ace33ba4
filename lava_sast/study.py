"""Study: methods x rho x seeds at equal net, data and epochs, compared with lava-dl's recipe.

``python -m lava_sast.study --dataset nmnist --data-dir DIR --methods slayer slayer-sam sast
surrogate --rho 0.3 --seeds 0 1 2 3 4 --epochs 20 --out DIR``

A method may carry its own radius and QAT width, ``slayer-sam@0.05+qat4``; the others
take every ``--rho`` and the study's ``--qat-bits``.
Every run goes to ``OUT/<method>[_rho<r>][_qat<b>]_seed<s>/`` (methods without SAM run
once per seed; SAM methods once per ``--rho``; rho 0 of ``sast``/``slayer-sam`` is
``surrogate``/``slayer`` and is skipped; ``+qat4`` trains a method through the 4-bit
export grid).  Finished runs are reused, shorter ones extended; a run
folder whose recorded settings differ from the requested ones is refused.  Writes
``summary.json``, ``summary.md`` (mean ± std over seeds, paired per-seed differences
against ``slayer``) and plots: ``accuracy_by_method.png``, ``synops_vs_int8.png``,
``membrane_hist.png``.  With ``--lava N`` the INT8/INT4 nets also run in Lava's
fixed-point simulator on N test samples.  ``--workers N`` trains N runs at a time on a
local Ray instance, ``--ray-address`` on an existing cluster (:mod:`lava_sast.parallel`).
"""
from __future__ import annotations

import argparse
import json
import re
import shlex
import shutil
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch

from .atomic import write_json_atomic, write_text_atomic
from .crossval import compare, pool_folds, to_markdown as cv_markdown, variant_label
from .config import (TrainConfig, add_training_args, check_config, config_differences,
                     config_from_args, given_options, read_config_file, resolved)
from .defaults import METHOD_ALIASES, METHOD_DEFAULTS, METHOD_NAMES, SAM_METHODS
from .device import resolve_device
from .interrupt import run_guarded
from .lock import LOCK, folder_lock
from .parallel import require_ray, run_on_ray
from .train import USER_ERRORS
from .trainer import REPORT, load_splits, train


METRICS = ["surrogate_accuracy", "hard_accuracy", "transfer_gap", "int8_accuracy",
           "int4_accuracy", "int8_lava_accuracy", "int4_lava_accuracy",
           "official_hard_accuracy", "official_int8_accuracy", "official_int4_accuracy",
           "val_hard_accuracy", "val_int8_accuracy", "best_epoch",
           "hard_synops_per_sample", "int8_synops_per_sample", "near_threshold_fraction",
           "seconds_per_epoch"]
PAIRED = ["hard_accuracy", "int8_accuracy", "int4_accuracy", "int8_lava_accuracy",
          "int4_lava_accuracy", "int8_synops_per_sample"]
REFERENCE = "slayer"


class StudyError(ValueError):
    """A stored run does not match the requested study."""


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


_SPEC = re.compile(r"^(?P<name>[a-z-]+)(@(?P<rho>[^+]+))?(\+qat(?P<qat>\d+))?$")


def parse_method(spec: str) -> tuple[str, Optional[float], Optional[int]]:
    """``'slayer-sam@0.05+qat4'`` -> ``('slayer-sam', 0.05, 4)``; ``'slayer'`` ->
    ``('slayer', None, None)``."""
    match = _SPEC.match(spec)
    name = METHOD_ALIASES.get(match["name"], match["name"]) if match else spec
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


def run_plan(methods: Sequence[str], rhos: Optional[Sequence[float]],
             seeds: Sequence[int],
             default_rho: Optional[dict[str, float]] = None) -> list[tuple[Variant, int]]:
    """``(variant, seed)`` of every run, in order.  A method written ``name@rho`` runs at
    that rho only, ``+qat4``/``+qat8`` trains it through the export grid; other SAM
    methods run at every ``rhos`` (``None``: at the method's default radius; rho 0 of
    ``sast``/``slayer-sam`` is ``surrogate``/``slayer`` and is skipped; ``default_rho``
    overrides the methods' defaults, as a ``--config`` file does); methods without SAM
    at rho 0."""
    plan: list[tuple[Variant, int]] = []
    for spec in dict.fromkeys(methods):
        m, pinned, qat = parse_method(spec)
        if pinned is not None:
            m_rhos = [pinned]
        elif m in SAM_METHODS and rhos is None:
            m_rhos = [(default_rho or {}).get(m, METHOD_DEFAULTS[m]["rho"])]
        elif m in SAM_METHODS:
            m_rhos = [r for r in dict.fromkeys(rhos) if r > 0 or m == "anneal"]
        else:
            m_rhos = [0.0]
        plan += [(Variant(m, float(r), qat), s) for r in m_rhos for s in dict.fromkeys(seeds)
                 if (Variant(m, float(r), qat), s) not in plan]
    return plan


def _check_same_settings(run: Path, stored: dict[str, Any], wanted: TrainConfig) -> None:
    diff = [f"{k}: stored {have!r}, requested {want!r}"
            for k, have, want in config_differences(stored, wanted)]
    if diff:
        raise StudyError(f"run folder {run} was made with other settings ({'; '.join(diff)}); "
                         f"use another --out or remove the folder")


def _stored_config(run: Path) -> Optional[dict[str, Any]]:
    report = run / REPORT
    if report.exists():
        return json.loads(report.read_text())["config"]
    ckpt = run / "checkpoint.pt"
    if ckpt.exists():
        from .checkpoint import load_checkpoint
        return load_checkpoint(ckpt)["config"]
    return None


def _lava_accuracy(run: Path, cfg: TrainConfig, samples: int) -> dict[str, float]:
    from netx_export.run import evaluate_network
    res = {}
    for b in (8, 4):
        r = evaluate_network(str(run / f"network_int{b}.net"), cfg.dataset, cfg.data_dir,
                             "test", samples, engine="lava")
        res[f"int{b}_lava_accuracy"] = r["accuracy"]
        res[f"int{b}_lava_samples"] = r["samples"]
    return res


def run_one(cfg: TrainConfig, out: Path, lava_samples: Optional[int]) -> dict[str, Any]:
    """Train (or reuse, or extend) the run of ``cfg`` in ``out`` and return its report."""
    stored = _stored_config(out)
    if stored is not None:
        _check_same_settings(out, stored, cfg)
    report_path = out / REPORT
    report = json.loads(report_path.read_text()) if report_path.exists() else None
    if report is not None and report["epochs"] > cfg.epochs:
        raise StudyError(f"run folder {out} has {report['epochs']} epochs, more than the "
                         f"requested {cfg.epochs}; use another --out")
    if report is None or (report["epochs"] < cfg.epochs and not report.get("stopped_early")):
        report = train(cfg, resume=True)
    if lava_samples and report.get("int8_lava_samples") != lava_samples:
        report.update(_lava_accuracy(out, resolved(cfg), lava_samples))
        write_json_atomic(report_path, report)
    return report


def run_task(cfg: dict[str, Any], out: str, lava_samples: Optional[int],
             threads: int) -> dict[str, Any]:
    """One run on a Ray worker: :func:`run_one` with ``threads`` torch threads."""
    torch.set_num_threads(threads)
    return run_one(TrainConfig.from_dict(cfg), Path(out), lava_samples)


def _stats(values: list[float]) -> dict[str, Any]:
    return {"mean": float(np.mean(values)), "std": float(np.std(values)), "values": values}


def summarize(reports: dict[tuple[Variant, int], dict]) -> dict[str, Any]:
    """Mean ± std over seeds of every metric per variant, and per-seed paired differences
    against plain ``slayer`` where it ran on the same seed."""
    table: dict[str, Any] = {}
    reference = {s: rep for (v, s), rep in reports.items() if v == Variant(REFERENCE)}
    for variant in dict.fromkeys(v for v, _ in reports):
        runs = {s: rep for (v, s), rep in reports.items() if v == variant}
        row: dict[str, Any] = {"method": variant.method, "rho": variant.rho,
                               "qat_bits": variant.qat_bits, "runs": len(runs),
                               "seeds": list(runs)}
        for key in METRICS:
            vals = [rep[key] for rep in runs.values() if rep.get(key) is not None]
            if vals:
                row[key] = _stats(vals)
        if variant != Variant(REFERENCE):
            paired = {}
            for key in PAIRED:
                diffs = [rep[key] - reference[s][key] for s, rep in runs.items()
                         if s in reference and rep.get(key) is not None
                         and reference[s].get(key) is not None]
                if diffs:
                    scale = 1.0 if "synops" in key else 100.0
                    d = _stats([scale * v for v in diffs])
                    # better: more accuracy, fewer SynOps
                    d["wins"] = int(sum((v < 0) if "synops" in key else (v > 0)
                                        for v in diffs))
                    paired[key] = d
            if paired:
                row[f"vs_{REFERENCE}"] = paired
        table[variant.name] = row
    return table


_COLUMNS = [("surrogate", "surrogate_accuracy", 100), ("hard", "hard_accuracy", 100),
            ("INT8", "int8_accuracy", 100), ("INT4", "int4_accuracy", 100),
            ("INT8 Lava", "int8_lava_accuracy", 100), ("INT4 Lava", "int4_lava_accuracy", 100),
            ("official hard", "official_hard_accuracy", 100),
            ("official INT8", "official_int8_accuracy", 100),
            ("official INT4", "official_int4_accuracy", 100),
            ("gap (pts)", "transfer_gap", 1), ("INT8 SynOps/sample", "int8_synops_per_sample", 1),
            ("near-threshold %", "near_threshold_fraction", 100),
            ("val hard", "val_hard_accuracy", 100), ("best epoch", "best_epoch", 1)]


def _cell(stat: Optional[dict], scale: float) -> str:
    if stat is None:
        return "–"
    m, s = stat["mean"] * scale, stat["std"] * scale
    return f"{m:,.0f} ± {s:,.0f}" if abs(m) >= 1000 else f"{m:.1f} ± {s:.1f}"


def to_markdown(summary: dict[str, Any]) -> str:
    """The summary as a Markdown table plus the paired differences against slayer."""
    cols = [c for c in _COLUMNS if any(c[1] in row for row in summary.values())]
    lines = ["| method | runs | " + " | ".join(c[0] for c in cols) + " |",
             "|---|---|" + "---|" * len(cols)]
    for name, row in summary.items():
        cells = [_cell(row.get(key), scale) for _, key, scale in cols]
        lines.append(f"| {name} | {row['runs']} | " + " | ".join(cells) + " |")
    paired = [(n, row[f"vs_{REFERENCE}"]) for n, row in summary.items()
              if f"vs_{REFERENCE}" in row]
    if paired:
        lines.append(f"\nPaired by seed against `{REFERENCE}` (same seed, same net, data and "
                     f"epochs; accuracy in points, SynOps per sample; \"better\" counts seeds "
                     f"with more accuracy or fewer SynOps):\n")
        for name, d in paired:
            parts = []
            for key in PAIRED:
                if key in d:
                    v = d[key]
                    label = key.replace("_accuracy", "").replace("_per_sample", "")
                    fmt = "{:+,.0f}" if "synops" in key else "{:+.1f}"
                    parts.append(f"{label} {fmt.format(v['mean'])} ± {abs(v['std']):.1f} "
                                 f"({v['wins']}/{len(v['values'])} better)")
            lines.append(f"- {name}: " + "; ".join(parts))
    return "\n".join(lines) + "\n"


def plot(summary: dict[str, Any], reports: dict[tuple[Variant, int], dict],
         out: Path) -> list[str]:
    """Write the study's plots into ``out``; returns their file names."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary)
    kinds = [("surrogate", "surrogate_accuracy"), ("hard", "hard_accuracy"),
             ("INT8", "int8_accuracy"), ("INT4", "int4_accuracy")]
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(names)), 4))
    width = 0.8 / len(kinds)
    for i, (label, key) in enumerate(kinds):
        m = [summary[n][key]["mean"] * 100 if key in summary[n] else np.nan for n in names]
        s = [summary[n][key]["std"] * 100 if key in summary[n] else 0 for n in names]
        ax.bar(np.arange(len(names)) + i * width, m, width, yerr=s, capsize=2, label=label)
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names, rotation=15)
    ax.set_ylabel("test accuracy (%)")
    ax.legend(ncol=4, fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "accuracy_by_method.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    for name in names:
        pts = [(rep.get("int8_synops_per_sample"), rep.get("int8_accuracy"))
               for (v, _), rep in reports.items() if v.name == name]
        pts = [(x, 100 * y) for x, y in pts if x is not None and y is not None]
        if pts:
            ax.scatter(*zip(*pts), label=name)
    ax.set_xlabel("SynOps per sample (INT8, emulator)")
    ax.set_ylabel("INT8 test accuracy (%)")
    if ax.collections:  # no points when the runs skipped the INT8 evaluation
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "synops_vs_int8.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    first = next(iter(reports.values()))
    lo, hi = first["hist_range"]
    for name in names:
        hists = [np.array(rep["hard_voltage_hist"]) for (v, _), rep in reports.items()
                 if v.name == name]
        ax.stairs(np.mean(hists, 0), np.linspace(lo, hi, len(hists[0]) + 1), label=name)
    ax.axvspan(0.9, 1.1, color="red", alpha=0.1, label="±10% of threshold")
    ax.set_yscale("log")
    ax.set_xlabel("hidden membrane potential / threshold (hard spikes, test split)")
    ax.set_ylabel("fraction of samples")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "membrane_hist.png", dpi=120)
    plt.close(fig)
    return ["accuracy_by_method.png", "synops_vs_int8.png", "membrane_hist.png"]


def _run_all(a: argparse.Namespace, plan: list[tuple[Variant, int]], out: Path,
             settings: dict[str, dict[str, Any]]
             ) -> tuple[TrainConfig, dict[tuple[Variant, int, Optional[int]], dict]]:
    """Check every run's settings, then train or reuse each run of ``plan`` (each fold of
    it in a cross-validated study); reports by ``(variant, seed, fold)``."""
    first, seed0 = plan[0]  # the lists in ``a`` are replaced per run by each variant
    base = config_from_args(a, method=first.method, rho=first.rho, seed=seed0)
    for variant, seed in plan:
        check_config(variant.config(base, seed, out, settings=settings.get(variant.method)))
    if a.lava is not None and a.lava < 1:
        raise ValueError(f"--lava must be >= 1, got {a.lava}")
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder")
    if a.workers < 1 or a.cpus_per_run < 1 or (a.gpus_per_run or 0) < 0:
        raise ValueError(f"--workers and --cpus-per-run must be >= 1 and --gpus-per-run "
                         f">= 0, got {a.workers}, {a.cpus_per_run}, {a.gpus_per_run}")
    parallel = a.workers > 1 or a.ray_address is not None
    if parallel:
        require_ray(a.workers)  # before anything is written
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        with folder_lock(out):
            return base, _execute(a, base, plan, out, settings, parallel)
    except BaseException:
        if created and not any(p.name != LOCK for p in out.iterdir()):  # nothing ran
            shutil.rmtree(out, ignore_errors=True)
        raise


def _execute(a: argparse.Namespace, base: TrainConfig, plan: list[tuple[Variant, int]],
             out: Path, settings: dict[str, dict[str, Any]], parallel: bool
             ) -> dict[tuple[Variant, int, Optional[int]], dict]:
    """Train or reuse every run (each fold of it), sequentially or on Ray."""
    folds = list(range(base.folds)) if base.folds else [None]
    runs = {(variant, seed, fold): out / variant.run_name(seed, fold)
            for variant, seed in plan for fold in folds}
    if parallel:
        load_splits(base)  # bin once here, so parallel runs only read the disk cache
        gpus = a.gpus_per_run
        if gpus is None:  # share the visible GPUs between the workers when runs use CUDA
            gpus = (1.0 / a.workers if resolve_device(base.device).type == "cuda" else 0.0)
        tasks = [(key, (key[0].config(base, key[1], run, key[2],
                                      settings.get(key[0].method)).as_dict(),
                        str(run), a.lava, a.cpus_per_run), run.name)
                 for key, run in runs.items()]
        print(f"{len(runs)} runs on Ray, {a.workers} at a time "
              f"({a.cpus_per_run} CPU, {gpus:g} GPU each)", flush=True)
        done = run_on_ray(run_task, tasks, a.workers, a.ray_address, a.cpus_per_run, gpus)
        return {key: done[key] for key in runs}
    reports = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(a.cpus_per_run)  # as each Ray task does: the same numbers
    try:
        for i, ((variant, seed, fold), run) in enumerate(runs.items(), 1):
            print(f"[{i}/{len(runs)}] {run.name}", flush=True)
            cfg = variant.config(base, seed, run, fold, settings.get(variant.method))
            reports[(variant, seed, fold)] = run_one(cfg, run, a.lava)
    finally:
        torch.set_num_threads(threads)
    return reports


def main(argv: Optional[Sequence[str]] = None, prog: str = "python -m lava_sast.study",
         default_methods: Sequence[str] = ("slayer", "slayer-sam", "sast", "surrogate"),
         default_rho: Optional[Sequence[float]] = None) -> int:
    p = argparse.ArgumentParser(prog=prog, description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_training_args(p, many=True)
    p.set_defaults(method=list(default_methods),
                   rho=None if default_rho is None else list(default_rho), seed=[0, 1, 2])
    p.add_argument("--lava", type=int, default=None, metavar="N",
                   help="also run the INT8/INT4 nets in Lava (fixed_pt) on N test samples")
    p.add_argument("--workers", type=int, default=1,
                   help="runs in parallel on a local Ray instance (needs the ray extra: "
                        "pip install 'lava-sast[ray]'); 1: one after another, no Ray")
    p.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="run on an existing Ray cluster (e.g. ray://head:10001 or auto); "
                        "every node needs lava-sast installed and the data at --data-dir")
    p.add_argument("--cpus-per-run", type=int, default=1,
                   help="torch threads of every run, sequential or parallel (float sums "
                        "depend on the thread count, so this keeps --workers 1 and N equal); "
                        "the CPUs each parallel run declares to Ray")
    p.add_argument("--gpus-per-run", type=float, default=None,
                   help="GPUs each parallel run declares to Ray (default: 1/--workers when "
                        "--device resolves to CUDA, else 0)")
    argv = list(sys.argv[1:] if argv is None else argv)
    a = p.parse_args(argv)
    out = Path(a.out)
    try:
        given = given_options(p, argv)
        file_methods = read_config_file(a.config) if a.config else {}
        settings = {m: {k: v for k, v in s.items() if k not in given and k != "rho"}
                    for m, s in file_methods.items()}
        default_rho = {m: resolved(TrainConfig(dataset=a.dataset, method=m)).rho
                       for m in SAM_METHODS}  # the method's own (tuned) radius
        default_rho.update({m: s["rho"] for m, s in file_methods.items() if "rho" in s})
        plan = run_plan(a.method, a.rho, a.seed, default_rho)
    except ValueError as exc:
        p.error(str(exc))
    code, studied = run_guarded(lambda: _run_all(a, plan, out, settings), USER_ERRORS,
                                f"finished runs in {out} are kept; run the same command "
                                f"again to continue")
    if code:
        return code
    base, by_fold = studied
    reports = {}  # by (variant, seed): one report, or the folds pooled
    for (variant, seed, _fold), rep in by_fold.items():
        reports.setdefault((variant, seed), []).append(rep)
    reports = {k: (pool_folds(reps) if base.folds else reps[0]) for k, reps in reports.items()}
    summary = summarize(reports)
    settings = {**resolved(base).as_dict(), "methods": a.method, "rhos": a.rho,
                "seeds": a.seed, "lava": a.lava}
    result: dict[str, Any] = {"settings": settings, "summary": summary}
    md = to_markdown(summary)
    if base.folds:
        by_variant: dict[str, list[dict]] = {}
        for (variant, _seed), rep in reports.items():
            by_variant.setdefault(variant.name, []).append(rep)
        result["crossval"] = compare(by_variant)
        md = (f"Cross-validated: {base.folds} folds of the training split (fold seed "
              f"{base.fold_seed}); accuracies over all held-out samples.\n\n"
              + cv_markdown(result["crossval"]) + "\nPer seed (folds pooled) and the "
              "official test split (`official_*`, mean over the folds' nets):\n\n" + md)
    write_json_atomic(out / "summary.json", result)
    command = " ".join(shlex.quote(v) for v in argv)
    write_text_atomic(out / "summary.md", f"Command: `{prog} {command}`\n\n{md}")
    plots = plot(summary, reports, out)
    print(md)
    print(f"wrote {out}/summary.json, summary.md, {', '.join(plots)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
