"""Accuracy and SynOps of a NetX network on a dataset, in Lava or the emulator.

``python -m netx_export.run NETWORK.net --dataset nmnist --data-dir DIR
--split test --samples 100 --out result.json [--engine lava|emulator]``
"""
from __future__ import annotations

import sys
import time
from typing import Any, Optional, Sequence

import numpy as np
import torch

from lava_sast.device import resolve_device
from .cli import finish, network_parser
from .data_input import always_on_channels, binning_for, load_checked, load_inputs
from .emulate import emulate, emulate_dataset, fan_out, layer_input_shapes, layer_synops
from .lava_runner import run_lava
from .netx_model import IntNetwork, load_int_network


def synops_from_spikes(net: IntNetwork, inputs: torch.Tensor,
                       layer_spikes: list[np.ndarray]) -> np.ndarray:
    """Mean SynOps per layer: each layer's input spikes times their fan-out (and a
    recurrent layer's own spikes times its recurrent fan-out)."""
    def counts(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(x.reshape(x.shape[0], -1, x.shape[-1]).sum(-1))

    layer_inputs = [inputs.numpy().astype(bool)] + list(layer_spikes[:-1])
    return np.array([
        float(layer_synops(layer, fan_out(layer, in_shape), counts(x), counts(out)).mean())
        for layer, x, out, in_shape in zip(net.layers, layer_inputs, layer_spikes,
                                           layer_input_shapes(net))])


def evaluate_network(path: str, dataset: str, data_dir: Optional[str], split: str,
                     samples: Optional[int], engine: str = "lava",
                     select_tag: str = "fixed_pt", timeout_s: float = 900.0,
                     device: str = "auto", cache_dir: Optional[str] = None,
                     download: bool = False, bin_us: Optional[int] = None,
                     n_bins: Optional[int] = None) -> dict[str, Any]:
    """Run the network and return the result dictionary written by the CLI (``device``:
    where the emulator runs; the input binned as the net's file records unless ``bin_us``
    / ``n_bins`` are given)."""
    if engine not in ("lava", "emulator"):
        raise ValueError(f"unknown engine {engine!r}")
    torch_device = resolve_device(device) if engine == "emulator" else None
    net = load_int_network(path)
    # the emulator streams a dataset from disk, unless the net's always-on input channel
    # must be appended (in memory, as for Lava)
    streamed = engine == "emulator" and not always_on_channels(net)
    if streamed:
        data = load_checked(net, dataset, data_dir, split, samples, cache_dir, download,
                            bin_us, n_bins)
        steps = data.sample_shape[-1]
    else:
        inputs, labels, steps = load_inputs(net, dataset, data_dir, split, samples,
                                            cache_dir, download, bin_us, n_bins)
    start = time.perf_counter()
    if engine == "lava":
        res = run_lava(path, inputs.numpy(), record_layers=True, select_tag=select_tag,
                       timeout_s=timeout_s, conv_input=net.layers[0].kind == "conv")
        counts = res.output_spikes.reshape(len(labels), -1, steps).sum(-1)
        synops = synops_from_spikes(net, inputs, res.layer_spikes)
        backend = f"lava Loihi2SimCfg(select_tag='{select_tag}')"
    else:
        if streamed:
            res, labels = emulate_dataset(net, data, device=torch_device)
        else:
            res = emulate(net, inputs, device=torch_device)
        counts = res.output_counts.numpy()
        synops = res.synops.mean(0).numpy()
        backend = f"netx_export.emulate on {torch_device} (bit-exact with Lava fixed_pt)"
    seconds = time.perf_counter() - start
    pred = torch.as_tensor(counts).argmax(1)
    return {"network": str(path), "dataset": dataset, "split": split, "engine": engine,
            "backend": backend, "accuracy": float((pred == labels).float().mean()),
            "samples": int(len(labels)), "steps_per_sample": int(steps),
            "binning": binning_for(net, bin_us, n_bins),
            "synops_per_sample": float(synops.sum()),
            "synops_per_layer": [float(v) for v in synops],
            "predictions": pred.tolist(), "seconds": seconds}


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = network_parser("python -m netx_export.run", __doc__, samples=None)
    p.add_argument("--engine", choices=["lava", "emulator"], default="lava",
                   help="default %(default)s")
    p.add_argument("--select-tag", default="fixed_pt",
                   help="Lava process-model tag; only fixed_pt is meaningful for NetX")
    a = p.parse_args(argv)
    code, _ = finish(a, lambda: evaluate_network(
        a.network, a.dataset, a.data_dir, a.split, a.samples, a.engine, a.select_tag,
        a.timeout, a.device, a.cache_dir, a.download, a.bin_us, a.n_bins),
        shown=lambda r: {k: v for k, v in r.items() if k != "predictions"})
    return code


if __name__ == "__main__":
    sys.exit(main())
