"""Training defaults: per network family (dense or conv) and per training method.

Dense nets use lava-dl's N-MNIST recipe where it defines the net: threshold 1.25,
rate targets 0.2 / 0.03.  Conv nets: with weight_scale 2 the 2048-input hidden
layer starts saturated and the rate loss stalls at chance; weight_scale 0.5
starts near threshold, and beta 5 keeps the sigmoid's resting output below the
false rate.  A true rate of 0.2 is reachable by a sigmoid *below* threshold
(v = 0.72 gives 0.2 at beta 5): conv nets then classify with output neurons that
never cross threshold and fall to a coin toss after the swap to hard spikes; a
true rate of 0.5 needs membranes at threshold, i.e. real spikes.
"""
from __future__ import annotations

#: Defaults that depend on the kind of network a dataset gets.
FAMILY_DEFAULTS: dict[str, dict[str, float]] = {
    "dense": {"beta": 1.0, "lr": 3e-3, "weight_scale": 2.0, "true_rate": 0.2,
              "false_rate": 0.03, "threshold": 1.25},
    "conv": {"beta": 5.0, "lr": 3e-3, "weight_scale": 0.5, "true_rate": 0.5,
             "false_rate": 0.03, "threshold": 1.0},
}

#: Defaults a training method sets over the family's: the SLAYER recipe as lava-dl's
#: NMNIST tutorial trains it (Adam 1e-3; ``slayer.block.cuba.Dense``'s own initial
#: weight scale 1; tau_grad 0.03 and scale_grad 3 below), and each SAM method's radius
#: as chosen on validation accuracy in the N-MNIST pilot (docs/results.md).
METHOD_DEFAULTS: dict[str, dict[str, float]] = {
    "sast": {"rho": 0.3},
    "slayer": {"lr": 1e-3, "weight_scale": 1.0},
    "slayer-sam": {"lr": 1e-3, "weight_scale": 1.0, "rho": 0.05},
    "anneal": {"rho": 0.0},
}

#: SLAYER's surrogate gradient of the hard spike (used when the forward pass is hard).
SLAYER_GRADIENT = {"tau_grad": 0.03, "scale_grad": 3.0}

#: How far ``anneal`` raises the sigmoid slope by default: ``beta_end = 10 * beta``.
ANNEAL_FACTOR = 10.0

#: Training methods (:mod:`lava_sast.methods`) and their aliases.
METHOD_NAMES = ("surrogate", "sast", "slayer", "slayer-sam", "anneal")
METHOD_ALIASES = {"baseline": "surrogate"}
#: Methods whose training takes a SAM radius (``anneal`` only when ``rho > 0``).
SAM_METHODS = ("sast", "slayer-sam", "anneal")
