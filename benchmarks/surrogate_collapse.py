"""Why surrogate-forward training collapses, step by step, and what each fix changes.

For each setting (method, slope, loss, learning rate, initialisation, clipping) this
trains the first ``--steps`` steps on N-MNIST through the product's own pieces
(``trainer.build_model``, ``losses.make_loss``, ``trainer.calibrate_init``, the method's
optimiser) and logs, per step and per layer: the loss, the gradient norm, the mean
(smooth) spike rate, the mean membrane relative to threshold, and the *gate*, the mean
sigmoid slope ``beta s (1 - s)`` through which every gradient passes.  A layer whose gate
falls to ~0 has stopped learning.  Prints a table of the last logged step; writes
``benchmarks/results/surrogate_collapse.json``.

    python benchmarks/surrogate_collapse.py --data-dir ../shared/data/nmnist-small
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import torch

from lava_sast.config import TrainConfig, resolved
from lava_sast.device import module_device
from lava_sast.losses import make_loss
from lava_sast.methods import get_method
from lava_sast.trainer import build_model, calibrate_init, load_splits, seed_everything

#: The earlier recipe, every field pinned so that the rows do not move with the defaults.
BEFORE = {"beta": 5.0, "loss": "rate", "lr": 3e-3, "init_rate": 0.0, "clip_grad": 0.0,
          "beta_warmup": 0, "lr_per_slope": False, "threshold": 1.25, "qat_bits": 0,
          "true_rate": 0.2, "false_rate": 0.03, "logit_scale": 20.0}
#: (label, settings over the surrogate method's published defaults): the collapse, then
#: one fix at a time, then the published defaults at beta 10 (slope warm-up off, so the
#: first steps run at beta 10; with it on, they run at beta 1).
SETTINGS = [
    ("before: rate loss, beta 5, lr 3e-3", BEFORE),
    ("+ ce loss", {**BEFORE, "loss": "ce"}),
    ("+ lr per slope (3e-3 / 5)", {**BEFORE, "loss": "ce", "lr_per_slope": True}),
    ("+ calibrated init (rate 0.1)", {**BEFORE, "loss": "ce", "lr_per_slope": True,
                                      "init_rate": 0.1}),
    ("defaults, beta 10, no warm-up", {"beta": 10.0, "beta_warmup": 0}),
    ("defaults, beta 10 (warm-up: beta 1)", {"beta": 10.0}),
]


def layer_stats(model, x: torch.Tensor) -> list[dict[str, float]]:
    """Per weighted layer: mean rate, mean membrane / threshold and mean gate."""
    neurons = model.neurons()
    for n in neurons:
        n.record_voltage = True
    with torch.no_grad():
        model(x)
    stats = []
    for n in neurons:
        v = n.last_voltage
        s = torch.sigmoid(n.beta * (v - n.threshold))
        stats.append({"rate": float(s.mean()), "v_rel": float((v / n.threshold).mean()),
                      "gate": float((n.beta * s * (1 - s)).mean())})
        n.record_voltage = False
        n.last_voltage = None
    return stats


def trace(cfg: TrainConfig, steps: int, every: int) -> list[dict]:
    cfg = resolved(cfg)
    generator = seed_everything(cfg.seed)
    train_set, _, _ = load_splits(cfg)
    method = get_method(cfg.method)
    model = build_model(cfg, method, train_set.spec.input_shape, train_set.num_classes)
    calibrate_init(model, cfg, method, train_set, module_device(model))
    method.start_epoch(model, cfg, 1)
    optimizer = method.optimizer(model, cfg)
    for group in optimizer.param_groups:  # the first epoch's rate, as the trainer sets it
        group["lr"] = cfg.lr * method.lr_factor(cfg, 1)
    loss_fx = make_loss(cfg)
    probe, _ = next(iter(train_set.loader(64)))
    log, step = [], 0
    while step < steps:
        for x, y in train_set.loader(cfg.batch_size, shuffle=True, generator=generator):
            optimizer.zero_grad()
            loss = loss_fx(model(x), y)
            loss.backward()
            if cfg.clip_grad:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad)
            grads = [float(b.synapse.weight.grad.norm()) for b in model.weighted_blocks()]
            if step % every == 0 or step == steps - 1:
                log.append({"step": step, "loss": loss.item(), "grad_norm": grads,
                            "layers": layer_stats(model, probe)})
            if hasattr(optimizer, "first_step"):
                optimizer.step(lambda: (optimizer.zero_grad(), loss_fx(model(x), y).backward()))
            else:
                optimizer.step()
            step += 1
            if step >= steps:
                break
    return log


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default="../shared/data/nmnist-small")
    p.add_argument("--steps", type=int, default=60, help="training steps per setting")
    p.add_argument("--every", type=int, default=5, help="log every this many steps")
    p.add_argument("--out", default="benchmarks/results/surrogate_collapse.json")
    a = p.parse_args(argv)
    base = TrainConfig(dataset="nmnist", data_dir=a.data_dir, method="surrogate", seed=0)
    results = {}
    head = (f"{'setting':38s} {'loss':>6s} | " + " | ".join(
        f"L{i} rate  v/thr   gate  |g|" for i in (1, 2)))
    print(head)
    for label, settings in SETTINGS:
        log = trace(replace(base, **settings), a.steps, a.every)
        results[label] = {"settings": settings, "resolved": {
            k: getattr(resolved(replace(base, **settings)), k)
            for k in ("beta", "lr", "lr_per_slope", "loss", "init_rate", "beta_warmup",
                      "threshold")}, "log": log}
        last = log[-1]
        cells = " | ".join(f"{s['rate']:6.3f} {s['v_rel']:6.2f} {s['gate']:6.3f} {g:5.2g}"
                           for s, g in zip(last["layers"], last["grad_norm"]))
        print(f"{label:38s} {last['loss']:6.3f} | {cells}")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"steps": a.steps, "results": results}, indent=1))
    print(f"wrote {a.out} (every {a.every} steps: loss, per-layer rate, v/threshold, gate, "
          f"gradient norm)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
