"""Cross-validated comparison of methods: pooled held-out accuracy with an interval, and
paired tests on the same samples.

A study with ``--folds K`` trains every method on each fold's complement and scores it on
the held-out fold, so each training sample is scored once per method and seed (1,000 on
``nmnist-small`` instead of 100 official test samples).  :func:`pool_folds` joins one
method-and-seed's folds into one report; :func:`compare` gives each method's accuracy
with a 95 % Wilson interval and, for every pair of methods, the paired difference on the
same samples with an exact McNemar test (two-sided binomial test on the discordant pairs,
:func:`scipy.stats.binomtest`).  Several seeds are pooled as more (seed, sample) pairs.
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from .atomic import write_json_atomic, write_text_atomic
from .methods import SAM_METHODS

#: Spike modes scored per sample: surrogate and hard on the float net, INT8/INT4 emulated.
MODES = ("surrogate", "hard", "int8", "int4")
#: Metrics averaged over folds (per-fold numbers that are not per-sample).
AVERAGED = ("hard_synops_per_sample", "int8_synops_per_sample", "near_threshold_fraction",
            "seconds_per_epoch", "best_epoch", "epochs", "val_hard_accuracy",
            "val_int8_accuracy", "official_hard_accuracy", "official_surrogate_accuracy",
            "official_int8_accuracy", "official_int4_accuracy")


def pool_folds(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """One report from the fold reports of one method and seed: per-sample predictions
    and labels concatenated, accuracies over all held-out samples, other metrics averaged
    over the folds."""
    pooled: dict[str, Any] = {"folds": len(reports),
                              "test_labels": sum((r["test_labels"] for r in reports), [])}
    labels = np.array(pooled["test_labels"])
    for mode in MODES:
        key = f"{mode}_predictions"
        if all(r.get(key) is not None for r in reports):
            pooled[key] = sum((r[key] for r in reports), [])
            pooled[f"{mode}_accuracy"] = float(np.mean(np.array(pooled[key]) == labels))
    if "surrogate_accuracy" in pooled and "hard_accuracy" in pooled:
        pooled["transfer_gap"] = 100.0 * (pooled["surrogate_accuracy"]
                                          - pooled["hard_accuracy"])
    for key in AVERAGED:
        vals = [r[key] for r in reports if r.get(key) is not None]
        if vals:
            pooled[key] = float(np.mean(vals))
    pooled["hist_range"] = reports[0]["hist_range"]
    pooled["hard_voltage_hist"] = np.mean([r["hard_voltage_hist"] for r in reports],
                                          0).tolist()
    return pooled


def wilson(correct: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion ``correct / n``."""
    if n == 0:
        return (math.nan, math.nan)
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def mcnemar(a_right: np.ndarray, b_right: np.ndarray) -> dict[str, Any]:
    """Paired comparison of two classifiers on the same samples: the accuracy difference
    ``a - b`` in points, the discordant counts and the exact two-sided McNemar p-value."""
    from scipy.stats import binomtest
    a_only = int(np.sum(a_right & ~b_right))
    b_only = int(np.sum(~a_right & b_right))
    p = binomtest(a_only, a_only + b_only, 0.5).pvalue if a_only + b_only else 1.0
    return {"diff": 100.0 * (a_only - b_only) / len(a_right), "a_only": a_only,
            "b_only": b_only, "p": float(p), "samples": int(len(a_right))}


def compare(pooled: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """``pooled``: each method's pooled reports, one per seed, on the same samples.
    Returns each method's accuracy with its interval per mode, and every pair's paired
    differences."""
    right: dict[str, dict[str, np.ndarray]] = {}
    methods: dict[str, Any] = {}
    for name, reps in pooled.items():
        labels = np.concatenate([np.array(r["test_labels"]) for r in reps])
        right[name] = {}
        methods[name] = {"samples": int(len(labels)), "seeds": len(reps)}
        for key in AVERAGED + ("transfer_gap",):
            vals = [r[key] for r in reps if r.get(key) is not None]
            if vals:
                methods[name][key] = float(np.mean(vals))
        for mode in MODES:
            if all(f"{mode}_predictions" in r for r in reps):
                preds = np.concatenate([np.array(r[f"{mode}_predictions"]) for r in reps])
                ok = preds == labels
                right[name][mode] = ok
                lo, hi = wilson(int(ok.sum()), len(ok))
                methods[name][mode] = {"accuracy": float(ok.mean()), "ci95": [lo, hi]}
    pairs: dict[str, Any] = {}
    for a, b in itertools.combinations(pooled, 2):
        cell = {}
        for mode in MODES:
            ra, rb = right[a].get(mode), right[b].get(mode)
            if ra is not None and rb is not None and len(ra) == len(rb):
                cell[mode] = mcnemar(ra, rb)
        pairs[f"{a} vs {b}"] = cell
    return {"methods": methods, "pairs": pairs}


def to_markdown(cv: dict[str, Any]) -> str:
    """The comparison as two Markdown tables."""
    lines = ["| method | samples | " + " | ".join(f"{m} (95 % CI)" for m in MODES) + " |",
             "|---|---|" + "---|" * len(MODES)]
    for name, row in cv["methods"].items():
        cells = []
        for mode in MODES:
            c = row.get(mode)
            cells.append("–" if c is None else f"{100 * c['accuracy']:.1f} "
                         f"[{100 * c['ci95'][0]:.1f}, {100 * c['ci95'][1]:.1f}]")
        lines.append(f"| {name} | {row['samples']} | " + " | ".join(cells) + " |")
    extra = [("gap (pts)", "transfer_gap", 1), ("SynOps/sample (INT8)", "int8_synops_per_sample", 1),
             ("near-thr. %", "near_threshold_fraction", 100), ("s/epoch", "seconds_per_epoch", 1),
             ("epochs", "epochs", 1), ("official hard", "official_hard_accuracy", 100),
             ("official INT8", "official_int8_accuracy", 100),
             ("official INT4", "official_int4_accuracy", 100)]
    extra = [e for e in extra if any(e[1] in row for row in cv["methods"].values())]
    lines += ["", "| method | " + " | ".join(e[0] for e in extra) + " |",
              "|---|" + "---|" * len(extra)]
    for name, row in cv["methods"].items():
        cells = ["–" if key not in row else (f"{row[key] * scale:,.0f}" if abs(row[key] * scale)
                 >= 1000 else f"{row[key] * scale:.1f}") for _, key, scale in extra]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "Paired on the same samples (A − B in points; exact McNemar p):", "",
              "| A vs B | " + " | ".join(MODES) + " |", "|---|" + "---|" * len(MODES)]
    for pair, cell in cv["pairs"].items():
        cells = ["–" if m not in cell else
                 f"{cell[m]['diff']:+.1f} (p={cell[m]['p']:.2g})" for m in MODES]
        lines.append(f"| {pair} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def variant_label(method: str, rho: float, qat_bits: Optional[int]) -> str:
    """A run's row label, e.g. ``slayer-sam rho=0.05 qat4``."""
    parts = [method] + ([f"rho={rho:g}"] if method in SAM_METHODS else [])
    return " ".join(parts + ([f"qat{qat_bits}"] if qat_bits else []))


def collect(folders: Sequence[str | Path]) -> dict[str, list[dict[str, Any]]]:
    """Pooled reports per method row and seed from the cross-validated run folders
    (``*/report.json`` with ``config.folds``) under each study folder; a row is labelled
    ``variant (folder)``.  Every row must cover the same samples."""
    by_key: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for folder in folders:
        reports = [json.loads(p.read_text()) for p in sorted(Path(folder).glob("*/report.json"))]
        reports = [r for r in reports if r["config"].get("folds")]
        if not reports:
            raise ValueError(f"{folder}: no cross-validated runs (*/report.json with folds)")
        for r in reports:
            c = r["config"]
            label = f"{variant_label(c['method'], r['rho'], c.get('qat_bits'))} ({Path(folder).name})"
            by_key.setdefault((label, c["seed"]), []).append(r)
    pooled: dict[str, list[dict[str, Any]]] = {}
    for (label, _seed), reps in by_key.items():
        reps.sort(key=lambda r: r["config"]["fold"])
        pooled.setdefault(label, []).append(pool_folds(reps))
    labels = {tuple(np.concatenate([r["test_labels"] for r in reps]).tolist())
              for reps in pooled.values()}
    if len(labels) > 1:
        raise ValueError("the studies hold different held-out samples (other folds, fold "
                         "seed, seeds or --train-samples); they cannot be paired")
    return pooled


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lava_sast.crossval", description=(
        "Compare the cross-validated runs of one or more study folders on the same samples "
        "(95 % Wilson intervals, exact McNemar tests)."))
    p.add_argument("folders", nargs="+", help="study folders made with --folds")
    p.add_argument("--out", default=None, help="write the Markdown here (and .json beside)")
    a = p.parse_args(argv)
    try:
        cv = compare(collect(a.folders))
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    md = f"Command: `python -m lava_sast.crossval {' '.join(a.folders)}`\n\n" + to_markdown(cv)
    print(md)
    if a.out:
        write_text_atomic(a.out, md)
        write_json_atomic(Path(a.out).with_suffix(".json"), cv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
