"""The transfer-gap landscape: surrogate, hard, INT8 and INT4 accuracy against the slope
beta, for the tuned surrogate-forward baseline and for SAST on the baseline's own settings
(SAM added, nothing else changed), cross-validated, with intervals.

Training (one ``lava_sast.study`` per beta, the rows' predictions saved under ``--save``)::

    python benchmarks/transfer_gap_landscape.py --config docs/results/tune-dense/best.json \\
        --betas 0.25 0.5 1 2 --rhos 0.3 tuned --folds 3 --fold-seed 3 --seeds 0 \\
        --epochs 40 --patience 8 --workers 2 --out runs/landscape --save docs/results/landscape

From the committed predictions only (no training; what tutorial 01 runs)::

    python benchmarks/transfer_gap_landscape.py --predictions docs/results/landscape

Prints the table, writes ``benchmarks/results/transfer_gap_landscape.json`` and the
figure ``landscape.png`` beside the predictions.  A slope is a *large-gap regime* (the
paper's question) when the baseline's surrogate accuracy lies within ``--near`` points of
the baseline's at the tuned slope (or at the slope within 10 % of it) and it loses at
least ``--gap`` points to hard spikes.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lava_sast.atomic import write_json_atomic, write_text_atomic  # noqa: E402
from lava_sast.crossval import (MODES, collect, compare, interval,  # noqa: E402
                                load_predictions, oriented, save_predictions)
from lava_sast.study import main as study_main  # noqa: E402

BASELINE = "surrogate"


def landscape_config(data: dict[str, Any], rhos: list[str], out: Path) -> tuple[Path, list[str]]:
    """From a tuning's ``best.json`` contents, a ``--config`` file in which ``sast`` has the
    tuned baseline's settings plus its SAM options (the tuned ``sast``'s), and the study's
    method specs (``tuned`` is the tuned ``sast`` radius)."""
    base = data["methods"][BASELINE]
    sam = data["methods"].get("sast", {})
    sast = {**base, **{k: sam[k] for k in ("adaptive", "sam_ascent") if k in sam}}
    specs = [BASELINE] + [f"sast@{sam['rho'] if r == 'tuned' else float(r):g}" for r in rhos]
    cfg = {k: data[k] for k in ("tuned_on", "dataset") if k in data}
    cfg["methods"] = {BASELINE: base, "sast": sast}
    path = out / "landscape_config.json"
    write_json_atomic(path, cfg)
    return path, specs


def train(a: argparse.Namespace) -> None:
    out, save = Path(a.out), Path(a.save)
    out.mkdir(parents=True, exist_ok=True)
    save.mkdir(parents=True, exist_ok=True)
    best = json.loads(Path(a.config).read_text())
    config, specs = landscape_config(best, a.rhos, out)
    tuned_beta = best["methods"][BASELINE]["beta"]
    betas = set(a.betas)
    if all(abs(b / tuned_beta - 1) > 0.1 for b in betas):  # the tuned slope is the reference
        betas.add(round(tuned_beta, 3))
    for beta in sorted(betas):
        folder = out / f"beta{beta:g}"
        argv = ["--dataset", "nmnist", "--data-dir", a.data_dir, "--config", str(config),
                "--methods", *specs, "--beta", f"{beta:g}", "--tuning-block", f"{a.tuning_block:g}",
                "--folds", str(a.folds), "--fold-seed", str(a.fold_seed),
                "--seeds", *map(str, a.seeds), "--epochs", str(a.epochs),
                "--patience", str(a.patience), "--val-fraction", f"{a.val_fraction:g}",
                "--workers", str(a.workers), "--out", str(folder)]
        if beta <= 1.0:  # the warm-up climbs from beta 1; at or below it there is nothing to climb
            argv += ["--beta-warmup", "0"]
        print(f"== beta {beta:g}: python -m lava_sast.study {' '.join(argv)}", flush=True)
        if study_main(argv) != 0:
            raise SystemExit(f"the study at beta {beta:g} failed; rerun to continue")
        save_predictions(collect([folder]), save / f"beta{beta:g}.npz")
    write_json_atomic(save / "meta.json", {"tuned_beta": tuned_beta, "command": sys.argv})


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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--predictions", default=None, metavar="DIR",
                   help="tabulate and plot from the predictions in DIR (no training)")
    p.add_argument("--config", default=None, help="tuning output (best.json) to train from")
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared/data/nmnist-small"))
    p.add_argument("--betas", type=float, nargs="+", default=[0.25, 0.5, 1.0, 2.0])
    p.add_argument("--rhos", nargs="+", default=["0.3", "tuned"],
                   help="SAST radii: numbers, or 'tuned' for the tuned sast's")
    p.add_argument("--tuning-block", type=float, default=0.4)
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--fold-seed", type=int, default=3)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--patience", type=int, default=8)
    p.add_argument("--val-fraction", type=float, default=0.15)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--out", default="runs/landscape")
    p.add_argument("--save", default="docs/results/landscape", metavar="DIR",
                   help="where the predictions, meta.json and the figure go")
    p.add_argument("--results", default=str(ROOT / "benchmarks/results/transfer_gap_landscape.json"),
                   metavar="FILE.json", help="where the table and regimes go as JSON")
    p.add_argument("--near", type=float, default=3.0)
    p.add_argument("--gap", type=float, default=15.0)
    a = p.parse_args(argv)
    if a.predictions is None:
        if a.config is None:
            p.error("give --config BEST.json to train, or --predictions DIR")
        if not Path(a.config).is_file():
            p.error(f"--config {a.config}: no such file")
        bad = [r for r in a.rhos if r != "tuned" and not _is_number(r)]
        if bad:
            p.error(f"--rhos {bad[0]}: not a number or 'tuned'")
        train(a)
    folder = Path(a.predictions or a.save)
    if not (folder / "meta.json").is_file():
        p.error(f"--predictions {folder}: no meta.json (train first)")
    table = tabulate(folder)
    reg = regimes(table, a.near, a.gap)
    md = markdown(table, reg)
    print(md)
    figure(table, folder / "landscape.png")
    res = Path(a.results)
    write_json_atomic(res, {"table": table, "regimes": reg})
    write_text_atomic(folder / "landscape.md", md)
    print(f"wrote {res}, {folder / 'landscape.png'}, {folder / 'landscape.md'}")
    return 0


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


if __name__ == "__main__":
    sys.exit(main())
