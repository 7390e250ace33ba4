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

import math
from typing import Any, Optional

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
        """Surrogate slope used in ``epoch`` (1-based): with ``beta_warmup = k``, raised
        geometrically from ``beta_start`` in epoch 1 to ``beta`` in epoch ``k + 1``."""
        if cfg.beta_warmup and epoch <= cfg.beta_warmup and self.spike_mode == "surrogate":
            frac = (epoch - 1) / cfg.beta_warmup
            return float(cfg.beta_start * (cfg.beta / cfg.beta_start) ** frac)
        return cfg.beta

    def warmup_epochs(self, cfg: TrainConfig) -> int:
        """Epochs of slope warm-up: not candidates for the reported net (their slope is not
        the one asked for) and not counted by ``--patience``."""
        if self.spike_mode != "surrogate" or not cfg.beta_warmup:
            return 0
        return min(cfg.beta_warmup, cfg.epochs - 1)

    def lr_factor(self, cfg: TrainConfig, epoch: int) -> float:
        """Multiplier of ``cfg.lr`` in ``epoch`` (1-based): the cosine schedule, and for a
        surrogate forward with ``lr_per_slope`` one over the epoch's slope (Adam moves
        every weight by about lr a step, so the change of ``beta (v - theta)`` it causes
        grows with beta; dividing by beta makes it the same at every slope)."""
        factor = 1.0
        if cfg.lr_schedule == "cosine":
            factor *= 0.5 * (1 + math.cos(math.pi * (epoch - 1) / cfg.epochs))
        if cfg.lr_per_slope and self.spike_mode == "surrogate":
            factor /= self.beta_at(cfg, epoch)
        return factor

    def start_epoch(self, model: SastNetwork, cfg: TrainConfig, epoch: int) -> None:
        model.set_beta(self.beta_at(cfg, epoch))
        model.set_spike_mode(self.spike_mode)

    def search_space(self, trial: Any) -> dict[str, Any]:
        """Settings of one tuning trial, drawn from an Optuna ``trial``
        (:mod:`lava_sast.tune`): the options shared by every method, then the method's."""
        settings: dict[str, Any] = {
            "threshold": trial.suggest_float("threshold", 0.75, 2.0),
            "qat_bits": {"none": 0, "8": 8, "4": 4}[
                trial.suggest_categorical("qat_bits", ["none", "8", "4"])],
            # a surrogate forward keeps the loss that trains at every slope (the rate loss
            # collapses it at steep slopes: benchmarks/surrogate_collapse.py)
            "loss": (trial.suggest_categorical("loss", ["rate", "ce"])
                     if self.spike_mode == "hard" else "ce"),
        }
        if settings["loss"] == "rate":
            settings["true_rate"] = trial.suggest_float("true_rate", 0.1, 0.5)
            settings["false_rate"] = trial.suggest_float("false_rate", 0.01, 0.08)
        else:
            settings["logit_scale"] = trial.suggest_float("logit_scale", 5.0, 40.0, log=True)
        if self.uses_sam:
            settings["rho"] = trial.suggest_float("rho", 0.01, 1.0, log=True)
            settings["adaptive"] = trial.suggest_categorical("sam", ["adaptive", "standard"]
                                                             ) == "adaptive"
            settings["sam_ascent"] = trial.suggest_categorical("sam_ascent",
                                                               ["same", "independent"])
        return {**settings, **self.own_search_space(trial)}

    def own_search_space(self, trial: Any) -> dict[str, Any]:
        """The surrogate forward's own options: slope, warm-up, initial rate, lr (per unit
        slope: Adam's step is lr / beta)."""
        return {
            "beta": trial.suggest_float("beta", 1.0, 10.0, log=True),
            "beta_warmup": trial.suggest_int("beta_warmup", 0, 6),
            "init_rate": trial.suggest_float("init_rate", 0.02, 0.3, log=True),
            "lr": trial.suggest_float("lr", 3e-4, 1e-2, log=True),  # divided by beta:
            "lr_per_slope": True,  # the same step in beta (v - theta) at every slope
        }


class Surrogate(Method):
    name = "surrogate"


class Sast(Method):
    name = "sast"
    uses_sam = True


class Slayer(Method):
    name = "slayer"
    spike_mode = "hard"
    weight_hook = "slayer8"

    def own_search_space(self, trial: Any) -> dict[str, Any]:
        """SLAYER's own options: initial weight scale, lr, surrogate-gradient width."""
        return {
            "weight_scale": trial.suggest_float("weight_scale", 0.5, 4.0, log=True),
            "lr": trial.suggest_float("lr", 1e-4, 3e-3, log=True),
            "tau_grad": trial.suggest_float("tau_grad", 0.01, 0.3, log=True),
        }


class SlayerSam(Slayer):
    name = "slayer-sam"
    uses_sam = True


class Anneal(Method):  # not tuned: its slope schedule is beta_warmup's special case
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
