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
from pathlib import Path
from typing import Any, Optional, Sequence

import h5py
import numpy as np

from lava_sast.atomic import atomic_path
from lava_sast.checkpoint import load_checkpoint, network_from_checkpoint, save_atomic
from lava_sast.cli_types import positive_float
from lava_sast.interrupt import run_guarded
from lava_sast.nir_graph import NIRError, graph_from_layers, graph_from_model, model_from_file

from .export import export_network
from .netx_model import NetworkFileError, load_int_network

ERRORS = (NIRError, NetworkFileError, FileNotFoundError, ValueError, OSError)


def graph_from_netx(path: str | Path) -> Any:
    """The NIR graph of a NetX hdf5 deploy file (weights and threshold over SLAYER's scale
    64, decays over 4096)."""
    net = load_int_network(path)  # checks the file, names its problems
    layers: list[dict[str, Any]] = []
    with h5py.File(path, "r") as f:
        groups = [f["layer"][k] for k in sorted(f["layer"], key=int)]
        for g in groups:
            kind = g["type"][0].decode() if g["type"].shape else g["type"][()].decode()
            if kind == "input":
                continue
            if kind == "flatten":
                layers.append({"kind": "flatten"})
                continue
            n = g["neuron"]
            layer = {"kind": kind, "weight": np.asarray(g["weight"][()], np.float64) / 64,
                     "threshold": float(n["vThMant"][()]) / 64,
                     "current_decay": float(n["iDecay"][()]) / 4096,
                     "voltage_decay": float(n["vDecay"][()]) / 4096}
            if kind == "conv":
                for key in ("stride", "padding", "dilation"):
                    layer[key] = [int(v) for v in np.broadcast_to(g[key][()], 2)]
                layer["groups"] = int(g["groups"][()])
            layers.append(layer)
    conv_input = net.input_shape is not None
    input_shape = net.input_shape if conv_input else (net.input_size, 1, 1)
    return graph_from_layers(layers, input_shape, conv_input)


def export_file(source: str | Path, out: str | Path) -> Any:
    """Write the NIR graph of a run's ``checkpoint.pt`` or a ``.net`` file to ``out``."""
    import nir
    source = Path(source)
    if source.suffix == ".net":
        graph = graph_from_netx(source)
    else:
        graph = graph_from_model(network_from_checkpoint(load_checkpoint(source), source))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        nir.write(tmp, graph)
    return graph


def import_file(path: str | Path, out: str | Path, dt: Optional[float] = None) -> dict:
    """Read the NIR graph at ``path`` and write ``out/model.pt``, ``out/network.net`` and
    ``out/network_int8.net``; returns what was written."""
    model = model_from_file(path, dt)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_atomic({"model_config": model.config, "model": model.state_dict(),
                 "source": str(path)}, out / "model.pt")
    model.export_hdf5(out / "network.net")
    info = export_network(model, out / "network_int8.net", weight_bits=8)
    return {"model": str(out / "model.pt"), "network": str(out / "network_int8.net"),
            "layers": [{"levels": i["levels"], "shift": i["shift"]} for i in info],
            "threshold": model.neuron_params["threshold"]}


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
                   help="time step the graph was written for (default: the graph's "
                        "metadata, else snnTorch's 1e-4; Norse uses 1e-3)")
    a = p.parse_args(argv)
    if a.command == "export":
        code, graph = run_guarded(lambda: export_file(a.source, a.out), ERRORS,
                                  "nothing was written")
        if not code:
            print(f"wrote {a.out}: {len(graph.nodes)} nodes")
        return code
    code, done = run_guarded(lambda: import_file(a.graph, a.out, a.dt), ERRORS,
                             "nothing was written")
    if not code:
        print(f"wrote {done['model']}, {done['network']} (threshold {done['threshold']:g}; "
              f"levels per layer {[l['levels'] for l in done['layers']]})")
    return code


if __name__ == "__main__":
    sys.exit(main())
