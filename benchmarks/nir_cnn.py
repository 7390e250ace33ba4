"""The NIR paper's N-MNIST CNN (written by Sinabs: Conv2d, IF, SumPool2d, Affine) imported as
it is, run in the emulator, checked against Lava ``fixed_pt`` and against Norse's own import.

Imports ``../shared/data/nir-graphs/cnn_sinabs.nir`` with ``python -m netx_export.nir import
--bin-us 1000`` (the 1 ms frames the paper feeds it), scores the deploy file on the N-MNIST
test subset in the emulator (the recorded 1 ms bins, and the dataset's own 10 ms bins for
comparison), runs ``python -m netx_export.verify`` on a few samples, compares predicted
classes with Norse's ``from_nir`` run of the same graph on the same frames, and checks that
import -> export -> import gives the same deploy file byte for byte.  Prints a table; writes
``benchmarks/results/nir_cnn.json``.  Timings are a ratio measured in this run: the
emulator's samples per second over Norse's float forward pass.

    python benchmarks/nir_cnn.py --data-dir ../shared/data/nmnist-small
"""
from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import lava_sast  # noqa: F401  (compat hook before lava imports)
import nir
import norse.torch as norse

from lava_sast.datasets import load_dataset
from netx_export.emulate import emulate_dataset
from netx_export.netx_model import load_int_network
from netx_export.nir import export_file, import_file

ROOT = Path(__file__).resolve().parents[1]
GRAPH = ROOT.parent / "shared" / "data" / "nir-graphs" / "cnn_sinabs.nir"


def norse_counts(graph: nir.NIRGraph, x: torch.Tensor, batch: int = 25) -> torch.Tensor:
    """Output spike counts of Norse's import of ``graph`` for frames ``x`` ``[N, C, H, W, T]``
    (Sinabs's Flatten folds one sample; ``start_dim`` 1 keeps the batch axis)."""
    graph = copy.deepcopy(graph)
    for node in graph.nodes.values():
        if isinstance(node, nir.Flatten):
            node.start_dim = 1
    net = norse.from_nir(graph)
    counts = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            state, total = None, 0
            for t in range(x.shape[-1]):
                out, state = net(x[i:i + batch, ..., t], state)
                total = total + out
            counts.append(total)
    return torch.cat(counts)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default="../shared/data/nmnist-small")
    p.add_argument("--graph", default=str(GRAPH))
    p.add_argument("--verify-samples", type=int, default=3)
    p.add_argument("--out", default="benchmarks/results/nir_cnn.json")
    a = p.parse_args(argv)
    graph = nir.read(a.graph, type_check=False)
    with tempfile.TemporaryDirectory() as tmp:
        imported = Path(tmp) / "imp"
        subprocess.run([sys.executable, "-m", "netx_export.nir", "import", a.graph, "--out",
                        str(imported), "--bin-us", "1000"], cwd=ROOT, check=True,
                       capture_output=True)
        net_file = imported / "network_int8.net"
        net = load_int_network(net_file)
        test = load_dataset("nmnist", a.data_dir, "test", 1000)  # as the file records
        coarse = load_dataset("nmnist", a.data_dir, "test")  # the dataset's 10 ms bins
        start = time.perf_counter()
        emu, labels = emulate_dataset(net, test)
        emu_s = time.perf_counter() - start
        emu_coarse, _ = emulate_dataset(net, coarse)
        x, _ = test[list(range(len(test)))]
        start = time.perf_counter()
        theirs = norse_counts(graph, x).argmax(1)
        norse_s = time.perf_counter() - start
        subprocess.run([sys.executable, "-m", "netx_export.verify", str(net_file), "--dataset",
                        "nmnist", "--data-dir", a.data_dir, "--samples",
                        str(a.verify_samples), "--out", str(Path(tmp) / "v.json")],
                       cwd=ROOT, check=True, capture_output=True)
        checked = json.loads((Path(tmp) / "v.json").read_text())
        export_file(net_file, Path(tmp) / "again.nir")
        import_file(Path(tmp) / "again.nir", Path(tmp) / "again")
        same = (Path(tmp) / "again" / "network_int8.net").read_bytes() == net_file.read_bytes()
    result = {
        "graph": Path(a.graph).name, "test_samples": len(test),
        "int8_accuracy_1ms": float((emu.predictions == labels).float().mean()),
        "int8_accuracy_10ms": float((emu_coarse.predictions == labels).float().mean()),
        "norse_accuracy_1ms": float((theirs == labels).float().mean()),
        "class_agreement_with_norse": float((emu.predictions == theirs).float().mean()),
        "lava_spike_mismatches": checked["spike_mismatches"],
        "verify_samples": checked["samples"], "steps_per_sample": checked["steps_per_sample"],
        "import_export_import_identical": same,
        "emulator_over_norse_speed": norse_s / emu_s,
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=1))
    print(f"| {result['graph']} on the N-MNIST test subset ({len(test)} samples) | value |")
    print("|---|---|")
    for label, key in [("INT8 accuracy in the emulator, 1 ms frames (= Lava)", "int8_accuracy_1ms"),
                       ("  with the dataset's 10 ms frames", "int8_accuracy_10ms"),
                       ("Norse's import, 1 ms frames", "norse_accuracy_1ms"),
                       ("classes equal to Norse's", "class_agreement_with_norse")]:
        print(f"| {label} | {100 * result[key]:.1f} % |")
    print(f"| Lava fixed_pt against the emulator, {checked['samples']} samples x "
          f"{checked['steps_per_sample']} steps | {sum(checked['spike_mismatches'])} "
          f"mismatching spikes |")
    print(f"| import -> export -> import, same deploy file | {same} |")
    print(f"| emulator speed / Norse float forward speed (this run) | "
          f"{result['emulator_over_norse_speed']:.2f}x |")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
