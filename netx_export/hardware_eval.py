"""INT8 / INT4 hardware-aware metrics for training reports (emulator, whole split)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from lava_sast.datasets import BinnedDataset
from lava_sast.models import SastNetwork

from .emulate import emulate
from .export import export_network
from .netx_model import load_int_network


def hardware_metrics(model: SastNetwork, test: BinnedDataset, out: str | Path,
                     bits: tuple[int, ...] = (8, 4)) -> dict[str, Any]:
    """Export ``model`` at each weight width into ``out/network_int{b}.net`` and
    report emulator accuracy and SynOps on ``test``."""
    result: dict[str, Any] = {}
    for b in bits:
        path = Path(out) / f"network_int{b}.net"
        info = export_network(model, path, weight_bits=b)
        emu = emulate(load_int_network(path), test.spikes.float())
        acc = float((emu.predictions == test.labels).float().mean())
        result[f"int{b}_accuracy"] = acc
        result[f"int{b}_synops_per_sample"] = float(emu.synops.sum(1).mean())
        result[f"int{b}_synops_per_layer"] = emu.synops.mean(0).tolist()
        result[f"int{b}_layers"] = info
    return result
