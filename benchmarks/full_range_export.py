"""INT8 / INT4 accuracy of trained runs exported as before and with ``--full-range``.

For every ``RUN/checkpoint.pt`` given (the reported, best-validation net), exports at 8 and
4 bits with the default step range (``s >= 0``: one hdf5 unit at finest) and with the full
range (finer steps for small-weight layers, threshold scaled to match), and scores both
with the bit-exact emulator on the run's own test split.

``python benchmarks/full_range_export.py runs/study-nmnist/*_seed0 [--out NAME]``
Prints a table; writes ``benchmarks/results/full_range_export.json`` (or ``--out``).
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import lava_sast  # noqa: F401  (compat hook)

from lava_sast.atomic import write_json_atomic
from lava_sast.checkpoint import load_checkpoint, network_from_checkpoint
from lava_sast.config import TrainConfig, resolved
from lava_sast.trainer import load_splits
from netx_export.emulate import emulate
from netx_export.export import export_network
from netx_export.netx_model import NetworkFileError, load_int_network

ROOT = Path(__file__).resolve().parents[1]


def score(run: Path) -> dict:
    state = load_checkpoint(run / "checkpoint.pt")
    model = network_from_checkpoint(state, run)
    _, _, test = load_splits(resolved(TrainConfig.from_dict(state["config"])))
    row: dict = {"run": str(run)}
    with tempfile.TemporaryDirectory() as tmp:
        for bits in (8, 4):
            for full in (False, True):
                key = f"int{bits}_{'full' if full else 'default'}"
                path = Path(tmp) / f"{key}.net"
                info = export_network(model, path, bits, full_range=full)
                row[f"{key}_shifts"] = [layer["shift"] for layer in info]
                row[f"{key}_levels"] = [layer["levels"] for layer in info]
                try:
                    net = load_int_network(path)
                except NetworkFileError as exc:
                    row[key] = None
                    row[f"{key}_error"] = str(exc)
                    continue
                pred = emulate(net, test.spikes.float()).predictions
                row[key] = float((pred == test.labels).float().mean())
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--out", default="full_range_export.json")
    a = p.parse_args()
    rows = [score(run) for run in a.runs]
    pct = lambda v: "–" if v is None else f"{100 * v:.1f}"  # noqa: E731
    print("| run | INT8 | INT8 full range | INT4 | INT4 full range | shifts INT8 (default → full) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {Path(r['run']).name} | {pct(r['int8_default'])} | {pct(r['int8_full'])} | "
              f"{pct(r['int4_default'])} | {pct(r['int4_full'])} | "
              f"{r['int8_default_shifts']} → {r['int8_full_shifts']} |")
    out = ROOT / "benchmarks" / "results" / a.out
    write_json_atomic(out, {"rows": rows})
    print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
