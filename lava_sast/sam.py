"""Sharpness-Aware Minimization (Foret et al., ICLR 2021) over any torch optimizer.

One SAM step takes two forward/backward passes: climb from ``w`` to
``w + e`` with ``e = rho * g / ||g||`` (adaptive SAM: ``e = rho * w^2 g /
||w g||``, Kwon et al. 2021), compute the gradient there, restore ``w`` and let
the base optimizer step with that gradient.  ``rho = 0`` is exactly the base
optimizer (one pass, no climb).

``layerwise=True`` normalises the climb per parameter tensor (each layer climbs
by ``rho``) instead of over all parameters together, so small layers (a
first conv layer) are not left almost unperturbed beside a wide dense layer.

``climb_only`` restricts the climb to some parameters (for example the dense
layers of a conv net); the others are evaluated unperturbed but still stepped.

``climb_every=k`` is a cheaper variant: the ascent direction is recomputed
only every ``k`` steps; in between, the stored perturbation is reused and
only the gradient at ``w + e`` is computed (one pass), so a step costs about
``1 + 1/k`` passes instead of 2.
"""
from __future__ import annotations

from typing import Callable, Iterable, Optional

import torch


class SAM:
    """Wrap ``base_optimizer`` with sharpness-aware two-pass steps.

    Use :meth:`step` with a closure that zeroes gradients, runs forward and
    backward and returns the loss; or call :meth:`first_step`, recompute the
    gradient, then :meth:`second_step`.
    """

    def __init__(self, base_optimizer: torch.optim.Optimizer, rho: float = 0.05,
                 adaptive: bool = False, eps: float = 1e-12,
                 climb_every: int = 1, layerwise: bool = False,
                 climb_only: Optional[Iterable[torch.Tensor]] = None) -> None:
        if rho < 0:
            raise ValueError(f"rho must be >= 0, got {rho}")
        if climb_every < 1:
            raise ValueError(f"climb_every must be >= 1, got {climb_every}")
        self.climb_every = climb_every
        self.layerwise = layerwise
        self._climb_only = None if climb_only is None else {id(p) for p in climb_only}
        self._steps = 0
        self._last_climb: dict[torch.Tensor, torch.Tensor] = {}
        self.base_optimizer = base_optimizer
        self.rho = float(rho)
        self.adaptive = adaptive
        self.eps = eps
        self._climb: dict[torch.Tensor, torch.Tensor] = {}

    @property
    def param_groups(self):
        return self.base_optimizer.param_groups

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.base_optimizer.zero_grad(set_to_none=set_to_none)

    def _climbing_params(self):
        """Parameters that climb: those with a gradient (and in ``climb_only``, if given)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None and (self._climb_only is None
                                           or id(p) in self._climb_only):
                    yield p

    def _grad_norms(self) -> dict[torch.Tensor, torch.Tensor]:
        """Norm that normalises each parameter's climb: its own (layerwise) or the global one."""
        params = list(self._climbing_params())
        norms = [((p.abs() if self.adaptive else 1.0) * p.grad).norm(2) for p in params]
        if not self.layerwise and norms:
            norms = [torch.stack(norms).norm(2)] * len(norms)
        return dict(zip(params, norms))

    @torch.no_grad()
    def first_step(self) -> None:
        """Move the weights to the ascent point ``w + e`` (uses current gradients)."""
        self._climb = {}
        for p, norm in self._grad_norms().items():
            scale = self.rho / (norm + self.eps)
            e = (p.pow(2) if self.adaptive else 1.0) * p.grad * scale.to(p)
            p.add_(e)
            self._climb[p] = e
        self._last_climb = dict(self._climb)

    @torch.no_grad()
    def second_step(self) -> None:
        """Return to ``w`` and take the base optimizer step with the ascent-point gradient."""
        for p, e in self._climb.items():
            p.sub_(e)
        self._climb = {}
        self.base_optimizer.step()

    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:
        """One SAM update; ``closure`` must zero grads, compute loss, backward, return loss.

        Returns the loss at the original weights ``w``.
        """
        self._steps += 1
        if self.rho > 0 and self._last_climb and (self._steps - 1) % self.climb_every:
            with torch.no_grad():  # reuse the stored ascent step: one pass only
                for p, e in self._last_climb.items():
                    p.add_(e)
            self._climb = dict(self._last_climb)
            loss = closure()
            self.second_step()
            return loss
        loss = closure()
        if self.rho == 0:
            self.base_optimizer.step()
            return loss
        self.first_step()
        closure()
        self.second_step()
        return loss

    def state_dict(self) -> dict:
        return {"base": self.base_optimizer.state_dict(), "rho": self.rho,
                "adaptive": self.adaptive}

    def load_state_dict(self, state: dict) -> None:
        self.base_optimizer.load_state_dict(state["base"])
