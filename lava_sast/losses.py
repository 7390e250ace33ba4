"""Training losses."""
from __future__ import annotations

from lava.lib.dl.slayer.loss import SpikeRate

from .config import TrainConfig, resolved


def rate_loss(cfg: TrainConfig) -> SpikeRate:
    """lava-dl's spike-rate loss with the (resolved) rate targets of ``cfg``."""
    cfg = resolved(cfg)
    return SpikeRate(true_rate=cfg.true_rate, false_rate=cfg.false_rate, reduction="mean")
