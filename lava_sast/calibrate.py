"""Data-calibrated initialisation: scale each layer's initial weights so that its mean
spike rate on a batch of training data is a chosen target.

SLAYER initialises weights with a fixed ``weight_scale``; how far the membranes then
sit from threshold depends on the data, the fan-in, the threshold and, for a smooth
spike ``sigmoid(beta (v - theta))``, on the slope.  Calibrating layer by layer, input
to output (the LSUV idea applied to spike rates), starts every layer in its working
range whatever those settings are.
"""
from __future__ import annotations

import math

import torch

from .layers import kind_of
from .models import SastNetwork


def _rate(b: torch.nn.Module, x: torch.Tensor) -> float:
    """Share of (neuron, step) membranes above threshold: the hard spike rate in hard
    mode; in surrogate mode the same crossing rate, whatever the slope (a smooth spike
    never falls below ``sigmoid(-beta theta)``, 0.22 at beta 1, so its mean is no target)."""
    n = b.neuron
    n.record_voltage = True
    try:
        b(x)
        return float((n.last_voltage > n.threshold).float().mean())
    finally:
        n.record_voltage = False
        n.last_voltage = None


@torch.no_grad()
def calibrate_rates(model: SastNetwork, x: torch.Tensor, target: float,
                    steps: int = 24) -> list[float]:
    """Scale the weights of every weighted block of ``model`` (in its current spike
    modes) so that the share of its membranes above threshold on input ``x``
    ``[N, C, H, W, T]`` is ``target``; returns the factor applied to each block.  Bisection on the log of
    the factor, within ``[1/64, 64]``; the rate grows with the factor."""
    if not 0 < target < 1:
        raise ValueError(f"target rate must be in (0, 1), got {target}")
    was_training = model.training
    model.eval()
    factors = []
    h = x if model.conv_input else x.reshape(x.shape[0], -1, x.shape[-1])
    try:
        for b in model.blocks:
            if hasattr(b, "synapse"):
                ws = [s.weight for s in kind_of(b).synapses(b)]  # a recurrent layer's two
                bases = [w.detach().clone() for w in ws]
                lo, hi = math.log(1 / 64), math.log(64)
                for _ in range(steps):
                    mid = (lo + hi) / 2
                    for w, base in zip(ws, bases):
                        w.copy_(base * math.exp(mid))
                    if _rate(b, h) < target:
                        lo = mid
                    else:
                        hi = mid
                factor = math.exp((lo + hi) / 2)
                for w, base in zip(ws, bases):
                    w.copy_(base * factor)
                factors.append(factor)
            h = b(h)
    finally:
        model.train(was_training)
    return factors
