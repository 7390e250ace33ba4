"""Training methods as small strategies: what the forward pass runs, which weight
hook the synapses train through, which optimiser steps, and what changes per epoch.

==============  =================  ==============  ======================================
method          forward (training)  weight hook     optimiser
==============  =================  ==============  ======================================
``surrogate``   smooth sigmoid      clamp           Adam (alias ``baseline``)
``sast``        smooth sigmoid      clamp           SAM around Adam (the paper's SAST)
``slayer``      hard spikes         SLAYER 8-bit    Adam: lava-dl's standard recipe
``slayer-sam``  hard spikes         SLAYER 8-bit    SAM around Adam, on the net that deploys
``anneal``      smooth sigmoid,     clamp           Adam, or SAM when ``rho > 0``
                beta raised per
                epoch to beta_end
==============  =================  ==============  ======================================

``--qat-bits 8|4`` replaces any method's hook with the exporter's own per-layer
power-of-two quantiser (straight-through), so the INT8/INT4 deployment is trained for.
"""
from __future__ import annotations

from typing import Optional

import torch

from .config import TrainConfig
from .defaults import METHOD_ALIASES, METHOD_NAMES
from . import block
from .models import SastNetwork
from .sam import SAM


def climbing_parameters(model: SastNetwork, layers: str) -> Optional[list[torch.Tensor]]:
    """Parameters SAM perturbs: all (``None``), or those of the dense or conv blocks only."""
    if layers == "all":
        return None
    kinds = {"dense": block.Dense, "conv": block.Conv}
    if layers not in kinds:
        raise ValueError(f"sam_layers must be 'all', 'dense' or 'conv', got {layers!r}")
    return [p for b in model.weighted_blocks() if isinstance(b, kinds[layers])
            for p in b.parameters()]


def sam_optimizer(model: SastNetwork, cfg: TrainConfig) -> SAM:
    """SAM around Adam with ``cfg``'s options; parameters outside ``--sam-layers`` form a
    group that does not climb."""
    climbing = climbing_parameters(model, cfg.sam_layers)
    if climbing is None:
        groups = [{"params": list(model.parameters())}]
    else:
        ids = {id(p) for p in climbing}
        groups = [{"params": climbing},
                  {"params": [p for p in model.parameters() if id(p) not in ids],
                   "climb": False}]
    return SAM(groups, torch.optim.Adam, rho=cfg.rho, adaptive=cfg.adaptive,
               layerwise=cfg.sam_layerwise, climb_every=cfg.climb_every, lr=cfg.lr)


class Method:
    """The surrogate-forward recipe; subclasses change one thing each."""

    name = "surrogate"
    spike_mode = "surrogate"   # forward pass during training
    weight_hook = "clamp"      # synapse pre-hook during training (before --qat-bits)
    uses_sam = False

    def hook(self, cfg: TrainConfig) -> str:
        """Weight hook the model trains (and is evaluated) through."""
        return f"qat{cfg.qat_bits}" if cfg.qat_bits else self.weight_hook

    def optimizer(self, model: SastNetwork, cfg: TrainConfig) -> torch.optim.Optimizer:
        if self.uses_sam and cfg.rho > 0:
            return sam_optimizer(model, cfg)
        return torch.optim.Adam(model.parameters(), lr=cfg.lr)

    def beta_at(self, cfg: TrainConfig, epoch: int) -> float:
        """Surrogate slope used in ``epoch`` (1-based)."""
        return cfg.beta

    def start_epoch(self, model: SastNetwork, cfg: TrainConfig, epoch: int) -> None:
        model.set_beta(self.beta_at(cfg, epoch))
        model.set_spike_mode(self.spike_mode)


class Surrogate(Method):
    name = "surrogate"


class Sast(Method):
    name = "sast"
    uses_sam = True


class Slayer(Method):
    name = "slayer"
    spike_mode = "hard"
    weight_hook = "slayer8"


class SlayerSam(Slayer):
    name = "slayer-sam"
    uses_sam = True


class Anneal(Method):
    """Geometric schedule from ``beta`` (first epoch) to ``beta_end`` (last epoch)."""

    name = "anneal"
    uses_sam = True  # only when rho > 0

    def beta_at(self, cfg: TrainConfig, epoch: int) -> float:
        if cfg.epochs <= 1:
            return cfg.beta_end
        frac = (min(epoch, cfg.epochs) - 1) / (cfg.epochs - 1)
        return float(cfg.beta * (cfg.beta_end / cfg.beta) ** frac)


METHODS: dict[str, Method] = {m.name: m for m in (Surrogate(), Sast(), Slayer(), SlayerSam(),
                                                  Anneal())}
assert tuple(METHODS) == METHOD_NAMES


def get_method(name: str) -> Method:
    """The strategy called ``name`` (or an alias such as ``baseline``)."""
    name = METHOD_ALIASES.get(name, name)
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose from {list(METHODS)}")
    return METHODS[name]
