"""The transfer-gap landscape from cross-validated predictions: per slope beta, each
variant's surrogate, hard, INT8 and INT4 accuracy (Wilson intervals), each SAST variant's
paired difference from the surrogate-forward baseline (corrected resampled t, Holm within
the slope), which slopes are *large-gap regimes* (the paper's question: the baseline within
``near`` points of its surrogate accuracy at the tuned slope, and losing at least ``gap``
points to hard spikes), a markdown table and a figure.

The folder holds one ``beta<B>.npz`` per slope (:func:`.crossval.save_predictions`)
and ``meta.json`` with the tuned slope; ``benchmarks/transfer_gap_landscape.py`` trains it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .crossval import MODES, compare, interval, load_predictions, oriented

#: The row every SAST variant is paired with.
BASELINE = "surrogate"


def _variant(label: str) -> str:
    return label.split(" (")[0]


def tabulate(folder: Path) -> dict[str, Any]:
    """Per beta, each row's accuracies with Wilson intervals and each SAST row's paired
    difference from the baseline (corrected resampled t, Holm within the beta)."""
    meta = json.loads((folder / "meta.json").read_text())
    betas: dict[str, Any] = {}
    for path in sorted(folder.glob("beta*.npz"), key=lambda p: float(p.stem[4:])):
        cv = compare(load_predictions(path))
        rows = {_variant(k): v for k, v in cv["methods"].items()}
        base = next(k for k in cv["methods"] if k.split()[0] == BASELINE)
        diffs = {_variant(k): oriented(cv, k, base) for k in cv["methods"]
                 if k != base and _variant(k).startswith("sast")}
        betas[path.stem[4:]] = {"rows": rows, "baseline": _variant(base), "vs_baseline": diffs}
    return {"tuned_beta": meta["tuned_beta"], "betas": betas}


def regimes(table: dict[str, Any], near: float, gap: float) -> dict[str, Any]:
    """Which slopes are large-gap regimes: the baseline within ``near`` points of its
    surrogate accuracy at the tuned slope, and losing at least ``gap`` points to hard."""
    tuned = min(table["betas"], key=lambda b: abs(float(b) - table["tuned_beta"]))
    entry = table["betas"][tuned]
    ref = entry["rows"][entry["baseline"]]["surrogate"]["accuracy"]
    found = {}
    for beta, entry in table["betas"].items():
        r = entry["rows"][entry["baseline"]]
        s, h = r["surrogate"]["accuracy"], r["hard"]["accuracy"]
        found[beta] = {"surrogate": s, "hard": h, "gap_pts": 100 * (s - h),
                       "below_tuned_pts": 100 * (ref - s),
                       "large_gap": 100 * (ref - s) <= near and 100 * (s - h) >= gap}
    return {"reference_beta": tuned, "reference_surrogate": ref, "near": near, "gap": gap,
            "by_beta": found}


def markdown(table: dict[str, Any], reg: dict[str, Any]) -> str:
    lines = ["| beta | variant | surrogate | hard | INT8 | INT4 | hard − baseline [95 % CI], "
             "p (Holm) | INT8 − baseline | INT4 − baseline |", "|---|---|---|---|---|---|---|---|---|"]
    for beta, entry in table["betas"].items():
        for name, row in entry["rows"].items():
            accs = " | ".join(f"{100 * row[m]['accuracy']:.1f}" if m in row else "–" for m in MODES)
            d = entry["vs_baseline"].get(name, {})
            cells = [("" if m not in d else
                      f"{d[m]['diff']:+.1f} {interval(*d[m]['ci95'])}"
                      + (f", p={d[m]['p_holm']:.2g} {d[m]['verdict']}" if m == "hard" else ""))
                     for m in ("hard", "int8", "int4")]
            lines.append(f"| {beta} | {name} | {accs} | " + " | ".join(cells) + " |")
    lines += ["", f"Large-gap regime (baseline surrogate within {reg['near']:g} points of "
              f"{100 * reg['reference_surrogate']:.1f} at beta {reg['reference_beta']}, "
              f"hard at least {reg['gap']:g} points lower):", "",
              "| beta | baseline surrogate | baseline hard | gap (pts) | below tuned (pts) | "
              "large-gap |", "|---|---|---|---|---|---|"]
    for beta, r in reg["by_beta"].items():
        lines.append(f"| {beta} | {100 * r['surrogate']:.1f} | {100 * r['hard']:.1f} | "
                     f"{r['gap_pts']:+.1f} | {r['below_tuned_pts']:+.1f} | "
                     f"{'yes' if r['large_gap'] else 'no'} |")
    return "\n".join(lines) + "\n"


def figure(table: dict[str, Any], path: Path) -> None:
    """Accuracy against beta per mode (95 % Wilson intervals), and a last panel with each
    SAST row's paired hard-spike difference from the baseline (95 % corrected-t interval)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    betas = sorted(table["betas"], key=float)
    first = table["betas"][betas[0]]
    names = [first["baseline"]] + [n for n in first["rows"] if n != first["baseline"]]
    fig, axes = plt.subplots(1, len(MODES) + 1, figsize=(3.6 * (len(MODES) + 1), 3.6))

    def dodge(b: str, i: int) -> float:
        return float(b) * (1 + 0.05 * (i - (len(names) - 1) / 2))

    for ax, mode in zip(axes, MODES):
        for i, name in enumerate(names):
            pts = [(b, table["betas"][b]["rows"][name][mode]) for b in betas
                   if mode in table["betas"][b]["rows"].get(name, {})]
            ax.errorbar([dodge(b, i) for b, _ in pts], [100 * c["accuracy"] for _, c in pts],
                        yerr=[[100 * (c["accuracy"] - c["ci95"][0]) for _, c in pts],
                              [100 * (c["ci95"][1] - c["accuracy"]) for _, c in pts]],
                        marker="o", capsize=3, label=name, color=f"C{i}")
        ax.set_title(mode if mode != "surrogate" else "surrogate (training forward)")
        ax.set_ylabel("held-out accuracy (%), 95 % Wilson" if mode == MODES[0] else "")
    ax = axes[-1]
    for i, name in enumerate(names[1:], start=1):
        pts = [(b, table["betas"][b]["vs_baseline"][name]["hard"]) for b in betas
               if name in table["betas"][b]["vs_baseline"]]
        ax.errorbar([dodge(b, i) for b, _ in pts], [d["diff"] for _, d in pts],
                    yerr=[[d["diff"] - d["ci95"][0] for _, d in pts],
                          [d["ci95"][1] - d["diff"] for _, d in pts]],
                    marker="o", capsize=3, color=f"C{i}", label=name)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_title("hard: SAST − baseline (paired)")
    ax.set_ylabel("points, 95 % corrected-t interval")
    for ax in axes:
        ax.axvline(table["tuned_beta"], color="grey", ls=":", lw=1)
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks([float(b) for b in betas], [f"{float(b):g}" for b in betas])
        ax.set_xlabel("slope beta")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle("Transfer-gap landscape: tuned baseline and SAST on its settings "
                 "(dotted: tuned slope)")
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
