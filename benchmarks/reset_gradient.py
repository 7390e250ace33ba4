"""The soft reset's gradient at steep slopes: ``--reset-grad exact`` against ``detached``.

The smooth spike's soft reset ``w = v (1 - s)`` has the exact gradient
``dw/dv = 1 - s - beta v s (1 - s)``, whose size passes 1 near threshold once
``beta * threshold`` exceeds about 6: the gradient then grows step by step back through
time.  ``detached`` keeps the forward pass and leaves the reset's slope out of the gradient
(``dw/dv = 1 - s``).  For each slope and each reset gradient this measures, on the conv net
of ``docs/results.md`` (``--conv-channels 8 16``):

- each weighted layer's gradient norm on one batch at the calibrated start;
- a short training run: training accuracy (smooth spikes) and validation accuracy (hard
  spikes) per epoch, with Adam's step the same in ``beta (v - theta)`` at every slope.

Everything is drawn from the tuning block (``--tuning-block``): no sample a study scores.
Prints a table and writes ``benchmarks/results/reset_gradient.json``::

    python benchmarks/reset_gradient.py --data-dir ../shared/data/nmnist-small
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lava_sast.atomic import write_json_atomic  # noqa: E402
from lava_sast.config import TrainConfig, resolve  # noqa: E402
from lava_sast.device import module_device  # noqa: E402
from lava_sast.losses import make_loss  # noqa: E402
from lava_sast.methods import get_method  # noqa: E402
from lava_sast.neuron import RESET_GRADS  # noqa: E402
from lava_sast.trainer import (build_model, calibrate_init, load_splits,  # noqa: E402
                               seed_everything, train)


def start_gradients(cfg: TrainConfig) -> list[float]:
    """Each weighted layer's gradient norm on the first training batch, at the start."""
    seed_everything(cfg.seed)
    train_set, _, _ = load_splits(cfg)
    method = get_method(cfg.method)
    model = build_model(cfg, method, train_set.spec.input_shape, train_set.num_classes)
    calibrate_init(model, cfg, method, train_set, module_device(model))
    method.start_epoch(model, cfg, 1)
    x, y = next(iter(train_set.loader(cfg.batch_size)))
    make_loss(cfg)(model(x), y).backward()
    return [float(b.synapse.weight.grad.norm()) for b in model.weighted_blocks()]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared/data/nmnist-small"))
    p.add_argument("--betas", type=float, nargs="+", default=[2.0, 5.0, 10.0, 20.0])
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--lr", type=float, default=1e-3,
                   help="Adam's step at beta 1 (divided by the slope)")
    p.add_argument("--tuning-block", type=float, default=0.4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(ROOT / "benchmarks/results/reset_gradient.json"))
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    base = TrainConfig(dataset="nmnist", data_dir=a.data_dir, method="surrogate",
                       arch="conv", conv_channels=(8, 16), loss="ce", qat_bits=0,
                       init_rate=0.05, beta_warmup=0, lr_per_slope=True, epochs=a.epochs,
                       tuning_block=a.tuning_block, part="tuning", val_fraction=0.25,
                       seed=a.seed, hardware_eval=False, quiet=True)
    rows = []
    print(f"{'beta':>5s} {'reset':9s} | {'|grad| per layer at the start':36s} | "
          f"train acc / val hard acc per epoch")
    with tempfile.TemporaryDirectory() as tmp:
        for beta in a.betas:
            for mode in RESET_GRADS:
                cfg = resolve(replace(base, beta=beta, reset_grad=mode, lr=a.lr * beta,
                                      out=str(Path(tmp) / f"b{beta:g}-{mode}")))
                grads = start_gradients(cfg)
                report = train(cfg)
                hist = [(h["train_accuracy"], h["val_hard_accuracy"]) for h in report["history"]]
                rows.append({"beta": beta, "reset_grad": mode, "start_grad_norm": grads,
                             "history": [{"train_accuracy": t, "val_hard_accuracy": v}
                                         for t, v in hist]})
                g = " ".join(f"{x:8.3g}" for x in grads)
                h = " ".join(f"{100 * t:.0f}/{100 * v:.0f}" for t, v in hist)
                print(f"{beta:5g} {mode:9s} | {g:36s} | {h}", flush=True)
    settings = {k: v for k, v in vars(a).items() if k not in ("data_dir", "out")}
    write_json_atomic(Path(a.out), {"settings": settings, "rows": rows})
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
