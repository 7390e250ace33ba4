"""Accuracy, SynOps and membrane-margin statistics of a SAST network.

Modes: ``surrogate`` (smooth spikes, as trained) and ``hard`` (Heaviside spikes,
same weights: the swap alone).  The hardware-aware INT8/INT4 mode with
fixed-point state lives in :mod:`netx_export.emulate`.

CLI: ``python -m lava_sast.evaluate RUN/checkpoint.pt`` prints surrogate and
hard accuracy and the accuracy with one layer at a time swapped to hard spikes.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from typing import Optional, Sequence

import torch
from lava.lib.dl.slayer.classifier import Rate
from torch.utils.data import Dataset, Subset

from .models import SastNetwork, spike_modes
from .checkpoint import load_checkpoint, network_from_checkpoint
from .cli import add_runtime_args, non_negative_float, positive_int
from .config import TrainConfig, resolved
from .datasets import DatasetError, batches, load_dataset
from .device import module_device, resolve_device
from .losses import make_loss
from .sharpness import sam_sharpness
from .synops import layer_synops

#: membrane potential histogram range, in units of the threshold
HIST_RANGE = (-1.0, 2.0)
HIST_BINS = 120
NEAR_THRESHOLD = 0.1


@dataclass
class EvalResult:
    """Result of :func:`evaluate` over a dataset."""

    mode: str
    samples: int
    accuracy: float
    synops_per_sample: float
    synops_per_layer: list[float]
    near_threshold_fraction: float
    voltage_hist: list[float] = field(default_factory=list)
    hist_range: tuple[float, float] = HIST_RANGE
    predictions: list[int] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
def accuracy(model: SastNetwork, dataset: Dataset, mode: str = "hard",
             batch_size: int = 256) -> float:
    """Classification accuracy of ``model`` in spike ``mode`` (nothing else measured)."""
    correct = total = 0
    device = module_device(model)
    with spike_modes(model, [mode] * len(model.neurons())):
        for x, y in batches(dataset, batch_size):
            x, y = x.to(device), y.to(device)
            correct += int((Rate.predict(model(x)) == y).sum())
            total += len(y)
    if total == 0:
        raise ValueError("accuracy: the dataset is empty")
    return correct / total


@torch.no_grad()
def evaluate(model: SastNetwork, dataset: Dataset, mode: str = "hard",
             batch_size: int = 128, max_samples: Optional[int] = None) -> EvalResult:
    """Evaluate ``model`` in spike ``mode`` on ``dataset`` (restores the mode after)."""
    hidden = model.neurons()[:-1]
    correct, total = 0, 0
    synops = torch.zeros(len(model.weighted_blocks()), dtype=torch.float64)
    hist = torch.zeros(HIST_BINS, dtype=torch.float64)
    near, volt_samples = 0, 0
    predictions: list[int] = []
    labels: list[int] = []
    device = module_device(model)
    with spike_modes(model, [mode] * len(model.neurons())):
        for n in hidden:
            n.record_voltage = True
        for x, y in batches(dataset, batch_size):
            x, y = x.to(device), y.to(device)
            if max_samples is not None and total >= max_samples:
                break
            out, inputs = model(x, return_layers=True)
            pred = Rate.predict(out)
            correct += int((pred == y).sum())
            total += len(y)
            predictions += pred.tolist()
            labels += y.tolist()
            for i, (b, inp) in enumerate(zip(model.weighted_blocks(), inputs)):
                synops[i] += layer_synops(b, inp).sum().double().cpu()
            for n in hidden:
                rel = (n.last_voltage / n.threshold).flatten()
                hist += torch.histc(rel.clamp(*HIST_RANGE), HIST_BINS,
                                    *HIST_RANGE).double().cpu()
                near += int(((rel - 1).abs() <= NEAR_THRESHOLD).sum())
                volt_samples += rel.numel()
    if total == 0:
        raise ValueError("evaluate: the dataset is empty")
    per_layer = (synops / total).tolist()
    return EvalResult(mode=mode, samples=total, accuracy=correct / total,
                      synops_per_sample=float(sum(per_layer)), synops_per_layer=per_layer,
                      near_threshold_fraction=near / max(volt_samples, 1),
                      voltage_hist=(hist / max(hist.sum(), 1)).tolist(),
                      predictions=predictions, labels=labels)


@torch.no_grad()
def single_layer_swap_accuracy(model: SastNetwork, dataset: Dataset,
                               batch_size: int = 128) -> list[float]:
    """Accuracy with only spiking layer ``i`` in hard mode (the others surrogate), for
    each ``i``: which layer's swap to hard spikes costs the accuracy."""
    layers = len(model.neurons())
    accuracies = []
    device = module_device(model)
    for hard in range(layers):
        with spike_modes(model, ["hard" if i == hard else "surrogate" for i in range(layers)]):
            correct = total = 0
            for x, y in batches(dataset, batch_size):
                x, y = x.to(device), y.to(device)
                correct += int((Rate.predict(model(x)) == y).sum())
                total += len(y)
        accuracies.append(correct / max(total, 1))
    return accuracies


@torch.no_grad()
def subthreshold_output_share(model: SastNetwork, dataset: Dataset,
                              batch_size: int = 128) -> list[float]:
    """Per spiking layer, the share of its surrogate output carried by sigmoid
    values below 0.5 (membranes below threshold): the part of the signal that
    hard spikes drop.  Near 1 means the layer computes without spiking."""
    below = torch.zeros(len(model.neurons()))
    total = torch.zeros_like(below)
    device = module_device(model)
    with spike_modes(model, ["surrogate"] * len(below)):
        for x, _ in batches(dataset, batch_size):
            x = x.to(device)
            out, inputs = model(x, return_layers=True)
            outputs = inputs[1:] + [out]
            for i, s in enumerate(outputs):
                below[i] += float(s[s < 0.5].sum())
                total[i] += float(s.sum())
    return (below / total.clamp(min=1e-12)).tolist()


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lava_sast.evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="checkpoint.pt written by lava_sast.train")
    p.add_argument("--data-dir", default=None, help="dataset folder (default: the run's)")
    p.add_argument("--samples", type=positive_int, default=None, help="first N test samples only")
    p.add_argument("--sharpness-rho", type=non_negative_float, default=None, metavar="RHO",
                   help="also report SAM sharpness at radius RHO (adaptive climb, the run's "
                        "loss) on --sharpness-samples training samples spread over the set")
    p.add_argument("--sharpness-samples", type=positive_int, default=256)
    add_runtime_args(p)
    a = p.parse_args(argv)
    try:
        device = resolve_device(a.device)
        state = load_checkpoint(a.checkpoint)
        model = network_from_checkpoint(state, a.checkpoint).to(device)
        if "config" not in state:
            raise ValueError(f"{a.checkpoint} holds no training config")
        cfg = state["config"]
        where = {"cache_dir": a.cache_dir, "download": a.download}
        test = load_dataset(cfg["dataset"], a.data_dir or cfg["data_dir"], "test",
                            cfg["bin_us"], cfg["n_bins"], max_samples=a.samples, **where)
        if a.sharpness_rho is not None:
            train = load_dataset(cfg["dataset"], a.data_dir or cfg["data_dir"], "train",
                                 cfg["bin_us"], cfg["n_bins"],
                                 max_samples=cfg.get("train_samples"),
                                 subset_seed=cfg.get("seed", 0), **where)
            picks = torch.linspace(0, len(train) - 1, min(a.sharpness_samples, len(train)))
            train_part = Subset(train, picks.round().long().unique().tolist())
    except (DatasetError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = {"checkpoint": a.checkpoint, "samples": len(test),
              "surrogate_accuracy": evaluate(model, test, "surrogate").accuracy,
              "hard_accuracy": evaluate(model, test, "hard").accuracy,
              "single_layer_hard_accuracy": single_layer_swap_accuracy(model, test),
              "subthreshold_output_share": subthreshold_output_share(model, test)}
    if a.sharpness_rho is not None:
        result["sam_sharpness"] = sam_sharpness(
            model, train_part, make_loss(resolved(TrainConfig.from_dict(cfg))), a.sharpness_rho).as_dict()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
