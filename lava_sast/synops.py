"""Synaptic operations: every input spike of a layer costs its fan-out."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from lava.lib.dl.slayer.synapse.layer import Conv as SlayerConv


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


def fan_out(block: torch.nn.Module, input_shape: tuple[int, ...]) -> torch.Tensor:
    """Number of synapses leaving each input neuron of ``block`` (shape ``input_shape``)."""
    syn = block.synapse
    if not isinstance(syn, SlayerConv):
        return torch.full(input_shape, float(syn.out_channels))
    return conv_fan_out(input_shape, tuple(syn.weight.shape[2:4]), syn.stride[:2],
                        syn.padding[:2], syn.dilation[:2],
                        syn.out_channels // syn.groups).float()


def layer_synops(block: torch.nn.Module, layer_input: torch.Tensor) -> torch.Tensor:
    """SynOps per sample for ``layer_input [N, ..., T]`` entering ``block``; shape ``[N]``."""
    counts = layer_input.sum(-1)
    fo = fan_out(block, tuple(counts.shape[1:]))
    return (counts * fo).flatten(1).sum(1)
