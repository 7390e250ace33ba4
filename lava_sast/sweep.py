"""rho sweep: ``python -m lava_sast.sweep --dataset D --rho 0 0.1 0.3 --seeds 0 1 2
--epochs E --out DIR``.

Trains every (rho, seed) (rho 0 = baseline: same net, plain optimizer) into
``DIR/rho<r>_seed<s>/``, skipping runs whose ``report.json`` exists, and writes
``DIR/summary.json``, ``DIR/summary.md`` (mean ± std over seeds) and plots:
``accuracy_vs_rho.png``, ``membrane_hist.png``, ``synops_per_layer.png``.
With ``--lava N`` the INT8/INT4 nets also run in Lava's fixed-point simulator
on the first N test samples.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from .checkpoint import write_json_atomic
from .datasets import DATASETS
from .train import TrainConfig, check_config, train, with_family_defaults

METRICS = ["surrogate_accuracy", "hard_accuracy", "transfer_gap", "int8_accuracy",
           "int4_accuracy", "int8_lava_accuracy", "int4_lava_accuracy",
           "hard_synops_per_sample", "int8_synops_per_sample", "near_threshold_fraction",
           "seconds_per_epoch"]


def run_dir(out: Path, rho: float, seed: int) -> Path:
    return out / f"rho{rho:g}_seed{seed}"


def _lava_accuracy(run: Path, cfg: TrainConfig, samples: int) -> dict[str, float]:
    from netx_export.run import evaluate_network
    res = {}
    for b in (8, 4):
        r = evaluate_network(str(run / f"network_int{b}.net"), cfg.dataset, cfg.data_dir,
                             "test", samples, engine="lava")
        res[f"int{b}_lava_accuracy"] = r["accuracy"]
        res[f"int{b}_lava_samples"] = r["samples"]
    return res


def run_one(base: TrainConfig, rho: float, seed: int, out: Path,
            lava_samples: Optional[int]) -> dict[str, Any]:
    """Train (or reuse) one run and return its report."""
    run = run_dir(out, rho, seed)
    report_path = run / "report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else None
    if report is None or report["epochs"] < base.epochs:  # new, or extend by resuming
        cfg = TrainConfig(**{**{f.name: getattr(base, f.name) for f in fields(base)},
                             "rho": rho, "seed": seed,
                             "method": "baseline" if rho == 0 else "sast", "out": str(run)})
        report = train(cfg, resume=True)
    if lava_samples and "int8_lava_accuracy" not in report:
        cfg = TrainConfig(**report["config"])
        report.update(_lava_accuracy(run, cfg, lava_samples))
        write_json_atomic(report_path, report)
    return report


def summarize(reports: dict[tuple[float, int], dict]) -> dict[str, Any]:
    """Mean and std over seeds of every metric, per rho."""
    rhos = sorted({r for r, _ in reports})
    table = {}
    for rho in rhos:
        runs = [rep for (r, _), rep in reports.items() if r == rho]
        row = {"runs": len(runs)}
        for m in METRICS:
            vals = [rep[m] for rep in runs if rep.get(m) is not None]
            if vals:
                row[m] = {"mean": float(np.mean(vals)), "std": float(np.std(vals)),
                          "values": vals}
        gains = [100.0 * (rep["hard_accuracy"] - reports[(0.0, seed)]["hard_accuracy"])
                 for (r, seed), rep in reports.items()
                 if r == rho and rho > 0 and (0.0, seed) in reports]
        if gains:  # paired by seed: same initial weights and batch order as the baseline
            row["hard_gain_vs_baseline"] = {"mean": float(np.mean(gains)),
                                            "std": float(np.std(gains)), "values": gains,
                                            "wins": int(sum(g > 0 for g in gains))}
        table[f"{rho:g}"] = row
    return table


def to_markdown(summary: dict[str, Any]) -> str:
    cols = [("surrogate", "surrogate_accuracy", 100), ("hard", "hard_accuracy", 100),
            ("gap (pts)", "transfer_gap", 1), ("INT8", "int8_accuracy", 100),
            ("INT4", "int4_accuracy", 100), ("INT8 Lava", "int8_lava_accuracy", 100),
            ("INT4 Lava", "int4_lava_accuracy", 100),
            ("hard SynOps/sample", "hard_synops_per_sample", 1),
            ("near-threshold %", "near_threshold_fraction", 100)]
    lines = ["| rho | runs | " + " | ".join(c[0] for c in cols) + " |",
             "|---|---|" + "---|" * len(cols)]
    for rho, row in summary.items():
        cells = []
        for _, key, scale in cols:
            if key in row:
                m, s = row[key]["mean"] * scale, row[key]["std"] * scale
                cells.append(f"{m:.0f} ± {s:.0f}" if "SynOps" in _ or abs(m) >= 1000
                             else f"{m:.1f} ± {s:.1f}")
            else:
                cells.append("–")
        lines.append(f"| {rho} | {row['runs']} | " + " | ".join(cells) + " |")
    paired = [(rho, row["hard_gain_vs_baseline"]) for rho, row in summary.items()
              if "hard_gain_vs_baseline" in row]
    if paired:
        lines.append("\nHard-spike accuracy against the baseline of the same seed:\n")
        for rho, g in paired:
            lines.append(f"- rho {rho}: {g['mean']:+.1f} ± {g['std']:.1f} points, better on "
                         f"{g['wins']} of {len(g['values'])} seeds "
                         f"({', '.join(f'{v:+.1f}' for v in g['values'])})")
    return "\n".join(lines) + "\n"


def plot(summary: dict[str, Any], reports: dict[tuple[float, int], dict], out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rhos = [float(r) for r in summary]
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in [("surrogate_accuracy", "surrogate"), ("hard_accuracy", "hard"),
                       ("int8_accuracy", "INT8"), ("int4_accuracy", "INT4")]:
        m = [summary[r][key]["mean"] * 100 for r in summary if key in summary[r]]
        s = [summary[r][key]["std"] * 100 for r in summary if key in summary[r]]
        if m:
            ax.errorbar(rhos[:len(m)], m, yerr=s, marker="o", capsize=3, label=label)
    ax.set_xlabel("rho (0 = baseline)")
    ax.set_ylabel("test accuracy (%)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "accuracy_vs_rho.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    for rho in (min(rhos), max(rhos)):
        hists = [np.array(rep["hard_voltage_hist"]) for (r, _), rep in reports.items()
                 if r == rho]
        lo, hi = next(iter(reports.values()))["hist_range"]
        edges = np.linspace(lo, hi, len(hists[0]) + 1)
        ax.stairs(np.mean(hists, 0), edges, label=f"rho={rho:g}"
                  + (" (baseline)" if rho == 0 else ""))
    ax.axvspan(0.9, 1.1, color="red", alpha=0.1, label="±10% of threshold")
    ax.set_yscale("log")
    ax.set_xlabel("hidden membrane potential / threshold (hard spikes)")
    ax.set_ylabel("fraction of samples")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "membrane_hist.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    width = 0.8 / len(rhos)
    for i, rho in enumerate(rhos):
        per = np.mean([rep["hard_synops_per_layer"] for (r, _), rep in reports.items()
                       if r == rho], 0)
        ax.bar(np.arange(len(per)) + i * width, per, width, label=f"rho={rho:g}")
    ax.set_xlabel("layer")
    ax.set_ylabel("SynOps per sample (hard spikes)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "synops_per_layer.png", dpi=120)
    plt.close(fig)


def main(argv: Optional[Sequence[str]] = None) -> int:
    d = TrainConfig()
    p = argparse.ArgumentParser(prog="python -m lava_sast.sweep", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", choices=sorted(DATASETS), default=d.dataset)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--rho", type=float, nargs="+", default=[0, 0.1, 0.2, 0.3, 0.4])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--beta", type=float, default=None,
                   help="surrogate sigmoid slope (default: per network family)")
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--weight-scale", type=float, default=None)
    p.add_argument("--true-rate", type=float, default=None,
                   help="spike-rate target of the true class (default: per network family)")
    p.add_argument("--false-rate", type=float, default=None)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--hidden", type=int, default=None,
                   help="hidden dense layer width (0: none)")
    p.add_argument("--conv-channels", type=int, nargs=2, default=None, metavar=("C1", "C2"))
    p.add_argument("--sam", choices=["adaptive", "standard"], default="adaptive")
    p.add_argument("--sam-layerwise", action="store_true")
    p.add_argument("--sam-layers", choices=["all", "dense", "conv"], default="all")
    p.add_argument("--train-samples", type=int, default=None)
    p.add_argument("--test-samples", type=int, default=None)
    p.add_argument("--lava", type=int, default=None, metavar="N",
                   help="also run INT8/INT4 nets in Lava on the first N test samples")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    base = TrainConfig(dataset=a.dataset, data_dir=a.data_dir, epochs=a.epochs, beta=a.beta,
                       lr=a.lr, weight_scale=a.weight_scale, true_rate=a.true_rate,
                       false_rate=a.false_rate, batch_size=a.batch_size,
                       hidden=a.hidden,
                       conv_channels=a.conv_channels,
                       adaptive=a.sam == "adaptive", sam_layerwise=a.sam_layerwise,
                       sam_layers=a.sam_layers,
                       train_samples=a.train_samples,
                       test_samples=a.test_samples)
    base = with_family_defaults(base)
    try:
        check_config(base)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    settings = {**vars(a), **{k: getattr(base, k) for k in
                                ("beta", "lr", "weight_scale", "true_rate", "false_rate")}}
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    reports = {}
    for rho in a.rho:
        for seed in a.seeds:
            print(f"rho={rho:g} seed={seed}")
            reports[(rho, seed)] = run_one(base, rho, seed, out, a.lava)
    summary = summarize(reports)
    write_json_atomic(out / "summary.json", {"settings": settings, "summary": summary})
    md = to_markdown(summary)
    (out / "summary.md").write_text(
        f"Command: `python -m lava_sast.sweep {' '.join(sys.argv[1:] if argv is None else argv)}`\n\n"
        + md)
    plot(summary, reports, out)
    print(md)
    print(f"wrote {out}/summary.json, summary.md, accuracy_vs_rho.png, membrane_hist.png, "
          f"synops_per_layer.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
