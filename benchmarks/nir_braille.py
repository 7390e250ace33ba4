"""The NIR paper's Braille RNN graphs (snnTorch: CubaLIF layers, a recurrent Affine edge,
trained biases, per-layer decays, dt 1e-4) imported as they are, checked against Lava
``fixed_pt`` and compared with Norse's and snnTorch's own runs of the same graph.

The graphs are not in ``../shared/data`` and are not committed here; take them from the
NIR repository (``paper/03_rnn/braille_noDelay_bias_zero.nir`` and
``braille_noDelay_noBias_subtract.nir`` of github.com/neuromorphs/NIR) and pass their
paths::

    python benchmarks/nir_braille.py --graphs DIR/braille_noDelay_bias_zero.nir \\
        DIR/braille_noDelay_noBias_subtract.nir

For each graph, on the same random tactile input (12 channels, ``--steps`` steps, each
channel spiking with probability ``--density`` per step): ``python -m netx_export.nir
import`` (a bias into a persistent current becomes an always-on input channel), the INT8
deploy file in the emulator and, on ``--lava-samples`` inputs, in Lava (spike mismatches,
which must be 0), Norse's ``from_nir`` at dt 1e-4, and snnTorch's modules.  snnTorch
1.0.0's ``import_from_nir`` fails on a recurrent graph with nirtorch 2.6 (its RNN subgraph
reaches nirtorch's state builder as a GraphModule: ``AttributeError: 'GraphModule' object
has no attribute 'items'``); the error is recorded, and snnTorch's own node modules
(``_nir_to_snntorch_module``, the map ``import_from_nir`` passes) are run through
nirtorch's interpreter instead.  Reported: output spikes per step and predicted classes
(most output spikes) equal to Norse's, for snnTorch, our float model (hard spikes, full
precision, Loihi's decays; one sample at a time, as Norse runs them) and the INT8 net
(streamed as Lava runs it: a recurrent layer's last spikes of one sample reach the next
sample's first step).  Prints a table; writes ``benchmarks/results/nir_braille.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

import lava_sast  # noqa: F401  (compat hook before lava imports)
import nir
import nirtorch
import norse.torch as norse

from lava_sast.atomic import write_json_atomic
from lava_sast.nir_graph import DT, imported_model, stepped
from netx_export.data_input import with_always_on
from netx_export.emulate import emulate
from netx_export.netx_model import load_int_network
from netx_export.nir import import_file
from netx_export.verify import compare


def snntorch_net(path: Path) -> tuple[torch.nn.Module, str]:
    """snnTorch's import of the graph; where ``import_from_nir`` fails, its own node
    modules through nirtorch's interpreter, with the error."""
    from snntorch import import_nir
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return import_nir.import_from_nir(nir.read(str(path))), ""
    except Exception as exc:  # snnTorch 1.0.0 + nirtorch 2.6 on a recurrent graph
        error = f"{type(exc).__name__}: {exc}"
    module = lambda n: import_nir._nir_to_snntorch_module(n, init_hidden=True)  # noqa: E731
    node_map = {k: module for k in (nir.Affine, nir.Linear, nir.CubaLIF, nir.LIF, nir.IF)}
    return nirtorch.nir_to_torch(nir.read(str(path)), node_map), error


def best_shift(ref: torch.Tensor, ours: torch.Tensor, most: int = 4) -> tuple[int, float]:
    """The delay ``d`` (0..``most``) at which ``ours[..., t + d]`` agrees best with
    ``ref[..., t]``, and that agreement (share of equal output spikes)."""
    scores = []
    for d in range(most + 1):
        n = ref.shape[-1] - d
        scores.append(float((ref[..., :n] == ours[..., d:d + n]).float().mean()))
    d = int(np.argmax(scores))
    return d, scores[d]


def bias_levels(graph: nir.NIRGraph) -> list[float]:
    """Least and largest nonzero |bias| of the weight nodes, in 8-bit levels of their node's
    largest weight (127 levels: what a bias keeps as a weight column at Loihi's 8 bits)."""
    levels = [127 * np.abs(n.bias[n.bias != 0]) / np.abs(n.weight).max()
              for n in graph.nodes.values() if isinstance(n, nir.Affine) and np.any(n.bias)]
    if not levels:
        return []
    flat = np.concatenate(levels)
    return [round(float(flat.min()), 1), round(float(flat.max()), 1)]


def markdown(rows: list[dict]) -> str:
    """The docs table (docs/nir.md) of the benchmark's rows."""
    lines = ["| graph | Lava vs emulator: mismatching spikes | snnTorch modules | our float "
             "model | INT8 (= Lava) | INT8, one sample per run: classes | threshold (integer "
             "units) | biases (8-bit levels) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        def pair(key: str) -> str:
            return f"{r[key + '_step_agreement']:.1%} / {r[key + '_class_agreement']:.0%}"
        levels = r["bias_levels_at_8_bits"]
        lines.append(f"| {r['graph']} | {sum(r['lava_spike_mismatches'])} | "
                     f"{pair('snntorch')} | {pair('float_model')} | {pair('int8')} | "
                     f"{r['int8_alone_class_agreement']:.0%} | "
                     f"{r['threshold_integer_units']} | "
                     f"{f'{levels[0]:g}–{levels[1]:g}' if levels else 'none'} |")
    return "\n".join(lines) + "\n\n(Output spikes per step / predicted classes equal to Norse's run.)\n"


def one_graph(path: Path, x: torch.Tensor, lava_samples: int, tmp: Path) -> dict:
    graph = nir.read(str(path))
    ref = stepped(norse.from_nir(graph, dt=DT), x)
    ref_cls = ref.sum(-1).argmax(1)
    snn, snn_error = snntorch_net(path)
    theirs = stepped(snn, x)
    done = import_file(path, tmp / path.stem)
    model, _ = imported_model(nir.read(str(path)), None, always_on=True)
    net = load_int_network(done["network"])
    xin = with_always_on(net, x)
    with torch.no_grad():  # one sample at a time, as Norse runs them (a batch would carry
        own = torch.cat([model(xin[i:i + 1].reshape(1, -1, 1, 1, x.shape[-1]))  # Lava's
                         .reshape(1, -1, x.shape[-1]) for i in range(len(x))])  # recurrent buffer
    emu = emulate(net, xin, record_layers=True)
    out = emu.layer_spikes[-1].float().reshape(len(x), -1, x.shape[-1])
    alone = torch.cat([emulate(net, xin[i:i + 1]).output_counts for i in range(len(x))])
    d_own, own_eq = best_shift(ref, own)
    d_int, int_eq = best_shift(ref, out)
    lava = compare(done["network"], xin[:lava_samples], timeout_s=600, show_progress=False)

    def classes(s: torch.Tensor, d: int) -> float:
        return float((s[..., d:].sum(-1).argmax(1) == ref_cls).float().mean())

    return {"graph": path.name, "always_on_input": bool(done["binning"].get("always_on")),
            "threshold_integer_units": int(round(done["threshold"] * 64)),
            "bias_levels_at_8_bits": bias_levels(graph),
            "threshold": done["threshold"], "levels_per_layer": [l["levels"]
                                                                 for l in done["layers"]],
            "warnings": done["warnings"],
            "norse_output_spikes": int(ref.sum()),
            "snntorch_import_from_nir_error": snn_error,
            "snntorch_step_agreement": float((theirs == ref).float().mean()),
            "snntorch_class_agreement": classes(theirs, 0),
            "float_model_delay": d_own, "float_model_step_agreement": own_eq,
            "float_model_class_agreement": classes(own, d_own),
            "int8_delay": d_int, "int8_step_agreement": int_eq,
            "int8_class_agreement": classes(out, d_int),
            "int8_alone_class_agreement": float((alone.argmax(1) == ref_cls).float().mean()),
            "lava_samples": lava_samples, "lava_spike_mismatches": lava["spike_mismatches"],
            "lava_spikes_per_layer": lava["spikes_per_layer"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--graphs", nargs="+", required=True, type=Path, help="Braille .nir files")
    p.add_argument("--samples", type=int, default=50)
    p.add_argument("--steps", type=int, default=256)
    p.add_argument("--density", type=float, default=0.05)
    p.add_argument("--lava-samples", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="benchmarks/results/nir_braille.json")
    a = p.parse_args(argv)
    missing = [str(g) for g in a.graphs if not g.is_file()]
    if missing:
        print(f"error: graph {missing[0]} does not exist (the NIR repository's "
              f"paper/03_rnn/ holds the Braille graphs)", file=sys.stderr)
        return 2
    gen = torch.Generator().manual_seed(a.seed)
    x = (torch.rand(a.samples, 12, a.steps, generator=gen) < a.density).float()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [one_graph(g, x, a.lava_samples, Path(tmp)) for g in a.graphs]
    command = (f"python benchmarks/nir_braille.py --graphs "
               f"{' '.join('DIR/' + g.name for g in a.graphs)} --samples {a.samples} "
               f"--steps {a.steps} --density {a.density} --lava-samples {a.lava_samples} "
               f"--seed {a.seed}")  # DIR: the NIR repository's paper/03_rnn
    result = {"command": command, "samples": a.samples, "steps": a.steps,
        "density": a.density, "seed": a.seed, "graphs": rows, "markdown": markdown(rows)}
    print(result["markdown"])
    print(f"{'graph':34} {'Lava mism.':>10} {'snnTorch':>9} {'float':>7} {'INT8':>7}"
          f"   (output spikes per step / classes equal to Norse's)")
    for r in rows:
        print(f"{r['graph']:34} {str(r['lava_spike_mismatches']):>10} "
              f"{r['snntorch_step_agreement']:6.1%}/{r['snntorch_class_agreement']:4.0%} "
              f"{r['float_model_step_agreement']:6.1%}/{r['float_model_class_agreement']:4.0%}"
              f" {r['int8_step_agreement']:6.1%}/{r['int8_class_agreement']:4.0%}")
    write_json_atomic(a.out, result)
    return 0 if all(not any(r["lava_spike_mismatches"]) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
