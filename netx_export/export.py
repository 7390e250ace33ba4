"""Export a trained lava_sast network to NetX hdf5 with 8- or 4-bit weights.

CLI: ``python -m netx_export.export RUN/checkpoint.pt --weight-bits 4 --out net4.net``
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import warnings
from pathlib import Path
from typing import Optional, Sequence

import torch

from lava_sast.atomic import check_writable
from lava_sast.checkpoint import load_network
from lava_sast.layers import kind_of
from lava_sast.models import SastNetwork

from lava_sast.quantize import quantize_decay, quantize_weight


#: A layer with fewer distinct weight levels than this is reported as degenerate.
MIN_LEVELS = 3


class DegenerateLayerWarning(UserWarning):
    """A layer lost (almost) all its weights to quantisation."""


def _grid_hook(weight: torch.Tensor, descale: bool = False) -> torch.Tensor:
    """Synapse hook for weights already on their grid: export the exact integers."""
    return torch.round(weight * 64) if descale else weight


#: Largest threshold mantissa Loihi holds (17 bits): bounds the full-range scaling.
MAX_VTH_MANT = 2 ** 17 - 1


def _min_shift(neuron, full_range: bool) -> int:
    """Most negative step exponent allowed: 0, or (full range) as far as the layer's
    threshold mantissa can be scaled up by ``2**-s`` and still fit."""
    if not full_range:
        return 0
    return -int(math.floor(math.log2(MAX_VTH_MANT / max(int(neuron.v_th_mant), 1))))


def quantized_copy(model: SastNetwork, weight_bits: int = 8,
                   decay_levels: Optional[str] = None,
                   full_range: bool = False) -> tuple[SastNetwork, list[dict]]:
    """Copy of ``model`` with weights on the ``weight_bits`` grid (and decays
    on ``decay_levels``); also returns per-layer quantisation facts.  The weights
    quantised are those the network computes with: each synapse's weight after its
    training hook (SLAYER's 8-bit grid, the QAT grid, or the clamp to 8-bit range).
    ``full_range`` lets a layer with small weights use a step finer than one hdf5 unit,
    its threshold scaled to match (see :mod:`lava_sast.quantize`)."""
    q = copy.deepcopy(model)
    info = []
    with torch.no_grad():
        for i, b in enumerate(q.weighted_blocks()):
            # the layer's synapses (all its kind's) share one grid, as NetX gives them
            # one exponent
            syns = kind_of(b).synapses(b)
            used_each = [s.pre_hook_fx(s.weight) if s.pre_hook_fx is not None else s.weight
                         for s in syns]
            used = torch.cat([u.reshape(-1) for u in used_each])
            n = b.neuron
            w, shift = quantize_weight(used, weight_bits, _min_shift(n, full_range))
            scale = 2 ** max(-shift, 0)  # the layer's weights and threshold both x scale
            start = 0
            for s, u in zip(syns, used_each):
                part = w[start:start + u.numel()].reshape(u.shape)
                start += u.numel()
                s.weight.copy_(part * scale + 0.0)  # + 0.0: no negative zeros in the file
                s.pre_hook_fx = _grid_hook
            n._threshold = n._threshold * scale
            if getattr(b, "bias", None) is not None:  # on the hdf5 grid, scaled as the weights
                b.bias.copy_(torch.round(b.bias * 64) / 64 * scale)
            n.current_decay.fill_(quantize_decay(float(n.current_decay), decay_levels))
            n.voltage_decay.fill_(quantize_decay(float(n.voltage_decay), decay_levels))
            levels = int(torch.unique(w).numel())
            before = int(torch.unique(used).numel())  # a 1x1 layer has one level to start with
            err = float((w - used).norm() / used.norm().clamp(min=1e-12))
            info.append({"layer": i, "weight_bits": weight_bits, "shift": shift,
                         "threshold_scale": scale, "levels": levels, "relative_error": err,
                         "iDecay": int(n.cx_current_decay),
                         "vDecay": int(n.cx_voltage_decay), "vThMant": int(n.v_th_mant)})
            if levels < min(MIN_LEVELS, before):
                warnings.warn(f"layer {i} keeps only {levels} weight level(s) at "
                              f"{weight_bits} bits (relative error {err:.2f}): the "
                              f"deployed layer is close to dead", DegenerateLayerWarning,
                              stacklevel=2)
    return q, info


def export_network(model: SastNetwork, path: str | Path, weight_bits: int = 8,
                   decay_levels: Optional[str] = None, full_range: bool = False,
                   binning: Optional[dict] = None) -> list[dict]:
    """Write ``model`` as NetX hdf5 with ``weight_bits``-bit weights and, when given, the
    input ``binning`` it expects (``bin_us``, ``n_bins``, ``frames``); returns layer facts."""
    q, info = quantized_copy(model, weight_bits, decay_levels, full_range)
    q.export_hdf5(path, binning)
    return info


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m netx_export.export", description=__doc__)
    p.add_argument("checkpoint", help="lava_sast checkpoint.pt")
    p.add_argument("--weight-bits", type=int, choices=[8, 4], default=8)
    p.add_argument("--decay-levels", choices=["12bit", "pow2"], default="12bit")
    p.add_argument("--full-range", action="store_true",
                   help="give small-weight layers their whole bit budget (finer step, "
                        "threshold scaled to match)")
    p.add_argument("--out", required=True, help="output .net (hdf5)")
    a = p.parse_args(argv)
    try:
        check_writable(a.out)
        info = export_network(load_network(a.checkpoint), a.out, a.weight_bits,
                              a.decay_levels, a.full_range)
    except (FileNotFoundError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(info, indent=2))
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
