"""Synaptic operations: every input spike of a layer costs its fan-out.

The one SynOps implementation: training reports (SLAYER blocks), the fixed-point
emulator and Lava runs (:mod:`netx_export`) all count with :func:`synops_per_sample`
over the fan-outs given here.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .layers import FanOut, kind_of


def dense_fan_out(input_shape: tuple[int, ...], out_features: int) -> torch.Tensor:
    """Fan-out of each input neuron of a dense layer: every output."""
    return torch.full(input_shape, float(out_features), dtype=torch.float64)


def conv_fan_out(input_shape: tuple[int, ...], kernel: tuple[int, int],
                 stride: tuple[int, int], padding: tuple[int, int],
                 dilation: tuple[int, int], out_per_group: int) -> torch.Tensor:
    """Fan-out of each input neuron ``(C, H, W)`` of a 2-D convolution."""
    c, h, w = input_shape
    with torch.enable_grad():
        probe = torch.zeros(1, 1, h, w, dtype=torch.float64, requires_grad=True)
        F.conv2d(probe, torch.ones(1, 1, *kernel, dtype=torch.float64), stride=stride,
                 padding=padding, dilation=dilation).sum().backward()
    return (probe.grad[0, 0] * out_per_group).expand(c, h, w).clone()


def synops_per_sample(spike_counts: torch.Tensor, fan_out: torch.Tensor) -> torch.Tensor:
    """SynOps per sample: input spike counts ``[N, *shape]`` times their fan-out ``shape``."""
    counts = spike_counts.reshape(spike_counts.shape[0], *fan_out.shape).to(torch.float64)
    return (counts * fan_out.to(counts.device, torch.float64)).flatten(1).sum(1)


def fan_out_of(spec: FanOut, input_shape: tuple[int, ...]) -> torch.Tensor:
    """The fan-out tensor (shape ``input_shape``) a layer kind describes as ``spec``
    (:data:`lava_sast.layers.FanOut`)."""
    if spec[0] == "conv":
        return conv_fan_out(input_shape, *spec[1:])
    return dense_fan_out(input_shape, spec[1])


def fan_out(block: torch.nn.Module, input_shape: tuple[int, ...]) -> torch.Tensor:
    """Number of synapses leaving each input neuron of ``block`` (shape ``input_shape``),
    as its layer kind describes it (:mod:`lava_sast.layers`)."""
    return fan_out_of(kind_of(block).fan_out(block), input_shape)


def layer_synops(block: torch.nn.Module, layer_input: torch.Tensor) -> torch.Tensor:
    """SynOps per sample for ``layer_input [N, ..., T]`` entering ``block``; shape ``[N]``;
    a block whose kind feeds its own spikes to synapses (``own_spikes``) adds those spikes
    (of its last forward pass) times their fan-out."""
    counts = layer_input.sum(-1)
    ops = synops_per_sample(counts, fan_out(block, tuple(counts.shape[1:])))
    own = kind_of(block).own_spikes(block)
    if own is not None:
        spikes, n = own
        ops = ops + synops_per_sample(spikes, dense_fan_out(tuple(spikes.shape[1:]), n))
    return ops
