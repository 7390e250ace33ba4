"""Training-step cost: plain SLAYER CUBA vs lava_sast baseline vs SAST (and SAST with
the ascent direction recomputed every k steps, for each k), same net and batch,
interleaved in one process, median of repeats (an every-k variant is timed over k
consecutive steps); peak resident memory of each variant in its own subprocess; then
hard-spike accuracy of baseline, SAST and SAST every k (the first k) on the embedded
digits over seeds.

``python benchmarks/train_cost.py [--repeats 15] [--batch 32] [--k 2 4] [--seeds 0 1 2]``
Prints ratio and accuracy tables; writes ``benchmarks/results/train_cost.json``.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import lava_sast  # noqa: F401
import torch
from lava.lib.dl import slayer

from lava_sast.models import DEFAULT_NEURON, SastNetwork
from lava_sast.sam import SAM

ROOT = Path(__file__).resolve().parents[1]
IN_SHAPE, HIDDEN, CLASSES, STEPS = (2, 34, 34), 256, 10, 30


class SlayerNet(torch.nn.Module):
    """lava-dl's own CUBA blocks (the usual SLAYER training path)."""

    def __init__(self) -> None:
        super().__init__()
        p = dict(DEFAULT_NEURON, tau_grad=1.0, scale_grad=1.0)
        n_in = IN_SHAPE[0] * IN_SHAPE[1] * IN_SHAPE[2]
        self.blocks = torch.nn.ModuleList([
            slayer.block.cuba.Dense(p, n_in, HIDDEN, weight_scale=2, delay_shift=False),
            slayer.block.cuba.Dense(p, HIDDEN, CLASSES, weight_scale=2, delay_shift=False)])

    def forward(self, x):
        x = x.reshape(x.shape[0], -1, x.shape[-1])
        for b in self.blocks:
            x = b(x)
        return x


def make_step(variant: str, k: int):
    torch.manual_seed(0)
    if variant == "slayer":
        model = SlayerNet()
    else:
        model = SastNetwork([{"type": "dense", "out": HIDDEN}, {"type": "dense", "out": CLASSES}],
                            IN_SHAPE, beta=1.0)
    rho = 0.0 if variant in ("slayer", "baseline") else 0.3
    opt = SAM(model.parameters(), torch.optim.Adam, lr=1e-3, rho=rho, adaptive=True,
              climb_every=k)
    loss_fx = slayer.loss.SpikeRate(true_rate=0.2, false_rate=0.03, reduction="mean")

    def step(x, y):
        def closure():
            opt.zero_grad()
            loss = loss_fx(model(x), y)
            loss.backward()
            return loss
        opt.step(closure)
    return step


def peak_memory_mb(variant: str, batch: int, k: int) -> float:
    code = (f"import sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import train_cost as t, "
            f"torch, resource; s=t.make_step({variant!r}, {k}); x,y=t.batch_data({batch}); "
            "[s(x,y) for _ in range(3)]; "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def batch_data(batch: int):
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(batch, *IN_SHAPE, STEPS, generator=g) < 0.04).float()
    return x, torch.randint(0, CLASSES, (batch,), generator=g)


def accuracy_table(seeds: list[int], k: int, epochs: int) -> dict:
    """Hard-spike test accuracy on the embedded digits: baseline, SAST, SAST every k."""
    import tempfile
    from lava_sast.config import TrainConfig
    from netx_export.hardware_eval import train_and_deploy
    settings = {"baseline": dict(method="baseline"), "sast": dict(method="sast", rho=0.3),
                f"sast (k={k})": dict(method="sast", rho=0.3, climb_every=k)}
    table = {}
    for name, kw in settings.items():
        accs = []
        for seed in seeds:
            with tempfile.TemporaryDirectory() as tmp:
                rep = train_and_deploy(TrainConfig(dataset="digits", epochs=epochs, seed=seed,
                                        hardware_eval=False, out=tmp, **kw))
            accs.append(rep["hard_accuracy"])
        table[name] = {"mean": statistics.mean(accs), "std": statistics.pstdev(accs),
                       "values": accs}
    print(f"\nHard-spike test accuracy, embedded digits, {epochs} epochs, seeds {seeds}")
    for name, r in table.items():
        print(f"{name:>14} | {100 * r['mean']:.1f} ± {100 * r['std']:.1f} %")
    return table


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--k", type=int, nargs="+", default=[2, 4],
                   help="climb every k steps (one variant per k)")
    p.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2],
                   help="seeds for the accuracy comparison (none: skip it)")
    p.add_argument("--epochs", type=int, default=20)
    a = p.parse_args()
    every = {"slayer": 1, "baseline": 1, "sast": 1, **{f"sast_every_{k}": k for k in a.k}}
    variants = list(every)
    steps = {v: make_step(v, every[v]) for v in variants}
    x, y = batch_data(a.batch)
    times = {v: [] for v in variants}
    for v in variants:  # warm-up
        steps[v](x, y)
    for _ in range(a.repeats):  # interleaved so drifts hit every variant alike
        for v in variants:
            n = every[v]  # one full ascent cycle
            t0 = time.perf_counter()
            for _ in range(n):
                steps[v](x, y)
            times[v].append((time.perf_counter() - t0) / n)
    med = {v: statistics.median(t) for v, t in times.items()}
    mem = {v: peak_memory_mb(v, a.batch, every[v]) for v in variants}
    print(f"\nTraining step, 2312-{HIDDEN}-{CLASSES} CUBA net, batch {a.batch}, {STEPS} steps, "
          f"median of {a.repeats} interleaved repeats")
    print(f"{'variant':>14} | {'ratio to baseline':>17} | {'ratio to SLAYER':>15} | "
          f"{'peak RSS MB':>11}")
    for v in variants:
        name = f"sast (k={every[v]})" if v.startswith("sast_every") else v
        print(f"{name:>14} | {med[v] / med['baseline']:>17.2f} | {med[v] / med['slayer']:>15.2f} | "
              f"{mem[v]:>11.0f}")
    accuracy = accuracy_table(a.seeds, a.k[0], a.epochs) if a.seeds else {}
    out = ROOT / "benchmarks" / "results" / "train_cost.json"
    out.write_text(json.dumps({"median_seconds": med, "ratio_to_baseline":
                               {v: med[v] / med["baseline"] for v in variants},
                               "peak_rss_mb": mem, "hard_accuracy": accuracy,
                               "settings": vars(a)}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
