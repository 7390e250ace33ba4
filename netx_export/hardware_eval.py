"""INT8 / INT4 hardware-aware metrics for training reports (emulator, whole split), and
training with them: the hook :func:`lava_sast.trainer.train` takes from the command line."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import torch

from lava_sast.config import TrainConfig
from lava_sast.datasets import BinnedDataset
from lava_sast.trainer import train
from lava_sast.device import module_device
from lava_sast.models import SastNetwork, binning_of

from .emulate import emulate_dataset
from .export import export_network
from .netx_model import NetworkFileError, load_int_network


def _emulated_accuracy(net, data: BinnedDataset, device: torch.device) -> tuple[float, Any]:
    emu, labels = emulate_dataset(net, data, device=device)
    return float((emu.predictions.cpu() == labels).float().mean()), emu


def hardware_metrics(model: SastNetwork, test: BinnedDataset, out: str | Path,
                     val: Optional[BinnedDataset] = None,
                     official: Optional[BinnedDataset] = None,
                     bits: tuple[int, ...] = (8, 4)) -> dict[str, Any]:
    """Export ``model`` at each weight width into ``out/network_int{b}.net`` and
    report emulator accuracy, per-sample predictions and SynOps on ``test`` (and accuracy
    on ``val``, and on ``official`` as ``official_int{b}_accuracy``: the dataset's own
    test split when ``test`` is a cross-validation fold), emulated on the model's device.  A net that
    cannot be deployed (a layer quantised to zero) gets ``int{b}_accuracy = None`` and
    ``int{b}_error`` saying which layer."""
    result: dict[str, Any] = {}
    device = module_device(model)
    for b in bits:
        path = Path(out) / f"network_int{b}.net"
        info = export_network(model, path, weight_bits=b, binning=binning_of(test.spec))
        result[f"int{b}_layers"] = info
        result[f"int{b}_network"] = path.name
        try:
            net = load_int_network(path)
        except NetworkFileError as exc:  # e.g. a layer rounded to zero: not deployable
            result[f"int{b}_accuracy"] = None
            result[f"int{b}_error"] = str(exc)
            continue
        acc, emu = _emulated_accuracy(net, test, device)
        result[f"int{b}_accuracy"] = acc
        result[f"int{b}_predictions"] = emu.predictions.tolist()
        result[f"int{b}_synops_per_sample"] = float(emu.synops.sum(1).mean())
        result[f"int{b}_synops_per_layer"] = emu.synops.mean(0).tolist()
        if val is not None and len(val):
            result[f"val_int{b}_accuracy"] = _emulated_accuracy(net, val, device)[0]
        if official is not None:
            result[f"official_int{b}_accuracy"] = _emulated_accuracy(net, official, device)[0]
    return result


def train_and_deploy(cfg: TrainConfig, **kwargs: Any) -> dict[str, Any]:
    """:func:`lava_sast.trainer.train` with the INT8/INT4 export and emulator scores in its
    report (what ``python -m lava_sast.train`` runs)."""
    return train(cfg, hardware=hardware_metrics, **kwargs)
