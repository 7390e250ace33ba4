"""Emulator vs Lava: spike mismatches and speedup, 8- and 4-bit, one run side by side.

``python benchmarks/emulator_speedup.py [--checkpoint RUN/checkpoint.pt] [--samples 100]``

Without a checkpoint it trains a SAST net on real N-MNIST (``../shared/data``)
for a few epochs, or on the embedded digits when that folder is absent.
Prints a table; writes ``benchmarks/results/emulator_speedup.json``.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import lava_sast  # noqa: F401
from lava_sast.config import TrainConfig
from netx_export.hardware_eval import train_and_deploy
from netx_export.data_input import load_inputs
from lava_sast.checkpoint import load_network
from netx_export.export import export_network
from netx_export.netx_model import load_int_network
from netx_export.verify import compare

ROOT = Path(__file__).resolve().parents[1]
NMNIST = ROOT.parent / "shared" / "data" / "nmnist-small"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--epochs", type=int, default=5)
    a = p.parse_args()
    dataset, data_dir = ("nmnist", str(NMNIST)) if NMNIST.is_dir() else ("digits", None)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = a.checkpoint
        if ckpt is None:
            train_and_deploy(TrainConfig(dataset=dataset, data_dir=data_dir, epochs=a.epochs,
                              hardware_eval=False, out=tmp))
            ckpt = f"{tmp}/checkpoint.pt"
        model = load_network(ckpt)
        rows = []
        for bits in (8, 4):
            path = f"{tmp}/net{bits}.net"
            export_network(model, path, weight_bits=bits)
            inputs, _, _ = load_inputs(load_int_network(path), dataset, data_dir, "test",
                                       a.samples)
            r = compare(path, inputs)
            rows.append({"weight_bits": bits, **r})
    print(f"\nEmulator vs Lava Loihi2SimCfg(fixed_pt), dataset {dataset}, "
          f"{rows[0]['samples']} samples x {rows[0]['steps_per_sample']} steps")
    print(f"{'bits':>4} | {'mismatches per layer':>22} | {'Lava samples/s':>14} | "
          f"{'emulator samples/s':>18} | {'speedup':>8}")
    for r in rows:
        print(f"{r['weight_bits']:>4} | {str(r['spike_mismatches']):>22} | "
              f"{r['lava_samples_per_s']:>14.1f} | {r['emulator_samples_per_s']:>18.0f} | "
              f"{r['speedup']:>7.0f}x")
    out = ROOT / "benchmarks" / "results" / "emulator_speedup.json"
    out.write_text(json.dumps({"dataset": dataset, "rows": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
