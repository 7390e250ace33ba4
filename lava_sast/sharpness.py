"""SAM sharpness of a trained net: how much the loss rises at SAM's ascent point.

``sharpness = L(w + e) - L(w)`` with ``e`` the climb SAM takes from ``w`` on each
batch (:meth:`lava_sast.sam.SAM.first_step`), averaged over batches.  It is the
quantity SAST minimises beside the loss, so it tells whether SAST has anything
to flatten: a net whose sharpness at ``rho`` is already near zero is flat at
that radius, and training it with SAM cannot change much.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.data import Dataset

from .datasets import batches
from .device import module_device
from .models import SastNetwork, spike_modes
from .sam import SAM


@dataclass
class Sharpness:
    """Mean surrogate loss at ``w`` and at the ascent point ``w + e`` for radius ``rho``."""

    rho: float
    loss: float
    climbed_loss: float

    @property
    def sharpness(self) -> float:
        return self.climbed_loss - self.loss

    def as_dict(self) -> dict:
        return {"rho": self.rho, "loss": self.loss, "climbed_loss": self.climbed_loss,
                "sharpness": self.sharpness}


def sam_sharpness(model: SastNetwork, dataset: Dataset, loss_fx: torch.nn.Module,
                  rho: float, adaptive: bool = True, batch_size: int = 32) -> Sharpness:
    """Loss and SAM-climbed loss of ``model`` (surrogate forward) over ``dataset``,
    one climb per batch of ``batch_size`` as in training; weights are left bit-exact."""
    sam = SAM(model.parameters(), torch.optim.SGD, rho=rho, adaptive=adaptive, lr=0.0)
    loss_sum = climbed_sum = 0.0
    seen = 0
    device = module_device(model)
    with spike_modes(model, ["surrogate"] * len(model.neurons())):
        for x, y in batches(dataset, batch_size):
            x, y = x.to(device), y.to(device)
            sam.zero_grad()
            loss = loss_fx(model(x), y)
            loss.backward()
            sam.first_step()
            try:
                with torch.no_grad():
                    climbed = loss_fx(model(x), y)
            finally:
                sam.restore()  # copies w back: bit-exact weights afterwards
            loss_sum += float(loss.detach()) * len(y)
            climbed_sum += float(climbed) * len(y)
            seen += len(y)
    sam.zero_grad()
    if seen == 0:
        raise ValueError("sam_sharpness needs a non-empty dataset")
    return Sharpness(rho, loss_sum / seen, climbed_sum / seen)
