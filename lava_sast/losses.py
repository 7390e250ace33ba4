"""Training losses, both lava-dl's: ``rate`` (:class:`SpikeRate`, a rate target per
class) and ``ce`` (:class:`SpikeMax` in softmax mode: cross-entropy with the output
spike rates, scaled by ``logit_scale``, as logits).

The rate loss asks every false class for the same low rate: early in training its
gradient pushes all output membranes down at once, and a surrogate-forward net whose
sigmoid tail then carries no gradient stops learning (``benchmarks/surrogate_collapse.py``).
The cross-entropy only moves the outputs against each other.
"""
from __future__ import annotations

import torch
from lava.lib.dl.slayer.loss import SpikeMax, SpikeRate

from .config import TrainConfig


class SpikeCountCE(SpikeMax):
    """lava-dl's :class:`SpikeMax` (softmax mode, mean over the batch) on output spikes
    scaled by ``logit_scale``: the logits are ``logit_scale x`` the spike rates."""

    def __init__(self, logit_scale: float) -> None:
        super().__init__(mode="softmax", reduction="mean")
        self.logit_scale = float(logit_scale)

    def forward(self, input: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        return super().forward(input * self.logit_scale, label)


def make_loss(cfg: TrainConfig) -> torch.nn.Module:
    """The loss of the resolved ``cfg`` (:func:`lava_sast.config.resolved`): ``rate`` or
    ``ce``."""
    if cfg.loss == "ce":
        return SpikeCountCE(cfg.logit_scale)
    return SpikeRate(true_rate=cfg.true_rate, false_rate=cfg.false_rate, reduction="mean")
