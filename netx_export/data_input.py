"""Dataset spikes checked against a network's input size."""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from lava_sast.datasets import BinnedDataset, DatasetError, load_dataset
from lava_sast.nir_graph import ALWAYS_ON_INPUT

from .emulate import input_shape_of
from .netx_model import IntNetwork


def always_on_channels(net: IntNetwork) -> int:
    """How many always-on channels end the net's input (its file's input record: a NIR
    graph's bias into a persistent current, :func:`lava_sast.nir_graph._always_on`); the
    data gives the rest, and :func:`with_always_on` appends them."""
    return int((net.binning or {}).get(ALWAYS_ON_INPUT, 0))


def data_shape(net: IntNetwork) -> tuple[int, ...]:
    """Per-step shape of the data a net takes: its input without the always-on channels
    (:func:`always_on_channels`; a net with them has a flat input)."""
    shape = input_shape_of(net)
    k = always_on_channels(net)
    return (shape[0] - k,) if k else shape


def with_always_on(net: IntNetwork, spikes: torch.Tensor) -> torch.Tensor:
    """``spikes`` ``[N, inputs, T]`` with the net's always-on channels (spiking at every
    step) appended after the data's inputs."""
    k = always_on_channels(net)
    if not k:
        return spikes
    return torch.cat([spikes, spikes.new_ones(spikes.shape[0], k, spikes.shape[-1])], 1)


def binning_for(net: IntNetwork, bin_us: Optional[int] = None,
                n_bins: Optional[int] = None) -> tuple[Optional[int], Optional[int]]:
    """``(bin_us, n_bins)`` to bin a dataset for ``net``: those given, else the binning the
    net's file records (``None``: the dataset's own)."""
    if bin_us is not None:
        return bin_us, n_bins
    recorded = net.binning or {}
    return recorded.get("bin_us"), n_bins if n_bins is not None else recorded.get("n_bins")


def load_checked(net: IntNetwork, dataset: str, data_dir: Optional[str], split: str,
                 samples: Optional[int], cache_dir: Optional[str] = None,
                 download: bool = False, bin_us: Optional[int] = None,
                 n_bins: Optional[int] = None) -> BinnedDataset:
    """The ``split`` of ``dataset`` (``samples``: a class-stratified subset), binned as the
    net's file records unless ``bin_us`` / ``n_bins`` are given, after checking that it
    fits ``net``: inputs per time bin and classes; raises :class:`DatasetError`."""
    bin_us, n_bins = binning_for(net, bin_us, n_bins)
    data = load_dataset(dataset, data_dir, split, bin_us, n_bins, max_samples=samples,
                        cache_dir=cache_dir, download=download)
    shape = data_shape(net)
    per_bin = data.sample_shape[:-1]
    if int(np.prod(per_bin)) != int(np.prod(shape)):
        raise DatasetError(
            f"dataset {dataset!r} gives {tuple(per_bin)} = {int(np.prod(per_bin))} inputs "
            f"per time bin (sensor {data.spec.frame_size}), but network {net.path} expects "
            f"{shape}")
    outputs = net.layers[-1].num_neurons
    if outputs != data.num_classes:
        raise DatasetError(f"network {net.path} has {outputs} outputs, but dataset "
                           f"{dataset!r} has {data.num_classes} classes")
    return data


def load_inputs(net: IntNetwork, dataset: str, data_dir: Optional[str], split: str,
                samples: Optional[int], cache_dir: Optional[str] = None,
                download: bool = False, bin_us: Optional[int] = None,
                n_bins: Optional[int] = None) -> tuple[torch.Tensor, torch.Tensor, int]:
    """``(spikes [N, *input, T], labels, T)`` for ``net`` (all in memory: for Lava runs)."""
    data = load_checked(net, dataset, data_dir, split, samples, cache_dir, download, bin_us,
                        n_bins)
    steps = data.sample_shape[-1]
    spikes = data.spikes.float().reshape(len(data), *data_shape(net), steps)
    return with_always_on(net, spikes), data.labels, steps
