"""Dataset spikes checked against a network's input size."""
from __future__ import annotations

import torch

from lava_sast.datasets import DatasetError, load_dataset

from .emulate import input_shape_of
from .netx_model import IntNetwork


def load_inputs(net: IntNetwork, dataset: str, data_dir: str | None, split: str,
                samples: int | None) -> tuple[torch.Tensor, torch.Tensor, int]:
    """``(spikes [N, *input, T], labels, T)`` for ``net``; raises if sizes disagree."""
    data = load_dataset(dataset, data_dir, split, max_samples=samples)
    shape = input_shape_of(net)
    per_sample = int(torch.tensor(data.spikes.shape[1:-1]).prod())
    if per_sample != int(torch.tensor(shape).prod()):
        raise DatasetError(
            f"dataset {dataset!r} gives {tuple(data.spikes.shape[1:-1])} = {per_sample} inputs "
            f"per time bin (sensor {data.spec.frame_size}), but network {net.path} expects "
            f"{shape}")
    outputs = net.layers[-1].num_neurons
    if outputs != data.num_classes:
        raise DatasetError(f"network {net.path} has {outputs} outputs, but dataset "
                           f"{dataset!r} has {data.num_classes} classes")
    spikes = data.spikes.float().reshape(len(data), *shape, data.spikes.shape[-1])
    return spikes, data.labels, data.spikes.shape[-1]
