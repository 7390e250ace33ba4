"""Surrogate-forward CUBA-LIF dynamics as a pure function over the time axis.

One time step (``a = 1 - current_decay``, ``b = 1 - voltage_decay``)::

    u[t] = a u[t-1] + x[t]                  synaptic current
    v[t] = b w[t-1] + u[t]                  membrane, before reset
    s[t] = sigmoid(beta (v[t] - theta))     smooth spike
    w[t] = v[t] (1 - s[t])                  soft reset

``detach_reset`` keeps that forward pass and drops the reset's own slope from the
gradient (``s`` in the reset counts as a constant, as snnTorch's default reset does):
the exact gradient of ``w`` by ``v`` is ``1 - s - beta v s (1 - s)``, whose size passes 1
near threshold once ``beta theta`` exceeds about 6, so that the gradient grows step by step
through time; the detached one is ``1 - s``, never above 1.

:func:`surrogate_cuba` runs the loop without building an autograd graph per step and
back-propagates through time in one hand-written loop (:class:`SurrogateCubaFunction`),
the way lava-dl runs its own CUBA dynamics on the CPU.  The gradient is exact, the same
as autograd through :func:`surrogate_cuba_reference` (tested).  Decays and threshold
are constants here; a neuron whose decays are trained uses the reference loop.
"""
from __future__ import annotations

from typing import Optional, Any

import torch


def _forward_loop(x: torch.Tensor, keep_u: torch.Tensor, keep_v: torch.Tensor,
                  theta: float, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(spikes, pre-reset voltage)`` without an autograd graph per step."""
    spikes = torch.empty_like(x)
    volts = torch.empty_like(x)
    u = torch.zeros_like(x[..., 0])
    w = torch.zeros_like(u)
    for t in range(x.shape[-1]):
        u = torch.addcmul(x[..., t], keep_u, u)
        v = torch.addcmul(u, keep_v, w)
        s = torch.sigmoid(beta * (v - theta))
        spikes[..., t] = s
        volts[..., t] = v
        w = v - v * s
    return spikes, volts


class SurrogateCubaFunction(torch.autograd.Function):
    """Autograd function of :func:`surrogate_cuba`: gradient with respect to ``x`` only."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, keep_u: torch.Tensor, keep_v: torch.Tensor,
                theta: float, beta: float, detach_reset: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor]:
        spikes, volts = _forward_loop(x, keep_u, keep_v, theta, beta)
        ctx.save_for_backward(spikes, volts, keep_u, keep_v)
        ctx.beta = beta
        ctx.detach_reset = detach_reset
        ctx.mark_non_differentiable(volts)
        return spikes, volts

    @staticmethod
    def backward(ctx: Any, grad_spikes: torch.Tensor, _grad_volts: Any):
        spikes, volts, keep_u, keep_v = ctx.saved_tensors
        beta = ctx.beta
        grad_x = torch.empty_like(grad_spikes)
        gu_next = torch.zeros_like(grad_spikes[..., 0])
        gv_next = torch.zeros_like(gu_next)
        for t in range(grad_spikes.shape[-1] - 1, -1, -1):
            s, v = spikes[..., t], volts[..., t]
            gw = keep_v * gv_next  # w[t] feeds v[t+1] with weight b
            slope = beta * s * (1 - s)  # ds/dv
            drive = grad_spikes[..., t] if ctx.detach_reset else grad_spikes[..., t] - gw * v
            gv = slope * drive + gw * (1 - s)
            gu = torch.addcmul(gv, keep_u, gu_next)
            grad_x[..., t] = gu
            gv_next, gu_next = gv, gu
        return grad_x, None, None, None, None, None


def surrogate_cuba(x: torch.Tensor, keep_u: torch.Tensor, keep_v: torch.Tensor,
                   theta: float, beta: float, detach_reset: bool = False
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(spikes, pre-reset voltage)`` of input ``x`` ``[batch, ..., time]``; ``keep_u``
    and ``keep_v`` broadcast against one time step of ``x``; ``detach_reset``: the
    reset's slope left out of the gradient."""
    if torch.is_grad_enabled() and x.requires_grad:
        return SurrogateCubaFunction.apply(x, keep_u.detach(), keep_v.detach(),
                                           float(theta), float(beta), bool(detach_reset))
    with torch.no_grad():
        return _forward_loop(x, keep_u, keep_v, float(theta), float(beta))


def surrogate_cuba_reference(x: torch.Tensor, keep_u: torch.Tensor, keep_v: torch.Tensor,
                             theta: float, beta: float, detach_reset: bool = False
                             ) -> tuple[torch.Tensor, torch.Tensor]:
    """The same dynamics with autograd through every step (decays may be trained)."""
    return surrogate_cuba_recurrent(x, None, keep_u, keep_v, theta, beta, detach_reset)


def surrogate_cuba_recurrent(z: torch.Tensor, w_rec: Optional[torch.Tensor],
                             keep_u: torch.Tensor,
                             keep_v: torch.Tensor, theta: float, beta: float,
                             detach_reset: bool = False
                             ) -> tuple[torch.Tensor, torch.Tensor]:
    """The same dynamics for a recurrent dense layer: input ``z`` ``[batch, neurons, time]``
    plus the layer's own smooth spikes of the step before through ``w_rec`` ``[neurons,
    neurons]`` (Lava's recurrent synapse delivers one step later; ``None``: no recurrence).
    Autograd through every step: the recurrence couples the neurons, so the hand-written
    loop above does not apply."""
    u = torch.zeros_like(z[..., 0])
    w = torch.zeros_like(u)
    s = torch.zeros_like(u)
    spikes, volts = [], []
    for t in range(z.shape[-1]):
        u = keep_u * u + z[..., t]
        if w_rec is not None:
            u = u + s @ w_rec.T
        v = keep_v * w + u
        s = torch.sigmoid(beta * (v - theta))
        volts.append(v)
        spikes.append(s)
        w = v * (1 - (s.detach() if detach_reset else s))
    return torch.stack(spikes, dim=-1), torch.stack(volts, dim=-1)
