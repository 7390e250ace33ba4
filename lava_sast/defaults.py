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
#: from the earlier N-MNIST pilot (docs/results-2026-11.md); dense nets take the tuned
#: settings below (TUNED_DEFAULTS) over these.  The surrogate-forward methods train with the fixes of issue 18 (benchmarks/
#: surrogate_collapse.py shows the collapse and each fix): cross-entropy on the output
#: rates, each layer's initial rate calibrated on data, the slope raised from 1 over the
#: first epochs, and Adam's step divided by the slope.
SURROGATE_FORWARD: dict[str, float | str | bool] = {
    "loss": "ce", "init_rate": 0.1, "beta_warmup": 5, "lr_per_slope": True, "lr": 3e-4,
}
METHOD_DEFAULTS: dict[str, dict[str, float | str | bool]] = {
    "sast": {"rho": 0.3},
    "slayer": {"lr": 1e-3, "weight_scale": 1.0},
    "slayer-sam": {"lr": 1e-3, "weight_scale": 1.0, "rho": 0.05},
    "anneal": {"rho": 0.0},
}

#: Defaults per network family and method over METHOD_DEFAULTS.  The surrogate-forward
#: fixes are measured on dense nets (N-MNIST); conv nets keep their earlier recipe (rate
#: loss with a true rate of 0.5, lr 3e-3) until the fixes are measured there.
FAMILY_METHOD_DEFAULTS: dict[str, dict[str, dict[str, float | str | bool]]] = {
    "dense": {"surrogate": dict(SURROGATE_FORWARD), "sast": dict(SURROGATE_FORWARD),
              "anneal": {**SURROGATE_FORWARD, "beta_warmup": 0}},
}

#: Training losses (:mod:`lava_sast.losses`).
LOSSES = ("rate", "ce")

#: Defaults of every method unless the method sets its own (METHOD_DEFAULTS).
TRAINING_DEFAULTS: dict[str, float | str] = {
    "loss": "rate", "logit_scale": 20.0, "clip_grad": 0.0, "init_rate": 0.0, "patience": 0,
    "beta_warmup": 0, "beta_start": 1.0, "lr_per_slope": False, "qat_bits": 0,
    "adaptive": True, "sam_ascent": "same",
}

#: Each method's settings as tuned on N-MNIST (dense nets), rounded to 3 significant
#: digits: 20 Optuna trials per method, 15 epochs at most, validation INT8 accuracy of seed
#: 100 (docs/results.md, "Tuning"):
#:   python -m lava_sast.tune --dataset nmnist --data-dir ../shared/data/nmnist-small
#:     --methods slayer slayer-sam --trials 20 --epochs 15 --patience 4 --val-fraction 0.2
#:     --seed 100 --workers 2 --out runs/tune-nmnist
#: and the same with ``--methods surrogate sast --out runs/tune-nmnist-sf`` (the
#: surrogate-forward search space keeps the cross-entropy loss and the lr per slope).
#: ``slayer`` stays lava-dl's recipe (the bar); its tuned settings are in
#: docs/results/tune-nmnist/best.json (``--config``).  Conv nets are not tuned.
TUNED_DEFAULTS: dict[str, dict[str, dict[str, float | str | bool]]] = {
    "dense": {
        "surrogate": {"threshold": 1.02, "qat_bits": 4, "loss": "ce", "logit_scale": 5.55,
                      "beta": 2.69, "beta_warmup": 4, "init_rate": 0.0681, "lr": 4.60e-4,
                      "lr_per_slope": True},
        "sast": {"threshold": 1.14, "qat_bits": 8, "loss": "ce", "logit_scale": 7.42,
                 "rho": 0.505, "adaptive": False, "sam_ascent": "same", "beta": 2.00,
                 "beta_warmup": 6, "init_rate": 0.247, "lr": 4.19e-3, "lr_per_slope": True},
        "slayer-sam": {"threshold": 1.54, "qat_bits": 0, "loss": "ce", "logit_scale": 33.3,
                       "rho": 0.196, "adaptive": True, "sam_ascent": "same",
                       "weight_scale": 1.19, "lr": 3.45e-4, "tau_grad": 0.0406},
    },
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
