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
figure ``landscape.png`` beside the predictions (the analysis:
:mod:`lava_sast.experiments.landscape`).
A slope is a *large-gap regime* (the paper's question) when the baseline's surrogate
accuracy lies within ``--near`` points of the baseline's at the tuned slope (or at the slope
within 10 % of it) and it loses at least ``--gap`` points to hard spikes.
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
from lava_sast.experiments.crossval import collect, save_predictions  # noqa: E402
from lava_sast.experiments.landscape import (BASELINE, figure, markdown, regimes,  # noqa: E402
                                             tabulate)
from lava_sast.experiments.study import main as study_main  # noqa: E402


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
