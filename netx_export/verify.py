"""Check the emulator against Lava spike for spike, and measure its speedup.

``python -m netx_export.verify NETWORK.net --dataset nmnist --data-dir DIR --samples N``
(or ``--random-input P``: random spikes of probability ``P``, for any net)
prints (and with ``--out`` writes) ``spike_mismatches`` per layer (must be 0)
and ``speedup`` = emulator samples/s over Lava samples/s, measured in one run.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Any, Optional, Sequence

import torch

from lava_sast.device import resolve_device

from .cli import finish, network_parser
from .data_input import data_shape, load_inputs, with_always_on
from .emulate import emulate
from .lava_runner import run_lava
from .netx_model import IntNetwork, load_int_network


def compare(path: str, inputs: torch.Tensor, timeout_s: float = 900.0,
            show_progress: bool = True, device: str = "cpu") -> dict[str, Any]:
    """Run ``inputs`` through Lava and the emulator (on ``device``); count differing
    spikes per layer."""
    net = load_int_network(path)
    lava = run_lava(path, inputs.numpy(), record_layers=True, timeout_s=timeout_s,
                    conv_input=net.layers[0].kind == "conv", show_progress=show_progress)
    start = time.perf_counter()
    emu = emulate(net, inputs, record_layers=True, device=resolve_device(device))
    emu_seconds = time.perf_counter() - start
    mismatches = [int((e.numpy() != l.reshape(e.shape)).sum())
                  for e, l in zip(emu.layer_spikes, lava.layer_spikes)]
    n = inputs.shape[0]
    return {"network": str(path), "samples": int(n), "steps_per_sample": lava.steps,
            "spike_mismatches": mismatches,
            "spikes_per_layer": [int(e.sum()) for e in emu.layer_spikes],
            "lava_seconds": lava.seconds, "emulator_seconds": emu_seconds,
            "lava_samples_per_s": n / lava.seconds,
            "emulator_samples_per_s": n / max(emu_seconds, 1e-9),
            "speedup": lava.seconds / max(emu_seconds, 1e-9)}


def density(text: str) -> float:
    """A spike probability in [0, 1] (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a probability in [0, 1], got {text!r}")
    return value


def random_inputs(net: IntNetwork, samples: int, steps: int, p: float,
                  seed: int = 0) -> torch.Tensor:
    """``[samples, *input, steps]`` Bernoulli(``p``) spikes for ``net`` (its always-on
    channels appended, :func:`with_always_on`)."""
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(samples, *data_shape(net), steps, generator=gen) < p).float()
    return with_always_on(net, x)


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = network_parser("python -m netx_export.verify", __doc__, samples=20)
    p.add_argument("--random-input", type=density, default=None, metavar="P",
                   help="instead of a dataset: --samples inputs of --n-bins steps "
                        "(default 100) where each input spikes with probability P per step "
                        "(seeded by --seed); for nets from other frameworks' graphs")
    p.add_argument("--seed", type=int, default=0, help="seed of --random-input")
    a = p.parse_args(argv)

    def work() -> dict[str, Any]:
        net = load_int_network(a.network)
        resolve_device(a.device)  # a bad --device fails before Lava starts
        if a.random_input is not None:
            inputs = random_inputs(net, a.samples, a.n_bins or 100, a.random_input, a.seed)
        else:
            inputs, _, _ = load_inputs(net, a.dataset, a.data_dir, a.split, a.samples,
                                       a.cache_dir, a.download, a.bin_us, a.n_bins)
        return compare(a.network, inputs, a.timeout, device=a.device)

    code, result = finish(a, work)
    if code:
        return code
    return 0 if not any(result["spike_mismatches"]) else 1


if __name__ == "__main__":
    sys.exit(main())
