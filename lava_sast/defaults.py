"""The two tables of defaults that do not belong to one training method.

A run's settings resolve in this order, the later winning (:func:`lava_sast.config.resolved`):

1. :data:`FAMILY_DEFAULTS` of the dataset's network family (dense or conv);
2. :data:`COMMON_DEFAULTS`, every method's;
3. the method's own defaults, then its defaults for the network family, which may load a
   tuned preset (:class:`lava_sast.methods.Method`, :mod:`lava_sast.presets`);
4. ``--config`` (a preset name or a ``best.json``), then the command line.

Dense nets use lava-dl's N-MNIST recipe where it defines the net: threshold 1.25, rate
targets 0.2 / 0.03.  Conv nets: with weight_scale 2 the 2048-input hidden layer starts
saturated and the rate loss stalls at chance; weight_scale 0.5 starts near threshold, and
beta 5 keeps the sigmoid's resting output below the false rate.  A true rate of 0.2 is
reachable by a sigmoid *below* threshold (v = 0.72 gives 0.2 at beta 5): conv nets then
classify with output neurons that never cross threshold and fall to a coin toss after the
swap to hard spikes; a true rate of 0.5 needs membranes at threshold, i.e. real spikes.
"""
from __future__ import annotations

#: Defaults that depend on the kind of network a dataset gets.
FAMILY_DEFAULTS: dict[str, dict[str, float]] = {
    "dense": {"beta": 1.0, "lr": 3e-3, "weight_scale": 2.0, "true_rate": 0.2,
              "false_rate": 0.03, "threshold": 1.25},
    "conv": {"beta": 5.0, "lr": 3e-3, "weight_scale": 0.5, "true_rate": 0.5,
             "false_rate": 0.03, "threshold": 1.0},
}

#: Defaults of every method unless the method sets its own: SLAYER's surrogate gradient of
#: the hard spike (``tau_grad``, ``scale_grad``), no SAM, lava-dl's rate loss, no fixes.
COMMON_DEFAULTS: dict[str, float | str | bool] = {
    "tau_grad": 0.03, "scale_grad": 3.0, "rho": 0.0,
    "loss": "rate", "logit_scale": 20.0, "clip_grad": 0.0, "init_rate": 0.0, "patience": 0,
    "beta_warmup": 0, "beta_start": 1.0, "lr_per_slope": False, "qat_bits": 0,
    "adaptive": True, "sam_ascent": "same", "reset_grad": "exact",
}

#: Training losses (:mod:`lava_sast.losses`).
LOSSES = ("rate", "ce")
