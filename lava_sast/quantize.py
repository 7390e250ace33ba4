"""Weight and decay quantisation for Loihi deployment.

Weights (per layer, symmetric, power-of-two scale as Loihi's weight exponent):
SLAYER weights ``w`` are in units where the hdf5 integer is ``64 * w``.  A
``b``-bit layer stores ``q * 2**s`` with integer ``q`` in
``[-(2**(b-1) - 1), 2**(b-1) - 1]`` (symmetric: at most ``2**b - 1`` levels)
and one shift ``s`` in ``0 .. 9 - b`` per layer, so every value fits Loihi's
8-bit mantissa range ``[-256, 254]``.  ``s`` is the one that minimises the
layer's squared rounding-plus-clipping error; ``q`` rounds half away from
zero.  NetX turns ``2**s`` into ``num_weight_bits`` and ``weight_exponent``
without losing a bit (checked in the tests).

``min_shift < 0`` (the exporter's ``full_range``) also allows steps finer than one
hdf5 unit: a layer whose weights are small stores ``q`` for a step ``2**s`` with
``s < 0`` and its threshold is scaled by ``2**-s`` to match (NetX's hdf5 weights are
integers, so this is the only way to give such a layer its whole bit budget).  A
negative ``s`` is taken only when it is strictly better than every ``s >= 0``.

Decays are Loihi's 12-bit integers (``decay * 4096``); ``pow2`` restricts them
to powers of two (shift-only leak).
"""
from __future__ import annotations

import math
from typing import Optional

import torch

W_SCALE = 64  # SLAYER CUBA weight scale: hdf5 weight = 64 * float weight
MAX_MANTISSA = 256


def choose_shift(weight64: torch.Tensor, bits: int, min_shift: int = 0) -> int:
    """Power-of-two step ``2**s`` (``min_shift <= s <= 9 - bits``) minimising the
    quantisation error of ``weight64``; ties go to the smallest ``s >= 0``."""
    if bits < 2 or bits > 8:
        raise ValueError(f"weight bits must be in 2..8, got {bits}")
    best, best_err = 0, math.inf
    for s in list(range(0, 9 - bits + 1)) + list(range(-1, min_shift - 1, -1)):
        err = float((quantize_levels(weight64, bits, s) * 2.0 ** s - weight64).pow(2).sum())
        if err < best_err:
            best, best_err = s, err
    return best


def quantize_levels(weight64: torch.Tensor, bits: int, shift: int) -> torch.Tensor:
    """Integer levels ``q`` (symmetric ``b``-bit) for step ``2**shift``."""
    qmax = 2 ** (bits - 1) - 1
    scaled = weight64 / 2.0 ** shift
    q = torch.sign(scaled) * torch.floor(scaled.abs() + 0.5)
    return q.clamp(-qmax, qmax)


def quantize_weight(weight: torch.Tensor, bits: int, min_shift: int = 0,
                    like: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, int]:
    """Return ``(float weight on the b-bit grid, shift)`` for SLAYER weight ``weight``;
    the step is chosen for ``like`` (default: ``weight``; e.g. all of a layer's weights)."""
    w64 = weight.detach() * W_SCALE
    shift = choose_shift(w64 if like is None else like.detach() * W_SCALE, bits, min_shift)
    q = quantize_levels(w64, bits, shift)
    return q * 2.0 ** shift / W_SCALE, shift


def quantize_decay(decay: float, levels: Optional[str] = None) -> int:
    """12-bit decay integer for a decay fraction scaled by 4096 already (``decay4096``)."""
    value = int(round(decay))
    value = min(max(value, 0), 4096)
    if levels in (None, "12bit"):
        return value
    if levels == "pow2":
        return 0 if value == 0 else 2 ** int(round(math.log2(value)))
    raise ValueError(f"unknown decay levels {levels!r}; use '12bit' or 'pow2'")


class QuantizedWeight:
    """Synapse pre-hook that trains through the exporter's quantiser: the forward pass
    sees the ``bits``-bit power-of-two grid of :func:`quantize_weight`, the backward
    pass is straight-through (quantisation-aware training).  With ``group`` (the synapses
    of one layer, e.g. a recurrent layer's input and recurrent ones), the grid's step is
    chosen from all their weights together, as the exporter and NetX's one exponent per
    layer do; each synapse of the group shares this hook."""

    def __init__(self, bits: int, group: Optional[list] = None) -> None:
        self.bits = bits
        self.group = group if group and len(group) > 1 else None

    def __call__(self, weight: torch.Tensor, descale: bool = False) -> torch.Tensor:
        joint = (None if self.group is None
                 else torch.cat([s.weight.detach().reshape(-1) for s in self.group]))
        q, _ = quantize_weight(weight, self.bits, like=joint)
        if descale:
            return torch.round(q * W_SCALE)
        return weight + (q - weight).detach()
