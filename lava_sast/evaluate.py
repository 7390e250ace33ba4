"""Accuracy, SynOps and membrane-margin statistics of a SAST network.

Modes: ``surrogate`` (smooth spikes, as trained) and ``hard`` (Heaviside spikes,
same weights: the swap alone).  The hardware-aware INT8/INT4 mode with
fixed-point state lives in :mod:`netx_export.emulate`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional

import torch
from lava.lib.dl.slayer.classifier import Rate
from torch.utils.data import DataLoader, Dataset

from .models import SastNetwork
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

    def as_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
def evaluate(model: SastNetwork, dataset: Dataset, mode: str = "hard",
             batch_size: int = 128, max_samples: Optional[int] = None) -> EvalResult:
    """Evaluate ``model`` in spike ``mode`` on ``dataset`` (restores the mode after)."""
    previous = [n.spike_mode for n in model.neurons()]
    model.set_spike_mode(mode)
    hidden = model.neurons()[:-1]
    for n in hidden:
        n.record_voltage = True
    was_training = model.training
    model.eval()
    correct, total = 0, 0
    synops = torch.zeros(len(model.weighted_blocks()), dtype=torch.float64)
    hist = torch.zeros(HIST_BINS, dtype=torch.float64)
    near, volt_samples = 0, 0
    try:
        for x, y in DataLoader(dataset, batch_size=batch_size):
            if max_samples is not None and total >= max_samples:
                break
            out, inputs = model(x, return_layers=True)
            correct += int((Rate.predict(out) == y).sum())
            total += len(y)
            for i, (b, inp) in enumerate(zip(model.weighted_blocks(), inputs)):
                synops[i] += layer_synops(b, inp).sum().double()
            for n in hidden:
                rel = (n.last_voltage / n.threshold).flatten()
                hist += torch.histc(rel.clamp(*HIST_RANGE), HIST_BINS, *HIST_RANGE).double()
                near += int(((rel - 1).abs() <= NEAR_THRESHOLD).sum())
                volt_samples += rel.numel()
    finally:
        for n, m in zip(model.neurons(), previous):
            n.spike_mode = m
            n.record_voltage = False
            n.last_voltage = None
        model.train(was_training)
    if total == 0:
        raise ValueError("evaluate: the dataset is empty")
    per_layer = (synops / total).tolist()
    return EvalResult(mode=mode, samples=total, accuracy=correct / total,
                      synops_per_sample=float(sum(per_layer)), synops_per_layer=per_layer,
                      near_threshold_fraction=near / max(volt_samples, 1),
                      voltage_hist=(hist / max(hist.sum(), 1)).tolist())
