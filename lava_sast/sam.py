"""Sharpness-Aware Minimization (Foret et al., ICLR 2021) as a ``torch.optim.Optimizer``.

The shape follows the reference implementation (davda54/sam): ``SAM(params,
base_optimizer_cls, rho=..., adaptive=..., **base_kwargs)``; the base optimizer
shares SAM's ``param_groups``, so learning-rate schedulers work on either.

One step takes two forward/backward passes: :meth:`SAM.first_step` climbs from
``w`` to ``w + e`` with ``e = rho * g / ||g||`` (adaptive SAM: ``e = rho * w^2 g /
||w g||``, Kwon et al. 2021); the gradient is computed there; :meth:`SAM.second_step`
copies ``w`` back (exactly, not by subtraction) and lets the base optimizer step with
that gradient.  ``rho = 0`` is exactly the base optimizer (one pass, no climb).

Options, all kept in the parameter groups (so they round-trip through
``state_dict``) except ``climb_every``:

- ``layerwise``: normalise the climb per parameter tensor (each climbs by ``rho``)
  instead of over all climbing parameters together.
- ``climb`` (per group): ``False`` leaves the group's parameters unperturbed at the
  ascent point; they are still stepped.
- ``climb_every=k``: recompute the ascent direction only every ``k`` steps and
  reuse the stored ``e`` in between (one pass per reused step).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Optional, Type

import torch


class SAM(torch.optim.Optimizer):
    """Sharpness-aware steps around ``base_optimizer_cls`` (for example ``torch.optim.Adam``).

    Use :meth:`step` with a closure that zeroes gradients, runs forward and
    backward and returns the loss; or call :meth:`first_step`, recompute the
    gradient (on any batch), then :meth:`second_step`.
    """

    def __init__(self, params: Iterable[Any], base_optimizer_cls: Type[torch.optim.Optimizer],
                 rho: float = 0.05, adaptive: bool = False, layerwise: bool = False,
                 climb_every: int = 1, eps: float = 1e-12, **base_kwargs: Any) -> None:
        if not rho >= 0:  # also refuses NaN
            raise ValueError(f"rho must be >= 0, got {rho}")
        if climb_every < 1:
            raise ValueError(f"climb_every must be >= 1, got {climb_every}")
        defaults = dict(rho=float(rho), adaptive=adaptive, layerwise=layerwise, climb=True,
                        sam_eps=eps, **base_kwargs)  # not "eps": Adam's own option
        super().__init__(params, defaults)
        self.climb_every = climb_every
        self.steps = 0
        self.base_optimizer = base_optimizer_cls(self.param_groups, **base_kwargs)
        self.param_groups = self.base_optimizer.param_groups
        self.defaults.update(self.base_optimizer.defaults)

    def _climbing(self) -> Iterable[tuple[dict, torch.Tensor]]:
        for group in self.param_groups:
            if group["climb"] and group["rho"] > 0:
                for p in group["params"]:
                    if p.grad is not None:
                        yield group, p

    def _norms(self) -> dict[torch.Tensor, torch.Tensor]:
        """Norm that normalises each parameter's climb: its own (layerwise) or the global one."""
        pairs = list(self._climbing())
        norms = [((p.abs() if g["adaptive"] else 1.0) * p.grad).norm(2) for g, p in pairs]
        global_norm = torch.stack(norms).norm(2) if norms else None
        return {p: (n if g["layerwise"] else global_norm) for (g, p), n in zip(pairs, norms)}

    @torch.no_grad()
    def first_step(self, zero_grad: bool = False) -> None:
        """Save ``w`` and move to the ascent point ``w + e`` (uses the current gradients)."""
        norms = self._norms()
        for group, p in self._climbing():
            state = self.state[p]
            state["old_p"] = p.detach().clone()
            scale = group["rho"] / (norms[p] + group["sam_eps"])
            e = (p.pow(2) if group["adaptive"] else 1.0) * p.grad * scale.to(p)
            state["e"] = e
            p.add_(e)
        if zero_grad:
            self.zero_grad()

    @torch.no_grad()
    def reuse_climb(self) -> bool:
        """Move to ``w + e`` with the stored ``e`` of the last climb; ``False`` if none."""
        params = [p for g in self.param_groups if g["climb"] and g["rho"] > 0
                  for p in g["params"] if "e" in self.state[p]]
        for p in params:
            self.state[p]["old_p"] = p.detach().clone()
            p.add_(self.state[p]["e"])
        return bool(params)

    @torch.no_grad()
    def restore(self) -> None:
        """Copy the saved ``w`` back (bit-exact), without stepping."""
        for group in self.param_groups:
            for p in group["params"]:
                old = self.state[p].pop("old_p", None)
                if old is not None:
                    p.copy_(old)

    @torch.no_grad()
    def second_step(self, zero_grad: bool = False) -> None:
        """Copy ``w`` back and take the base optimizer step with the ascent-point gradient."""
        self.restore()
        self.base_optimizer.step()
        if zero_grad:
            self.zero_grad()

    @property
    def climbs(self) -> bool:
        """Whether any parameter group climbs (``rho > 0`` and ``climb``)."""
        return any(g["climb"] and g["rho"] > 0 for g in self.param_groups)

    def step(self, closure: Optional[Callable[[], torch.Tensor]] = None,
             ascent_closure: Optional[Callable[[], torch.Tensor]] = None) -> torch.Tensor:
        """One SAM update.  ``closure`` zeroes grads, computes the loss, runs backward
        and returns the loss.  ``ascent_closure`` (optional, same contract) computes the
        climb's gradient on another batch (the paper's independent ascent minibatch).

        Returns the loss of ``closure``'s first pass: at ``w`` on a climbing step
        (or, with ``ascent_closure``, at ``w + e``), at ``w + e`` on a step that
        reuses the stored climb (``climb_every > 1``).
        """
        if closure is None:
            raise ValueError("SAM.step needs a closure (two forward/backward passes)")
        self.steps += 1
        if not self.climbs:
            loss = closure()
            self.base_optimizer.step()
            return loss
        if (self.steps - 1) % self.climb_every and self.reuse_climb():
            loss = closure()
            self.second_step()
            return loss
        if ascent_closure is not None:
            ascent_closure()
            self.first_step()
            loss = closure()
        else:
            loss = closure()
            self.first_step()
            closure()
        self.second_step()
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.base_optimizer.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        """SAM's own state (stored climbs, options in the groups), the base optimizer's
        state and the step counter: everything needed to continue bit-exactly."""
        return {"sam": super().state_dict(), "base": self.base_optimizer.state_dict(),
                "steps": self.steps, "climb_every": self.climb_every}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict["sam"])
        self.base_optimizer.load_state_dict(state_dict["base"])
        self.param_groups = self.base_optimizer.param_groups
        self.steps = int(state_dict["steps"])
        self.climb_every = int(state_dict["climb_every"])
