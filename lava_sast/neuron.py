"""CUBA-LIF neuron with a spike-mode switch, built on ``slayer.neuron.cuba``.

``hard`` mode is exactly lava-dl SLAYER's CUBA neuron: fixed-point state on
Loihi's 1/4096 grid, Heaviside spike, reset to zero (what Loihi 2 and Lava's
bit-accurate ``LIF`` run).  ``surrogate`` mode runs the same leaky dynamics
with the *smooth* spike ``s = sigmoid(beta * (v - theta))`` in the forward pass
and the matching soft reset ``v <- v * (1 - s)``, so autograd computes the exact
gradient of what is simulated.  Switching mode changes nothing else: weights,
threshold, decays and reset rule ``v <- v(1 - s)`` stay.
"""
from __future__ import annotations

from typing import Optional

import torch
from lava.lib.dl.slayer.neuron import cuba
from lava.lib.dl.slayer.utils import quantize

from .dynamics import surrogate_cuba, surrogate_cuba_reference

SPIKE_MODES = ("surrogate", "hard")
#: Other names of a spike mode: ``smooth`` is the smooth-sigmoid forward (stored as
#: ``surrogate``; to snnTorch users "surrogate" means a hard forward, ``hard`` here).
SPIKE_MODE_ALIASES = {"smooth": "surrogate"}
#: Gradients of the smooth spike's soft reset: ``exact`` (the gradient of what is
#: simulated) or ``detached`` (the reset's slope left out; bounded at steep slopes).
RESET_GRADS = ("exact", "detached")


class SastCubaNeuron(cuba.Neuron):
    """Loihi CUBA-LIF neuron whose spike function is ``surrogate`` or ``hard``.

    Parameters are those of :class:`lava.lib.dl.slayer.neuron.cuba.Neuron`
    plus ``beta`` (slope of the surrogate sigmoid, per unit of membrane
    potential), ``spike_mode`` and ``reset_grad`` (:data:`RESET_GRADS`).  Device
    parameters (``vThMant``,
    ``iDecay``, ``vDecay``) and hdf5 export are inherited unchanged, so the
    neuron exports as a NetX ``CUBA`` layer.
    """

    def __init__(self, threshold: float, current_decay: float,
                 voltage_decay: float, beta: float = 5.0,
                 spike_mode: str = "surrogate", reset_grad: str = "exact",
                 **kwargs) -> None:
        super().__init__(threshold=threshold, current_decay=current_decay,
                         voltage_decay=voltage_decay, **kwargs)
        self.reset_grad = reset_grad
        self.beta = float(beta)
        self.spike_mode = spike_mode
        self.record_voltage = False
        self.last_voltage: Optional[torch.Tensor] = None

    @property
    def spike_mode(self) -> str:
        """``'surrogate'`` (the smooth forward, training; set it as ``'smooth'`` too) or
        ``'hard'`` (deployment)."""
        return self._spike_mode

    @spike_mode.setter
    def spike_mode(self, mode: str) -> None:
        mode = SPIKE_MODE_ALIASES.get(mode, mode)
        if mode not in SPIKE_MODES:
            raise ValueError(f"spike_mode must be one of {SPIKE_MODES} (or 'smooth'), got "
                             f"{mode!r}")
        self._spike_mode = mode

    @property
    def reset_grad(self) -> str:
        """``'exact'`` or ``'detached'`` gradient of the soft reset (:data:`RESET_GRADS`)."""
        return self._reset_grad

    @reset_grad.setter
    def reset_grad(self, mode: str) -> None:
        if mode not in RESET_GRADS:
            raise ValueError(f"reset_grad must be one of {RESET_GRADS}, got {mode!r}")
        self._reset_grad = mode

    def decay_factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-step retention ``(1 - current_decay, 1 - voltage_decay)`` as used on chip."""
        self.clamp()
        keep_u = 1 - quantize(self.current_decay) / self.p_scale
        keep_v = 1 - quantize(self.voltage_decay) / self.p_scale
        return keep_u, keep_v

    def _init_shape(self, x: torch.Tensor) -> None:
        if self.shape is None:
            if x.dim() < 3:
                raise ValueError(
                    f"expected input [batch, features..., time], got shape {tuple(x.shape)}")
            self.shape = x.shape[1:-1]
            self.num_neurons = int(torch.tensor(self.shape).prod())
        elif x.shape[1:-1] != self.shape:
            raise ValueError(
                f"input shape {tuple(x.shape)} does not match neuron shape {tuple(self.shape)}")

    def surrogate_forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Smooth forward pass; returns ``(spikes, pre-reset voltage)``, both ``x``-shaped."""
        self._init_shape(x)
        keep_u, keep_v = self.decay_factors()
        shape = [1] * (x.dim() - 1)
        keep_u = keep_u.reshape(-1, *shape[1:]) if keep_u.numel() > 1 else keep_u
        keep_v = keep_v.reshape(-1, *shape[1:]) if keep_v.numel() > 1 else keep_v
        trained = keep_u.requires_grad or keep_v.requires_grad
        run = surrogate_cuba_reference if trained else surrogate_cuba
        return run(x, keep_u, keep_v, self.threshold, self.beta,
                   self.reset_grad == "detached")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Spike response to synaptic input ``x`` of shape ``[batch, ..., time]``."""
        if self.spike_mode == "surrogate":
            spikes, voltage = self.surrogate_forward(x)
        else:
            _, voltage = self.dynamics(x)  # SLAYER fixed-point CUBA, reset to zero
            spikes = self.spike(voltage)
        if self.record_voltage:
            self.last_voltage = voltage.detach()
        return spikes

    def weight_hook(self, weight: torch.Tensor, descale: bool = False) -> torch.Tensor:
        """Synapse pre-hook: full-precision weights in training, clamped to the
        range an 8-bit Loihi weight can hold; 8-bit SLAYER quantisation on export."""
        if descale:
            return self.quantize_8bit(weight, descale=True)
        return weight.clamp(-256 / self.w_scale, 254 / self.w_scale)
