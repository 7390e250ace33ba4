"""NIR in and out: ``python -m netx_export.nir export|import``.

    python -m netx_export.nir export RUN/checkpoint.pt --out net.nir   # a trained run
    python -m netx_export.nir export RUN/network_int8.net --out net.nir  # a deploy file
    python -m netx_export.nir import net.nir --out DIR [--dt 1e-3]

``export`` writes the net as a NIR graph in the convention of :mod:`lava_sast.nir_graph`
(dt 1e-4, snnTorch's; weights in SLAYER float units).  ``import`` reads a graph from any
framework into a lava-sast network and writes ``DIR/network_int8.net`` (deploy it with
``netx_export.run`` or check it with ``netx_export.verify``), ``DIR/network.net``
(SLAYER's own export) and ``DIR/model.pt`` (``train --init-from`` fine-tunes from the graph
itself).  Nodes outside the supported set, mismatched shapes, missing or NaN parameters
are one-line errors naming the node.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np


from lava_sast.atomic import atomic_path
from lava_sast.checkpoint import load_checkpoint, network_from_checkpoint, save_atomic
from lava_sast.cli import positive_float, positive_int
from lava_sast.interrupt import run_guarded
from lava_sast.datasets import DATASETS, BinningSpec, default_binning
from lava_sast.models import binning_of, input_binning
from lava_sast.nir_graph import (ALWAYS_ON_INPUT, NIRError, graph_and_model, graph_from_layers,
                                 graph_from_model)

from .export import export_network
from .netx_model import NetworkFileError, load_int_network, read_layers

ERRORS = (NIRError, NetworkFileError, FileNotFoundError, ValueError, OSError)


def graph_from_netx(path: str | Path) -> Any:
    """The NIR graph of a NetX hdf5 deploy file (weights and threshold over SLAYER's scale
    64, decays over 4096), read by the same per-kind readers as the emulator's loader."""
    net = load_int_network(path)  # checks the file, names its problems
    layers: list[dict[str, Any]] = []
    for g in read_layers(path):
        if g.kind == "input":
            continue
        if g.kind == "flatten":
            layers.append({"kind": "flatten"})
            continue
        layer = {"kind": g.kind, "weight": g.weight / 64, "threshold": g.vth / 64,
                 "current_decay": g.i_decay / 4096, "voltage_decay": g.v_decay / 4096}
        if g.bias is not None:
            layer["bias"] = np.asarray(g.bias, np.float64).reshape(-1) / 64
        if g.extra:  # a recurrent kind's arrays: NIR's edges from the neurons back to them
            layer["loops"] = {k: np.asarray(v, np.float64) / 64 for k, v in g.extra.items()}
        if g.kind == "conv":
            layer.update(stride=list(g.stride), padding=list(g.padding),
                         dilation=list(g.dilation), groups=g.groups)
        layers.append(layer)
    conv_input = net.input_shape is not None
    input_shape = net.input_shape if conv_input else (net.input_size, 1, 1)
    return graph_from_layers(layers, input_shape, conv_input)


def _run_binning(state: dict[str, Any]) -> dict[str, Any]:
    """The input binning a run trained with (its dataset's, unless it set its own)."""
    cfg = state.get("config") or {}
    info = DATASETS.get(cfg.get("dataset"))
    if info is None:
        return {}
    spec = BinningSpec(info.sensor_size, *default_binning(info, cfg.get("bin_us"),
                                                          cfg.get("n_bins")))
    return binning_of(spec)


def export_file(source: str | Path, out: str | Path) -> Any:
    """Write the NIR graph of a run's ``checkpoint.pt`` or a ``.net`` file to ``out``, with
    the input binning it expects in the graph's metadata."""
    import nir
    source = Path(source)
    if source.suffix == ".net":
        graph = graph_from_netx(source)
        binning = input_binning(source)
    else:
        state = load_checkpoint(source)
        graph = graph_from_model(network_from_checkpoint(state, source))
        binning = _run_binning(state)
    if binning:
        graph.metadata["input_binning"] = binning
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        nir.write(tmp, graph)
    return graph


def _plain(record: dict[str, Any]) -> dict[str, Any]:
    """A binning record read back from a NIR file (numpy scalars, bytes) as plain values."""
    out: dict[str, Any] = {}
    for key, value in dict(record).items():
        value = value.item() if hasattr(value, "item") else value
        out[str(key)] = value.decode() if isinstance(value, bytes) else value
    return out


def import_file(path: str | Path, out: str | Path, dt: Optional[float] = None,
                bin_us: Optional[int] = None, n_bins: Optional[int] = None) -> dict:
    """Read the NIR graph at ``path`` and write ``out/model.pt``, ``out/network.net`` and
    ``out/network_int8.net``; the input binning (``bin_us``, ``n_bins``; default: the
    graph's metadata, where it records one) goes into the deploy file.  Returns what was
    written, with ``warnings`` (implausible decays, degenerate layers)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        graph, model, carriers = graph_and_model(path, dt, always_on=True)  # read once
        binning = _plain((getattr(graph, "metadata", None) or {}).get("input_binning") or {})
        if bin_us is not None:
            binning = {"bin_us": int(bin_us), "n_bins": n_bins, "frames": "binary"}
        elif n_bins is not None:
            binning["n_bins"] = int(n_bins)
        binning = {k: v for k, v in binning.items() if v is not None}
        if carriers >= 0:  # run / verify append the always-on channel to the input
            binning[ALWAYS_ON_INPUT] = 1
        if carriers > 0:  # checked before anything is written
            with tempfile.TemporaryDirectory() as tmp:
                export_network(model, Path(tmp) / "int8.net", weight_bits=8, binning=binning)
                try:
                    check_always_on(Path(tmp) / "int8.net", carriers)
                except NIRError as exc:
                    raise NIRError(f"{path}: {exc}") from None
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        save_atomic({"model_config": model.config, "model": model.state_dict(),
                     "source": str(path)}, out / "model.pt")
        model.export_hdf5(out / "network.net", binning)
        info = export_network(model, out / "network_int8.net", weight_bits=8, binning=binning)
    return {"model": str(out / "model.pt"), "network": str(out / "network_int8.net"),
            "layers": [{"levels": i["levels"], "shift": i["shift"]} for i in info],
            "threshold": model.neuron_params["threshold"], "binning": binning,
            "warnings": [str(w.message) for w in caught
                         if issubclass(w.category, UserWarning)]}


def check_always_on(path: str | Path, carriers: int, steps: int = 6) -> None:
    """Raise :class:`NIRError` unless, in the integer model of the deploy file at
    ``path``, the last neuron of each of the first ``carriers`` layers spikes at every step
    from the step its layer is first driven (on an input that holds only the always-on
    channel): what makes it an exact stand-in for a bias into the next layer's current."""
    import torch

    from .emulate import emulate, input_shape_of
    net = load_int_network(path)
    for i, layer in enumerate(net.layers[:carriers]):  # the current a constant drive reaches
        drive = float(abs(np.asarray(layer.weight)[-1, -1])) * 2.0 ** layer.weight_exp * 64
        if layer.i_decay <= 0 or drive * 4096 / layer.i_decay >= 2 ** 23:
            raise NIRError(f"layer {i}'s always-on neuron's current would pass Lava's "
                           f"24-bit limit (its synaptic current barely decays: tau_syn too "
                           f"long for dt); such a bias cannot run exactly")
    x = torch.zeros(1, *input_shape_of(net), steps + carriers)
    x[:, -1] = 1
    spikes = emulate(net, x, record_layers=True).layer_spikes
    for i in range(carriers):
        train = spikes[i][0].reshape(-1, x.shape[-1])[-1]  # its last neuron over time
        first = int(torch.nonzero(train).min()) if train.any() else None
        if first is None or not bool(train[first:].all()):
            raise NIRError(f"layer {i}'s always-on neuron does not spike at every "
                           f"step in the integer model (its drive does not reach the "
                           f"threshold after quantisation)")


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m netx_export.nir", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("export", help="a run's checkpoint.pt or a .net file to NIR")
    e.add_argument("source", help="RUN/checkpoint.pt or NET.net")
    e.add_argument("--out", required=True, help="NIR file to write")
    i = sub.add_parser("import", help="a NIR graph to a lava-sast model and NetX files")
    i.add_argument("graph", help="NIR file")
    i.add_argument("--out", required=True, help="folder for model.pt and the .net files")
    i.add_argument("--dt", type=positive_float, default=None,
                   help="time step the graph's time constants are written for (default: "
                        "the graph's metadata, else 1e-4: snnTorch's, and the NIR paper's "
                        "Norse graphs'); a decay that the step makes implausible is warned "
                        "about")
    i.add_argument("--bin-us", type=positive_int, default=None,
                   help="input time bin the net expects, in microseconds, recorded in the "
                        "deploy file for netx_export.run and verify (default: the graph's "
                        "metadata, else the dataset's own binning at run time; the NIR "
                        "paper's N-MNIST CNN takes 1 ms frames: 1000)")
    i.add_argument("--n-bins", type=positive_int, default=None,
                   help="time bins per sample (default: the dataset's time window)")
    a = p.parse_args(argv)
    if a.command == "export":
        code, graph = run_guarded(lambda: export_file(a.source, a.out), ERRORS,
                                  "nothing was written")
        if not code:
            print(f"wrote {a.out}: {len(graph.nodes)} nodes")
        return code
    code, done = run_guarded(lambda: import_file(a.graph, a.out, a.dt, a.bin_us, a.n_bins),
                             ERRORS, "nothing was written")
    if not code:
        for w in done["warnings"]:
            print(f"warning: {w}", file=sys.stderr)
        binning = (f"input bins of {done['binning']['bin_us']} us"
                   if "bin_us" in done["binning"] else
                   "the dataset's own binning (pass --bin-us to record the graph's)")
        if done["binning"].get(ALWAYS_ON_INPUT):
            binning += ("; its biases into synaptic currents run as an always-on last "
                        "input channel, which run and verify append")
        print(f"wrote {done['model']}, {done['network']} (threshold {done['threshold']:g}; "
              f"levels per layer {[l['levels'] for l in done['layers']]}; {binning})")
    return code


if __name__ == "__main__":
    sys.exit(main())
