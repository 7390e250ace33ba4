"""Conv nets: a training step of each method against lava-dl's own ``slayer.block.cuba.Conv``
net of the same shape, and the bit-exact emulator against a float conv forward stepped
through time; ratios measured side by side in one process, medians of interleaved repeats.

The net is ``--arch conv`` on N-MNIST's input (2x34x34, 30 steps): conv 16 5x5/2, conv 32
3x3/2, flatten, dense 128, dense 10, CUBA neurons.  Each method's step is the trainer's
(:func:`lava_sast.trainer.build_model`, the method's optimiser, loss and weight hook with
its default settings on conv nets).

``python benchmarks/conv_cost.py [--repeats 7] [--batch 32] [--samples 64]``
Prints two tables; writes ``benchmarks/results/conv_cost.json``.  Goals (issue 23):
``surrogate`` <= 1.0x lava-dl's step, emulator <= 1.2x the float forward.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import lava_sast  # noqa: F401  (lava-dl compatibility patches first)
import torch
import torch.nn.functional as F
from lava.lib.dl import slayer

from lava_sast.config import TrainConfig, resolved
from lava_sast.losses import make_loss
from lava_sast.methods import METHOD_NAMES, get_method
from lava_sast.models import DEFAULT_NEURON
from lava_sast.sam import SAM
from lava_sast.trainer import build_model
from netx_export.emulate import emulate
from netx_export.export import export_network
from netx_export.netx_model import IntNetwork, load_int_network

ROOT = Path(__file__).resolve().parents[1]
IN_SHAPE, CLASSES, STEPS = (2, 34, 34), 10, 30
METHODS = [m for m in METHOD_NAMES if m != "anneal"]


class LavaDlConvNet(torch.nn.Module):
    """The same conv net built from lava-dl's own CUBA blocks (the usual SLAYER path)."""

    def __init__(self) -> None:
        super().__init__()
        p = dict(DEFAULT_NEURON, tau_grad=0.03, scale_grad=3.0)
        cuba = slayer.block.cuba
        self.blocks = torch.nn.ModuleList([
            cuba.Conv(p, 2, 16, 5, stride=2, padding=2, weight_scale=1, delay_shift=False),
            cuba.Conv(p, 16, 32, 3, stride=2, padding=1, weight_scale=1, delay_shift=False),
            cuba.Flatten(),
            cuba.Dense(p, 32 * 9 * 9, 128, weight_scale=1, delay_shift=False),
            cuba.Dense(p, 128, CLASSES, weight_scale=1, delay_shift=False)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for b in self.blocks:
            x = b(x)
        return x


def batch_data(batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(batch, *IN_SHAPE, STEPS, generator=g) < 0.04).float()
    return x, torch.randint(0, CLASSES, (batch,), generator=g)


def config(method: str) -> TrainConfig:
    return resolved(TrainConfig(dataset="nmnist", arch="conv", method=method,
                                hardware_eval=False))


def make_step(variant: str) -> Callable[[torch.Tensor, torch.Tensor], None]:
    """One optimiser step of ``variant`` (a method, or ``lava-dl``) on a batch."""
    torch.manual_seed(0)
    if variant == "lava-dl":
        model = LavaDlConvNet()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        loss_fx = slayer.loss.SpikeRate(true_rate=0.2, false_rate=0.03, reduction="mean")
        start = None
    else:
        cfg = config(variant)
        method = get_method(variant)
        model = build_model(cfg, method, IN_SHAPE, CLASSES)
        opt = method.optimizer(model, cfg)
        loss_fx = make_loss(cfg)
        method.start_epoch(model, cfg, cfg.beta_warmup + 1)  # the slope asked for

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = loss_fx(model(x), y)
            loss.backward()
            return loss
        if isinstance(opt, SAM):
            opt.step(closure)
        else:
            closure()
            opt.step()
    return step


def interleaved(fns: dict[str, Callable[[], None]], repeats: int) -> dict[str, float]:
    """Median seconds of each function, timed in turn so that drifts hit every one alike."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


@torch.no_grad()
def float_forward(net: IntNetwork, spikes: torch.Tensor) -> torch.Tensor:
    """The same net in float32, stepped through time: each step, each layer's conv or
    matmul, then CUBA current and voltage decay, threshold and reset (the reference an
    emulator has to keep up with)."""
    n, steps = spikes.shape[0], spikes.shape[-1]
    layers = [(lay, torch.as_tensor(lay.weight, dtype=torch.float32) * 2.0 ** lay.weight_exp,
               1 - lay.i_decay / 4096, 1 - lay.v_decay / 4096, float(lay.vth))
              for lay in net.layers]
    u = [torch.zeros(n, *lay.shape) for lay, *_ in layers]
    v = [torch.zeros(n, *lay.shape) for lay, *_ in layers]
    counts = torch.zeros(n, *net.layers[-1].shape)
    for t in range(steps):
        s = spikes[..., t]
        for k, (lay, w, du, dv, vth) in enumerate(layers):
            if lay.kind == "conv":
                a = F.conv2d(s, w, stride=lay.stride, padding=lay.padding)
            else:
                a = s.reshape(n, -1) @ w.T
            u[k] = du * u[k] + a
            v[k] = dv * v[k] + u[k]
            s = (v[k] > vth).float()
            v[k] = v[k] * (1 - s)
        counts += s
    return counts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--samples", type=int, default=64, help="emulated samples per repeat")
    a = p.parse_args()
    torch.set_num_threads(1)

    x, y = batch_data(a.batch)
    steps = {v: make_step(v) for v in ["lava-dl"] + METHODS}
    train = interleaved({v: (lambda s=s: s(x, y)) for v, s in steps.items()}, a.repeats)
    print(f"\nConv training step (2x34x34-16c5s2-32c3s2-128-10, batch {a.batch}, {STEPS} "
          f"steps), median of {a.repeats} interleaved repeats, 1 thread")
    print(f"{'variant':>11} | {'ratio to lava-dl':>16}")
    for v, t in train.items():
        print(f"{v:>11} | {t / train['lava-dl']:>16.2f}")

    with tempfile.TemporaryDirectory() as tmp:
        model = build_model(config("surrogate"), get_method("surrogate"), IN_SHAPE, CLASSES)
        export_network(model, f"{tmp}/net.net", weight_bits=8)
        net = load_int_network(f"{tmp}/net.net")
    xs, _ = batch_data(a.samples)
    fwd = interleaved({"float forward": lambda: float_forward(net, xs),
                       "emulator": lambda: emulate(net, xs)}, a.repeats)
    ratio = fwd["emulator"] / fwd["float forward"]
    print(f"\nConv forward of {a.samples} samples x {STEPS} steps, INT8 net, median of "
          f"{a.repeats} interleaved repeats")
    print(f"{'engine':>13} | {'ratio to float':>14}")
    for k, t in fwd.items():
        print(f"{k:>13} | {t / fwd['float forward']:>14.2f}")

    out = ROOT / "benchmarks" / "results" / "conv_cost.json"
    out.write_text(json.dumps({
        "train_step_ratio_to_lava_dl": {v: t / train["lava-dl"] for v, t in train.items()},
        "emulator_ratio_to_float_forward": ratio,
        "median_seconds": {"train_step": train, "forward": fwd},
        "settings": vars(a)}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
