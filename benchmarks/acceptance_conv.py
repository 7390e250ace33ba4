"""Conv nets at the defaults, on seeds that no tuning or study used: does every method train?

For each net (the conv net of the README, ``--arch conv --conv-channels 8 16``, and the NIR
paper's pooled CNN layout, ``docs/results/acceptance-conv/nir-cnn.json``, which nobody
tuned), each seed (41, 42) and each method (``slayer``, ``surrogate``, ``sast``) this trains
one run at the method's defaults on the whole N-MNIST training subset for 12 epochs and
scores INT8 on the 100 test samples (the deploy file, bit-exact with Lava).  Finished runs
in ``--runs`` are reused.  Prints the table, each surrogate-forward run's INT8 minus
``slayer``'s on the same net and seed, and writes ``benchmarks/results/acceptance_conv.json``::

    python benchmarks/acceptance_conv.py
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NETS = {"conv816": ["--arch", "conv", "--conv-channels", "8", "16"],
        "nircnn": ["--arch", str(ROOT / "docs/results/acceptance-conv/nir-cnn.json")]}
METHODS = ("slayer", "surrogate", "sast")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared/data/nmnist-small"))
    p.add_argument("--seeds", type=int, nargs="+", default=[41, 42])
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--runs", default=str(ROOT / "runs/acceptance-conv"))
    p.add_argument("--out", default=str(ROOT / "benchmarks/results/acceptance_conv.json"))
    p.add_argument("--no-train", action="store_true",
                   help="only read finished runs; a (net, seed) with a missing run is left out")
    a = p.parse_args(argv)
    rows = []
    for net, arch in NETS.items():
        for seed in a.seeds:
            scores = {}
            runs = {m: Path(a.runs) / f"{net}-{m}-seed{seed}" for m in METHODS}
            if a.no_train and not all((r / "report.json").exists() for r in runs.values()):
                continue
            for m in METHODS:
                run = runs[m]
                if not (run / "report.json").exists():
                    subprocess.run([sys.executable, "-m", "lava_sast.train", "--dataset",
                                    "nmnist", "--data-dir", a.data_dir, *arch, "--method", m,
                                    "--epochs", str(a.epochs), "--seed", str(seed), "--out",
                                    str(run), "--quiet"], check=True, cwd=ROOT,
                                   stdout=subprocess.DEVNULL)
                r = json.loads((run / "report.json").read_text())
                scores[m] = {"int8": r["int8_accuracy"], "hard": r["hard_accuracy"],
                             "surrogate": r["surrogate_accuracy"],
                             "warnings": len(r.get("health_warnings") or [])}
            rows.append({"net": net, "seed": seed, "scores": scores})
    print("| net | seed | " + " | ".join(f"{m} INT8" for m in METHODS)
          + " | surrogate − slayer | sast − slayer | health warnings |")
    print("|---|---|" + "---|" * (len(METHODS) + 3))
    for r in rows:
        s = r["scores"]
        diffs = [100 * (s[m]["int8"] - s["slayer"]["int8"]) for m in ("surrogate", "sast")]
        print(f"| {r['net']} | {r['seed']} | "
              + " | ".join(f"{100 * s[m]['int8']:.0f}" for m in METHODS)
              + " | " + " | ".join(f"{d:+.0f}" for d in diffs)
              + f" | {sum(s[m]['warnings'] for m in METHODS)} |")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"epochs": a.epochs, "seeds": a.seeds, "rows": rows},
                                      indent=1) + "\n")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
