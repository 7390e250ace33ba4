"""Which start trains the surrogate forward, per net family: slope warm-up and calibrated
initial rate, measured on the tuning block (no sample a study scores).

For each net family the surrogate forward's other settings are the family's tuned ones
(``--config``, default: the family's last tuning on the tuning block), and
every combination of

- ``beta_warmup``: 0 (train at the slope from the first epoch), 1 or the tuning's,
- ``init_rate``: 0 (lava-dl's initial weight scale) or the preset's calibrated rate,
- ``reset_grad``: ``exact`` or ``detached`` (conv only; steep slopes),

trains for ``--epochs`` at ``--seeds``.  The table gives validation accuracy (hard spikes)
of the best epoch per seed, the first epoch's, and the training-health warnings of each
run (:mod:`lava_sast.health`).  Writes ``benchmarks/results/start_choice-FAMILY.json``::

    python benchmarks/start_choice.py --family conv
    python benchmarks/start_choice.py --family dense
"""
from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lava_sast.atomic import write_json_atomic  # noqa: E402
from lava_sast.config import TrainConfig, read_settings, resolve  # noqa: E402
from lava_sast.trainer import train  # noqa: E402

#: Each family's net, tuning block and the settings file whose start is varied.
FAMILY = {
    "conv": {"arch": "conv", "conv_channels": (8, 16), "epochs": 8,
             "config": ROOT / "docs/results/tune-conv2/best.json"},
    "dense": {"arch": "dense", "conv_channels": None, "epochs": 15,
              "config": ROOT / "docs/results/tune-dense/best.json"},
}


def markdown(result: dict) -> str:
    """The table of docs/results.md from a result file."""
    lines = ["| warm-up | initial rate | reset gradient | validation hard % per seed "
             "(epoch 1) | mean |", "|---|---|---|---|---|"]
    for r in result["rows"]:
        cells = ", ".join(f"{100 * x['val_hard_accuracy']:.0f} ({100 * x['first_epoch_val']:.0f})"
                          for x in r["runs"])
        init = ("0 (lava-dl's scale)" if r["init_rate"] == 0 else
                f"{r['init_rate']:.3g} (calibrated)")
        lines.append(f"| {r['beta_warmup']} | {init} | {r['reset_grad']} | {cells} | "
                     f"{100 * r['mean_val_hard_accuracy']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--family", choices=sorted(FAMILY), required=True)
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared/data/nmnist-small"))
    p.add_argument("--config", help="settings file (best.json) of the surrogate forward; "
                                    "default: the family's tuning")
    p.add_argument("--epochs", type=int)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--tuning-block", type=float, default=0.4)
    p.add_argument("--out")
    p.add_argument("--markdown", action="store_true",
                   help="print the table of the family's result file and exit")
    a = p.parse_args(argv)
    fam = FAMILY[a.family]
    if a.markdown:
        import json
        path = Path(a.out or ROOT / f"benchmarks/results/start_choice-{a.family}.json")
        print(markdown(json.loads(path.read_text())))
        return 0
    settings = read_settings(a.config or fam["config"])["surrogate"]
    settings.pop("tuned_on", None)
    torch.set_num_threads(1)
    base = TrainConfig(dataset="nmnist", data_dir=a.data_dir, method="surrogate",
                       arch=fam["arch"], conv_channels=fam["conv_channels"],
                       epochs=a.epochs or fam["epochs"], tuning_block=a.tuning_block,
                       part="tuning", val_fraction=0.25, hardware_eval=False, quiet=True)
    base = replace(base, **settings)
    warmups = sorted({0, 1, int(settings.get("beta_warmup") or 0)})
    inits = sorted({0.0, float(settings.get("init_rate") or 0.0)})
    resets = ["exact", "detached"] if a.family == "conv" else [settings.get("reset_grad")
                                                               or "exact"]
    rows = []
    print(f"{a.family} net, surrogate forward at {a.config or fam['config']} "
          f"(beta {base.beta:g}), tuning block {a.tuning_block}, {base.epochs} epochs")
    print(f"{'warm-up':>7s} {'init':>6s} {'reset':9s} | val hard % per seed (best epoch; "
          f"epoch 1) | mean | warnings")
    with tempfile.TemporaryDirectory() as tmp:
        for warmup, init, reset in itertools.product(warmups, inits, resets):
            per_seed = []
            for seed in a.seeds:
                cfg = resolve(replace(base, beta_warmup=warmup, init_rate=init,
                                      reset_grad=reset, seed=seed,
                                      out=str(Path(tmp) / f"w{warmup}-i{init}-{reset}-{seed}")))
                report = train(cfg)
                per_seed.append({
                    "seed": seed, "val_hard_accuracy": report["val_hard_accuracy"],
                    "first_epoch_val": report["history"][0]["val_hard_accuracy"],
                    "warnings": report.get("health_warnings", [])})
            mean = float(np.mean([r["val_hard_accuracy"] for r in per_seed]))
            rows.append({"beta_warmup": warmup, "init_rate": init, "reset_grad": reset,
                         "runs": per_seed, "mean_val_hard_accuracy": mean})
            cells = " ".join(f"{100 * r['val_hard_accuracy']:3.0f} ({100 * r['first_epoch_val']:2.0f})"
                             for r in per_seed)
            warned = sum(bool(r["warnings"]) for r in per_seed)
            print(f"{warmup:7d} {init:6.3g} {reset:9s} | {cells} | {100 * mean:5.1f} | "
                  f"{warned}/{len(per_seed)} runs", flush=True)
    out = Path(a.out or ROOT / f"benchmarks/results/start_choice-{a.family}.json")
    write_json_atomic(out, {"family": a.family, "config": str(a.config or fam["config"]),
                            "epochs": base.epochs, "seeds": a.seeds,
                            "tuning_block": a.tuning_block, "rows": rows})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
