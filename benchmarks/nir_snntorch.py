"""An snnTorch net on N-MNIST through NIR into Lava (issue 19's acceptance, measured).

Trains a 2312-128-10 ``snn.Synaptic`` net in snnTorch for a few epochs on the N-MNIST
subset, writes it with the ``nir`` API in snnTorch's convention, imports it with
``python -m netx_export.nir import``, checks the NetX file against Lava with
``python -m netx_export.verify`` and compares predicted classes with snnTorch's own
``import_from_nir`` run of the same graph.  Prints a table; writes
``benchmarks/results/nir_snntorch.json``.

    python benchmarks/nir_snntorch.py --data-dir ../shared/data/nmnist-small
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

import lava_sast  # noqa: F401  (compat hook before lava imports)
import nir
import snntorch as snn
from snntorch.import_nir import import_from_nir

from lava_sast.datasets import load_dataset
from lava_sast.models import spike_modes
from lava_sast.nir_graph import DT, model_from_file, stepped
from netx_export.emulate import emulate_dataset
from netx_export.netx_model import load_int_network

ROOT = Path(__file__).resolve().parents[1]
ALPHA, BETA = 0.75, 0.97


def cuba(n: int) -> nir.CubaLIF:
    """A CubaLIF layer in snnTorch's convention (dt 1e-4, w_in = tau_syn/dt, r = tau_mem/dt)."""
    ts, tm = DT / (1 - ALPHA), DT / (1 - BETA)
    return nir.CubaLIF(tau_syn=np.full(n, ts), tau_mem=np.full(n, tm), r=np.full(n, tm / DT),
                       v_leak=np.zeros(n), v_threshold=np.ones(n), w_in=np.full(n, ts / DT))


def two_layer_graph(w1: np.ndarray, w2: np.ndarray) -> nir.NIRGraph:
    """Input -> Linear -> CubaLIF -> Linear -> CubaLIF -> Output, written with the nir API."""
    return nir.NIRGraph(
        nodes={"input": nir.Input(input_type={"input": np.array([w1.shape[1]])}),
               "fc1": nir.Linear(weight=w1), "lif1": cuba(w1.shape[0]),
               "fc2": nir.Linear(weight=w2), "lif2": cuba(w2.shape[0]),
               "output": nir.Output(output_type={"output": np.array([w2.shape[0]])})},
        edges=[("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"),
               ("lif2", "output")])


def train_snntorch(train, hidden: int, epochs: int, lr: float, classes: int = 10):
    """A Linear-Synaptic-Linear-Synaptic net trained in snnTorch on the flattened spikes of
    ``train`` (cross-entropy on spike counts); returns ``(graph, run)`` where ``run(x)``
    gives the trained net's output spikes for ``x`` ``[N, inputs, T]``."""
    n_in = int(np.prod(train.sample_shape[:-1]))
    fc1 = torch.nn.Linear(n_in, hidden, bias=False)
    fc2 = torch.nn.Linear(hidden, classes, bias=False)
    l1 = snn.Synaptic(alpha=ALPHA, beta=BETA, reset_mechanism="zero", reset_delay=False)
    l2 = snn.Synaptic(alpha=ALPHA, beta=BETA, reset_mechanism="zero", reset_delay=False)

    def run(x):
        s1, m1 = l1.init_synaptic()
        s2, m2 = l2.init_synaptic()
        out = []
        for t in range(x.shape[-1]):
            k, s1, m1 = l1(fc1(x[..., t]), s1, m1)
            o, s2, m2 = l2(fc2(k), s2, m2)
            out.append(o)
        return torch.stack(out, -1)

    opt = torch.optim.Adam([*fc1.parameters(), *fc2.parameters()], lr=lr)
    for epoch in range(epochs):
        for x, y in train.loader(32, shuffle=True, generator=torch.Generator().manual_seed(epoch)):
            loss = torch.nn.functional.cross_entropy(run(x.reshape(len(x), n_in, -1)).sum(-1), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return two_layer_graph(fc1.weight.detach().numpy(), fc2.weight.detach().numpy()), run


def snntorch_run(graph: nir.NIRGraph, x: torch.Tensor) -> torch.Tensor:
    """Output spikes of snnTorch's ``import_from_nir`` of ``graph`` for ``x`` ``[N, in, T]``."""
    return stepped(import_from_nir(graph), x)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default="../shared/data/nmnist-small")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--verify-samples", type=int, default=20)
    p.add_argument("--out", default="benchmarks/results/nir_snntorch.json")
    a = p.parse_args(argv)
    torch.manual_seed(0)
    train = load_dataset("nmnist", a.data_dir, "train")
    test = load_dataset("nmnist", a.data_dir, "test")
    graph, run = train_snntorch(train, 128, a.epochs, 1e-3)
    x, y = test[list(range(len(test)))]
    flat = x.reshape(len(x), 2312, -1)
    with torch.no_grad():
        own = run(flat)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "snn.nir"
        nir.write(str(path), graph)
        theirs = snntorch_run(nir.read(str(path)), flat)
        cli = [sys.executable, "-m", "netx_export.nir", "import", str(path), "--out",
               str(Path(tmp) / "imp")]
        subprocess.run(cli, cwd=ROOT, check=True, capture_output=True)
        net_file = Path(tmp) / "imp" / "network_int8.net"
        subprocess.run([sys.executable, "-m", "netx_export.verify", str(net_file),
                                 "--dataset", "nmnist", "--data-dir", a.data_dir, "--samples",
                                 str(a.verify_samples), "--out", str(Path(tmp) / "v.json")],
                                cwd=ROOT, check=True, capture_output=True, text=True)
        checked = json.loads((Path(tmp) / "v.json").read_text())
        model = model_from_file(path)
        with torch.no_grad(), spike_modes(model, ["hard"] * 2):
            ours = model(x)
        emu, labels = emulate_dataset(load_int_network(net_file), test)
    snn_pred, their_pred = own.sum(-1).argmax(1), theirs.sum(-1).argmax(1)
    result = {
        "snntorch_accuracy": float((snn_pred == y).float().mean()),
        "import_from_nir_equals_training_net": bool(torch.equal(own, theirs)),
        "float_hard_accuracy": float((ours.sum(-1).argmax(1) == y).float().mean()),
        "float_spike_agreement": float((ours == theirs).float().mean()),
        "float_class_agreement": float((ours.sum(-1).argmax(1) == their_pred).float().mean()),
        "int8_accuracy": float((emu.predictions == labels).float().mean()),
        "int8_class_agreement": float((emu.predictions == their_pred).float().mean()),
        "lava_spike_mismatches": checked["spike_mismatches"],
        "verify_samples": checked["samples"], "test_samples": len(test), "epochs": a.epochs,
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=1))
    rows = [("snnTorch accuracy (its own run)", result["snntorch_accuracy"]),
            ("lava-sast float hard-spike accuracy", result["float_hard_accuracy"]),
            ("  output spikes equal to snnTorch's import_from_nir", result["float_spike_agreement"]),
            ("  classes equal to snnTorch's", result["float_class_agreement"]),
            ("INT8 NetX accuracy (emulator = Lava)", result["int8_accuracy"]),
            ("  classes equal to snnTorch's", result["int8_class_agreement"])]
    print("| measure (N-MNIST test subset) | value |\n|---|---|")
    for label, v in rows:
        print(f"| {label} | {100 * v:.1f} % |")
    print(f"| Lava fixed_pt against the emulator, {checked['samples']} samples | "
          f"{sum(checked['spike_mismatches'])} mismatching spikes |")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
