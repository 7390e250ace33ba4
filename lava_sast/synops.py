"""Synaptic operations: every input spike of a layer costs its fan-out."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from lava.lib.dl.slayer.synapse.layer import Conv as SlayerConv


def fan_out(block: torch.nn.Module, input_shape: tuple[int, ...]) -> torch.Tensor:
    """Number of synapses leaving each input neuron of ``block`` (shape ``input_shape``)."""
    syn = block.synapse
    if not isinstance(syn, SlayerConv):
        return torch.full(input_shape, float(syn.out_channels))
    c, h, w = input_shape
    with torch.enable_grad():
        probe = torch.zeros(1, 1, h, w, requires_grad=True)
        F.conv2d(probe, torch.ones(1, 1, *syn.weight.shape[2:4]),
                 stride=syn.stride[:2], padding=syn.padding[:2],
                 dilation=syn.dilation[:2]).sum().backward()
    per_group = syn.out_channels // syn.groups
    return (probe.grad[0, 0] * per_group).expand(c, h, w).clone()


def layer_synops(block: torch.nn.Module, layer_input: torch.Tensor) -> torch.Tensor:
    """SynOps per sample for ``layer_input [N, ..., T]`` entering ``block``; shape ``[N]``."""
    counts = layer_input.sum(-1)
    fo = fan_out(block, tuple(counts.shape[1:]))
    return (counts * fo).flatten(1).sum(1)
