"""Does ``--method slayer`` train as well as lava-dl's own blocks trained by hand?

Trains, per seed, (a) ``slayer.block.cuba.Dense`` 2312-256-10 by hand exactly as a lava-dl
user would (threshold 1.25, decays 0.25/0.03, ``tau_grad`` 0.03, ``scale_grad`` 3, SLAYER's
default 8-bit weight hook, ``SpikeRate(0.2, 0.03)``, Adam 1e-3, batch 32) and (b)
``python -m lava_sast.train --method slayer`` with the same data and epochs, both on all
training samples and reporting the last epoch (``--val-fraction 0``), then scores both on
the test split with hard spikes.  The hand-trained net's weights are also copied into a
lava-sast network and exported, to score it at INT8/INT4 through the same emulator.

``python benchmarks/slayer_reference.py --data-dir ../shared/data/nmnist-small --seeds 0 1 2``
Prints a table; writes ``benchmarks/results/slayer_reference.json``.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import lava_sast  # noqa: F401  (compat hook)
import numpy as np
import torch
from lava.lib.dl import slayer
from torch.utils.data import DataLoader

from lava_sast.atomic import write_json_atomic
from lava_sast.config import TrainConfig, resolved
from lava_sast.datasets import load_dataset
from lava_sast.evaluate import accuracy
from lava_sast.methods import get_method
from lava_sast.trainer import build_model
from netx_export.hardware_eval import train_and_deploy
from netx_export.hardware_eval import hardware_metrics

ROOT = Path(__file__).resolve().parents[1]
NEURON = {"threshold": 1.25, "current_decay": 0.25, "voltage_decay": 0.03,
          "tau_grad": 0.03, "scale_grad": 3}


class HandNet(torch.nn.Module):
    """lava-dl's blocks as its NMNIST tutorial builds them (no delays, no dropout)."""

    def __init__(self, n_in: int, hidden: int, classes: int) -> None:
        super().__init__()
        self.blocks = torch.nn.ModuleList([slayer.block.cuba.Dense(NEURON, n_in, hidden),
                                           slayer.block.cuba.Dense(NEURON, hidden, classes)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1, x.shape[-1])
        for b in self.blocks:
            x = b(x)
        return x


def hand_trained(data_dir: str, seed: int, epochs: int) -> dict[str, float]:
    torch.manual_seed(seed)
    train_set = load_dataset("nmnist", data_dir, "train")
    test = load_dataset("nmnist", data_dir, "test")
    net = HandNet(int(np.prod(train_set.spec.input_shape)), 256, 10)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fx = slayer.loss.SpikeRate(true_rate=0.2, false_rate=0.03, reduction="mean")
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for x, y in DataLoader(train_set, batch_size=32, shuffle=True, generator=gen):
            opt.zero_grad()
            loss_fx(net(x), y).backward()
            opt.step()
    with torch.no_grad():
        pred = torch.cat([slayer.classifier.Rate.predict(net(x))
                          for x, _ in DataLoader(test, batch_size=128)])
    result = {"hard_accuracy": float((pred == test.labels).float().mean())}
    # the same weights in a lava-sast net (SLAYER hook), exported and emulated at INT8/INT4
    cfg = resolved(TrainConfig(dataset="nmnist", method="slayer"))
    ours = build_model(cfg, get_method("slayer"), train_set.spec.input_shape, 10)
    with torch.no_grad():
        for mine, theirs in zip(ours.weighted_blocks(), net.blocks):
            mine.synapse.weight.copy_(theirs.synapse.weight)
    result["copied_hard_accuracy"] = accuracy(ours, test, "hard")
    with tempfile.TemporaryDirectory() as tmp:
        hw = hardware_metrics(ours, test, tmp)
    result.update(int8_accuracy=hw["int8_accuracy"], int4_accuracy=hw["int4_accuracy"],
                  int8_synops_per_sample=hw["int8_synops_per_sample"],
                  int8_levels=[layer["levels"] for layer in hw["int8_layers"]])
    return result


def ours(data_dir: str, seed: int, epochs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        rep = train_and_deploy(TrainConfig(dataset="nmnist", data_dir=data_dir, method="slayer",
                                epochs=epochs, seed=seed, val_fraction=0.0, out=tmp))
    return {k: rep[k] for k in ("hard_accuracy", "int8_accuracy", "int4_accuracy",
                                "int8_synops_per_sample")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared/data/nmnist-small"))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=20)
    a = p.parse_args()
    rows = {"lava-dl blocks by hand": [], "--method slayer": []}
    for seed in a.seeds:
        rows["lava-dl blocks by hand"].append(hand_trained(a.data_dir, seed, a.epochs))
        rows["--method slayer"].append(ours(a.data_dir, seed, a.epochs))
    print(f"N-MNIST subset, 2312-256-10, {a.epochs} epochs, last epoch, seeds {a.seeds}\n")
    print("| training | hard % | INT8 % | INT4 % | INT8 SynOps/sample |")
    print("|---|---|---|---|---|")
    summary = {}
    for name, runs in rows.items():
        stats = {k: (float(np.mean([r[k] for r in runs])), float(np.std([r[k] for r in runs])))
                 for k in ("hard_accuracy", "int8_accuracy", "int4_accuracy",
                           "int8_synops_per_sample")}
        summary[name] = {"runs": runs, "mean_std": stats}
        cells = [f"{100 * m:.1f} ± {100 * s:.1f}" for m, s in
                 (stats[k] for k in ("hard_accuracy", "int8_accuracy", "int4_accuracy"))]
        m, s = stats["int8_synops_per_sample"]
        print(f"| {name} | " + " | ".join(cells) + f" | {m:,.0f} ± {s:,.0f} |")
    out = ROOT / "benchmarks" / "results" / "slayer_reference.json"
    write_json_atomic(out, {"seeds": a.seeds, "epochs": a.epochs, "summary": summary})
    print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
