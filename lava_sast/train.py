"""Training CLI: ``python -m lava_sast.train`` (no arguments: embedded default).

Trains a surrogate-forward SNN, plain (``--method baseline``) or with SAM
(``--method sast``), then measures how much accuracy survives the swap to
hard spikes and to 8/4-bit fixed-point deployment.  Writes into ``--out``:
``checkpoint.pt`` (atomic, ``--resume`` continues), ``network.net`` (NetX
hdf5) and ``report.json``.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch
from lava.lib.dl.slayer.classifier import Rate
from lava.lib.dl.slayer.loss import SpikeRate
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from . import block
from .checkpoint import load_checkpoint, save_atomic, write_json_atomic
from .datasets import DATASETS, DEFAULT_DATASET, DatasetError, load_dataset
from .evaluate import evaluate
from .models import (FAMILY_DEFAULTS, SastNetwork, check_arch_options, default_arch,
                     network_family)
from .sam import SAM

CHECKPOINT, NETWORK, REPORT = "checkpoint.pt", "network.net", "report.json"


class TrainingError(RuntimeError):
    """Training cannot go on (for example a non-finite loss)."""


@dataclass
class TrainConfig:
    """Every training setting; saved in the checkpoint and the report."""

    dataset: str = DEFAULT_DATASET
    data_dir: Optional[str] = None
    method: str = "sast"
    rho: float = 0.3
    adaptive: bool = True
    climb_every: int = 1
    sam_layerwise: bool = False
    sam_layers: str = "all"  # "all", "dense" or "conv": which layers SAM's climb perturbs
    beta: Optional[float] = None  # default: per network family (models.FAMILY_DEFAULTS)
    epochs: int = 20
    batch_size: int = 32
    lr: Optional[float] = None  # default: per network family
    weight_scale: Optional[float] = None  # default: per network family
    seed: int = 0
    hidden: Optional[int] = None
    conv_channels: Optional[tuple[int, int]] = None  # default: models.CONV_CHANNELS
    bin_us: Optional[int] = None
    n_bins: Optional[int] = None
    train_samples: Optional[int] = None
    test_samples: Optional[int] = None
    true_rate: Optional[float] = None  # default: per network family
    false_rate: Optional[float] = None  # default: per network family
    hardware_eval: bool = True
    out: str = "runs/default"

    def __post_init__(self) -> None:
        if self.conv_channels is not None:  # a CLI list or a JSON list: one canonical form
            self.conv_channels = tuple(self.conv_channels)

    @property
    def effective_rho(self) -> float:
        return self.rho if self.method == "sast" else 0.0


def with_family_defaults(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` with every unset (None) ``beta``/``lr``/``weight_scale``/rate
    target filled in from the defaults of the dataset's network family."""
    defaults = FAMILY_DEFAULTS[network_family(cfg.dataset)]
    return replace(cfg, **{k: v for k, v in defaults.items() if getattr(cfg, k) is None})


def check_config(cfg: TrainConfig) -> None:
    """Raise ``ValueError`` unless the (resolved) rate targets satisfy
    ``0 <= false_rate < true_rate <= 1`` and the architecture options are valid;
    called before anything is written."""
    cfg = with_family_defaults(cfg)
    check_arch_options(cfg.hidden, cfg.conv_channels)
    if not 0.0 <= cfg.false_rate < cfg.true_rate <= 1.0:
        raise ValueError(f"rate targets must satisfy 0 <= false rate < true rate <= 1, got "
                         f"false rate {cfg.false_rate} and true rate {cfg.true_rate}")


def climbing_parameters(model: SastNetwork, layers: str) -> Optional[list[torch.Tensor]]:
    """Parameters SAM perturbs: all (``None``), or those of the dense or conv blocks only."""
    if layers == "all":
        return None
    kinds = {"dense": block.Dense, "conv": block.Conv}
    if layers not in kinds:
        raise ValueError(f"sam_layers must be 'all', 'dense' or 'conv', got {layers!r}")
    return [p for b in model.weighted_blocks() if isinstance(b, kinds[layers])
            for p in b.parameters()]


def rate_loss(cfg: TrainConfig) -> SpikeRate:
    """lava-dl's spike-rate loss with the (resolved) rate targets of ``cfg``."""
    cfg = with_family_defaults(cfg)
    return SpikeRate(true_rate=cfg.true_rate, false_rate=cfg.false_rate, reduction="mean")


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def build_model(cfg: TrainConfig, input_shape: Sequence[int], num_classes: int) -> SastNetwork:
    arch = default_arch(cfg.dataset, input_shape, num_classes, cfg.hidden, cfg.conv_channels)
    cfg = with_family_defaults(cfg)
    return SastNetwork(arch, input_shape, beta=cfg.beta, weight_scale=cfg.weight_scale)


def train_epoch(model: SastNetwork, loader: DataLoader, optimizer: SAM,
                loss_fx: torch.nn.Module, epoch: int) -> dict[str, float]:
    """One epoch of surrogate-forward training; raises on a non-finite loss."""
    model.train()
    model.set_spike_mode("surrogate")
    total_loss, correct, seen = 0.0, 0, 0
    bar = tqdm(loader, desc=f"epoch {epoch}", leave=False, mininterval=1.0)
    for batch, (x, y) in enumerate(bar):
        out_holder: dict[str, torch.Tensor] = {}

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            out = model(x)
            loss = loss_fx(out, y)
            if not torch.isfinite(loss):
                raise TrainingError(f"non-finite loss ({loss.item()}) at epoch {epoch}, "
                                    f"batch {batch}")
            loss.backward()
            out_holder.setdefault("out", out.detach())
            return loss

        loss = optimizer.step(closure)
        total_loss += float(loss.detach()) * len(y)
        correct += int((Rate.predict(out_holder["out"]) == y).sum())
        seen += len(y)
        bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.3f}")
    return {"train_loss": total_loss / seen, "train_accuracy": correct / seen}


def _report(cfg: TrainConfig, model: SastNetwork, test, history: list[dict],
            epoch_seconds: list[float], out: Path) -> dict[str, Any]:
    sur = evaluate(model, test, "surrogate")
    hard = evaluate(model, test, "hard")
    report: dict[str, Any] = {
        "method": cfg.method, "rho": cfg.effective_rho, "dataset": cfg.dataset,
        "epochs": len(history), "seed": cfg.seed, "beta": cfg.beta,
        "surrogate_accuracy": sur.accuracy, "hard_accuracy": hard.accuracy,
        "transfer_gap": 100.0 * (sur.accuracy - hard.accuracy),
        "hard_synops_per_sample": hard.synops_per_sample,
        "hard_synops_per_layer": hard.synops_per_layer,
        "surrogate_synops_per_sample": sur.synops_per_sample,
        "near_threshold_fraction": hard.near_threshold_fraction,
        "hard_voltage_hist": hard.voltage_hist, "hist_range": list(hard.hist_range),
        "seconds_per_epoch": float(np.mean(epoch_seconds)) if epoch_seconds else None,
        "test_samples": sur.samples, "history": history, "config": asdict(cfg),
    }
    if cfg.hardware_eval:
        from netx_export.hardware_eval import hardware_metrics
        report.update(hardware_metrics(model, test, out))
    return report


def train(cfg: TrainConfig, resume: bool = False) -> dict[str, Any]:
    """Train per ``cfg``; write checkpoint, network and report; return the report."""
    check_config(cfg)  # before anything is written
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / CHECKPOINT
    state = load_checkpoint(ckpt_path) if resume and ckpt_path.exists() else None
    if state is not None:  # the run's own settings win; only --epochs may grow
        cfg = TrainConfig(**{**state["config"], "epochs": cfg.epochs, "out": cfg.out})
    cfg = with_family_defaults(cfg)
    generator = seed_everything(cfg.seed)
    train_set = load_dataset(cfg.dataset, cfg.data_dir, "train", cfg.bin_us, cfg.n_bins,
                             max_samples=cfg.train_samples)
    test_set = load_dataset(cfg.dataset, cfg.data_dir, "test", cfg.bin_us, cfg.n_bins,
                            max_samples=cfg.test_samples)
    model = build_model(cfg, train_set.spec.input_shape, train_set.num_classes)
    base = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    optimizer = SAM(base, rho=cfg.effective_rho, adaptive=cfg.adaptive,
                    climb_every=cfg.climb_every, layerwise=cfg.sam_layerwise,
                    climb_only=climbing_parameters(model, cfg.sam_layers))
    loss_fx = rate_loss(cfg)
    history: list[dict] = []
    epoch_seconds: list[float] = []
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history, epoch_seconds = state["history"], state["epoch_seconds"]
        torch.set_rng_state(state["torch_rng"])
        generator.set_state(state["loader_rng"])
        print(f"resuming from {ckpt_path} after epoch {len(history)}")
    loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True,
                        generator=generator)
    for epoch in range(len(history) + 1, cfg.epochs + 1):
        start = time.perf_counter()
        stats = train_epoch(model, loader, optimizer, loss_fx, epoch)
        epoch_seconds.append(time.perf_counter() - start)
        history.append({"epoch": epoch, **stats})
        save_atomic({"config": asdict(cfg), "model_config": model.config,
                     "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "history": history, "epoch_seconds": epoch_seconds,
                     "torch_rng": torch.get_rng_state(),
                     "loader_rng": generator.get_state()}, ckpt_path)
        print(f"epoch {epoch}/{cfg.epochs}: loss {stats['train_loss']:.4f} "
              f"train acc {stats['train_accuracy']:.3f} ({epoch_seconds[-1]:.1f} s)")
    model.export_hdf5(out / NETWORK)
    report = _report(cfg, model, test_set, history, epoch_seconds, out)
    write_json_atomic(out / REPORT, report)
    return report


def parse_args(argv: Optional[Sequence[str]] = None) -> tuple[TrainConfig, bool]:
    d = TrainConfig()
    p = argparse.ArgumentParser(prog="python -m lava_sast.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", choices=sorted(DATASETS), default=d.dataset)
    p.add_argument("--data-dir", default=None, help="local dataset folder (never downloaded)")
    p.add_argument("--method", choices=["baseline", "sast"], default=d.method,
                   help="baseline: plain Adam; sast: SAM around Adam")
    p.add_argument("--rho", type=float, default=d.rho, help="SAM radius (sast only)")
    p.add_argument("--sam", choices=["adaptive", "standard"], default="adaptive",
                   help="adaptive SAM (rho relative to each weight, default) or "
                        "standard SAM (rho absolute)")
    p.add_argument("--sam-layerwise", action="store_true",
                   help="normalise the SAM climb per layer instead of over the whole net")
    p.add_argument("--sam-layers", choices=["all", "dense", "conv"], default=d.sam_layers,
                   help="layers SAM's climb perturbs (dense/conv: leave the others unperturbed)")
    p.add_argument("--climb-every", type=int, default=d.climb_every,
                   help="recompute the SAM ascent direction every k steps (cheaper SAST)")
    p.add_argument("--beta", type=float, default=None,
                   help="surrogate sigmoid slope (default 1 dense nets, 5 conv nets)")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=None,
                   help="Adam learning rate (default 3e-3)")
    p.add_argument("--weight-scale", type=float, default=None,
                   help="SLAYER initial weight scale (default 2 dense nets, 0.5 conv nets)")
    p.add_argument("--true-rate", type=float, default=None,
                   help="spike-rate target of the true class (default 0.2 dense nets, 0.5 conv nets)")
    p.add_argument("--false-rate", type=float, default=None,
                   help="spike-rate target of the other classes (default 0.03)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--hidden", type=int, default=None,
                   help="hidden dense layer width (0: none, the output reads the last conv layer)")
    p.add_argument("--conv-channels", type=int, nargs=2, default=None, metavar=("C1", "C2"),
                   help="output channels of the two conv layers (conv nets; default 16 32)")
    p.add_argument("--bin-us", type=int, default=None, help="time bin in microseconds")
    p.add_argument("--n-bins", type=int, default=None, help="time bins per sample")
    p.add_argument("--train-samples", type=int, default=None)
    p.add_argument("--test-samples", type=int, default=None)
    p.add_argument("--no-hardware-eval", dest="hardware_eval", action="store_false",
                   help="skip INT8/INT4 emulator evaluation")
    p.add_argument("--out", default=d.out, help="output folder")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    args = vars(p.parse_args(argv))
    resume = args.pop("resume")
    args["adaptive"] = args.pop("sam") == "adaptive"
    return TrainConfig(**args), resume


def main(argv: Optional[Sequence[str]] = None) -> int:
    cfg, resume = parse_args(argv)
    try:
        report = train(cfg, resume)
    except (DatasetError, TrainingError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    keys = ["surrogate_accuracy", "hard_accuracy", "transfer_gap", "int8_accuracy",
            "int4_accuracy", "hard_synops_per_sample", "near_threshold_fraction"]
    print(json.dumps({k: report[k] for k in keys if k in report}, indent=2))
    print(f"wrote {cfg.out}/{CHECKPOINT}, {NETWORK}, {REPORT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
