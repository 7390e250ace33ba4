"""A study's report: mean ± std over seeds of every metric per variant, paired per-seed
differences against lava-dl's recipe (``slayer``), the cross-validated comparison when
the runs are folds, and the plots; written as ``summary.json``, ``summary.md`` and PNGs."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..atomic import write_json_atomic, write_text_atomic
from ..config import TrainConfig, resolved
from .crossval import compare, pool_folds, to_markdown as cv_markdown
from .study_plan import StudyOptions, Variant

METRICS = ["surrogate_accuracy", "hard_accuracy", "transfer_gap", "int8_accuracy",
           "int4_accuracy", "int8_lava_accuracy", "int4_lava_accuracy",
           "official_hard_accuracy", "official_int8_accuracy", "official_int4_accuracy",
           "val_hard_accuracy", "val_int8_accuracy", "best_epoch",
           "hard_synops_per_sample", "int8_synops_per_sample", "near_threshold_fraction",
           "seconds_per_epoch"]
PAIRED = ["hard_accuracy", "int8_accuracy", "int4_accuracy", "int8_lava_accuracy",
          "int4_lava_accuracy", "int8_synops_per_sample"]
REFERENCE = "slayer"


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
            ("gap (pts)", "transfer_gap", 100), ("INT8 SynOps/sample", "int8_synops_per_sample", 1),
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
    """Write the study's plots into ``out``; returns their file names (none without runs)."""
    if not summary or not reports:
        return []
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


def write_report(opts: StudyOptions, by_fold: dict[tuple[Variant, int, Optional[int]], dict],
                 command: str) -> tuple[str, list[str]]:
    """Pool each variant and seed's folds, summarise, compare (cross-validated studies)
    and write ``summary.json``, ``summary.md`` (headed by ``command``) and the plots into
    ``opts.out``; returns the Markdown and the plot file names."""
    base: TrainConfig = opts.base
    grouped: dict[tuple[Variant, int], list[dict]] = {}
    for (variant, seed, _fold), rep in by_fold.items():
        grouped.setdefault((variant, seed), []).append(rep)
    reports = {k: (pool_folds(reps) if base.folds else reps[0]) for k, reps in grouped.items()}
    summary = summarize(reports)
    settings = {**resolved(base).as_dict(), "methods": list(opts.methods),
                "rhos": None if opts.rhos is None else list(opts.rhos),
                "seeds": list(opts.seeds), "lava": opts.lava}
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
    write_json_atomic(opts.out / "summary.json", result)
    write_text_atomic(opts.out / "summary.md", f"Command: `{command}`\n\n{md}")
    return md, plot(summary, reports, opts.out)
