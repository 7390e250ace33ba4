"""Vectorised, bit-exact emulator of Lava's fixed-point NetX networks.

Computes, for a batch of samples at once, exactly what Lava's ``fixed_pt``
``Dense``/``Conv`` + ``LIFReset`` process models compute for a NetX network
built with ``reset_interval = T`` and ``reset_offset = 1`` (see
:mod:`netx_export.lava_runner`): per layer, integer synaptic sums with the
weight exponent applied by arithmetic shift, current/voltage decay by
sign-magnitude 12-bit shifts, 24-bit wrap of ``u``, clip of ``v``, spike when
``v > vThMant << 6``, reset to zero.  With that reset schedule every layer
starts each sample from zero state and sees its input at the same step
index, so samples are independent and can be batched.
``python -m netx_export.verify`` checks this spike for spike against Lava.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from torch.utils.data import Dataset

from lava_sast.datasets import batches
from lava_sast.synops import conv_fan_out, dense_fan_out, synops_per_sample

from .netx_model import IntLayer, IntNetwork

UV_MAX = 2 ** 23


@dataclass
class EmulationResult:
    """Output spike counts ``[N, classes]``, SynOps ``[N, layers]`` and,
    when recorded, every layer's spikes ``[N, *shape, T]`` (bool)."""

    output_counts: torch.Tensor
    synops: torch.Tensor
    layer_spikes: Optional[list[torch.Tensor]] = None

    @property
    def predictions(self) -> torch.Tensor:
        return self.output_counts.argmax(dim=1)


def _decay(x: torch.Tensor, decay: int) -> torch.Tensor:
    """Lava's sign-magnitude 12-bit decay; a full decay (4096, an IF/LIF current) and no
    decay (0, an IF membrane) skip the arithmetic they would not change."""
    if decay == 4096:
        return torch.zeros_like(x)
    if decay == 0:
        return x
    prod = x * (4096 - decay)
    return torch.sign(prod) * (prod.abs() >> 12)


class _LayerState:
    def __init__(self, layer: IntLayer, batch: int, in_shape: tuple[int, ...],
                 device: torch.device) -> None:
        self.layer = layer
        self.u = torch.zeros(batch, *layer.shape, dtype=torch.int64, device=device)
        self.v = torch.zeros_like(self.u)
        self.vth = layer.vth << 6
        self.bias = (torch.as_tensor(np.asarray(layer.bias), dtype=torch.int64)
                     .reshape(layer.shape if layer.bias.size == np.prod(layer.shape)
                              else (-1,) + (1,) * (len(layer.shape) - 1)).to(device) << 6
                     if layer.bias is not None else 0)
        # float32 sums of integers are exact below 2**24 on the CPU; otherwise, and on GPUs
        # (whose float32 convolutions may run in TF32), float64
        bound = np.abs(layer.weight).reshape(layer.weight.shape[0], -1).sum(1).max()
        exact32 = bound < 2 ** 24 and device.type == "cpu"
        self.dtype = torch.float32 if exact32 else torch.float64
        self.weight = torch.as_tensor(layer.weight, dtype=self.dtype, device=device)
        self.fan_out = fan_out(layer, in_shape).to(device)

    def synaptic_input(self, s: torch.Tensor) -> torch.Tensor:
        lay = self.layer
        if lay.kind == "dense":
            acc = s.reshape(s.shape[0], -1).to(self.dtype) @ self.weight.T
        else:
            acc = F.conv2d(s.to(self.dtype), self.weight, stride=lay.stride, padding=lay.padding,
                           dilation=lay.dilation, groups=lay.groups)
        acc = acc.to(torch.int64)  # exact integers (see dtype choice above)
        if lay.kind == "conv":  # Lava's Conv wraps its output to signed 24 bit
            acc = (acc + UV_MAX) % (2 * UV_MAX) - UV_MAX
        if lay.weight_exp >= 0:
            return acc << lay.weight_exp
        return acc >> -lay.weight_exp

    def step(self, a: torch.Tensor) -> torch.Tensor:
        lay = self.layer
        u = _decay(self.u, lay.i_decay) + (a << 6)
        u = torch.where(u > UV_MAX, u - 2 * UV_MAX, u)
        u = torch.where(u <= -UV_MAX, u + 2 * UV_MAX, u)
        v = _decay(self.v, lay.v_decay) + u + self.bias
        v = v.clamp(-UV_MAX + 1, UV_MAX - 1)
        spike = v > self.vth
        self.u, self.v = u, torch.where(spike, torch.zeros_like(v), v)
        return spike


def fan_out(layer: IntLayer, in_shape: tuple[int, ...]) -> torch.Tensor:
    """Synapses leaving each input neuron of ``layer`` (input shape ``in_shape``)."""
    if layer.kind == "conv":
        return conv_fan_out(in_shape, tuple(layer.weight.shape[2:4]), layer.stride,
                            layer.padding, layer.dilation,
                            layer.weight.shape[0] // layer.groups)
    return dense_fan_out(in_shape, layer.weight.shape[0])


def layer_input_shapes(net: IntNetwork) -> list[tuple[int, ...]]:
    """Per-sample input shape of every weighted layer (dense inputs flattened)."""
    shapes, shape = [], input_shape_of(net)
    for layer in net.layers:
        if layer.kind == "dense":
            shape = (int(np.prod(shape)),)
        shapes.append(shape)
        shape = layer.shape
    return shapes


def input_shape_of(net: IntNetwork) -> tuple[int, ...]:
    """Per-sample input shape the emulator expects (without time)."""
    return tuple(net.input_shape) if net.layers[0].kind == "conv" else (net.input_size,)


@torch.no_grad()
def emulate(net: IntNetwork, spikes: torch.Tensor, record_layers: bool = False,
            batch_size: int = 256,
            device: Optional[torch.device | str] = None) -> EmulationResult:
    """Run ``spikes`` (``[N, *input, T]``, binary) through ``net`` in Lava integer arithmetic
    on ``device`` (default: the device of ``spikes``); results come back on the CPU."""
    shape = input_shape_of(net)
    if spikes.dim() >= 3 and int(np.prod(spikes.shape[1:-1])) == int(np.prod(shape)):
        spikes = spikes.reshape(spikes.shape[0], *shape, spikes.shape[-1])
    else:
        raise ValueError(f"{net.path}: input of shape {tuple(spikes.shape)} does not match "
                         f"the network input {shape} (expected [N, *{shape}, T])")
    device = torch.device(device) if device is not None else spikes.device
    parts = [_emulate_batch(net, spikes[start:start + batch_size].to(device), shape,
                            record_layers, device)
             for start in range(0, spikes.shape[0], batch_size)]
    return _concat(parts, record_layers)


@torch.no_grad()
def emulate_dataset(net: IntNetwork, data: Dataset, batch_size: int = 256,
                    device: Optional[torch.device | str] = None
                    ) -> tuple[EmulationResult, torch.Tensor]:
    """``(emulation, labels)`` of every sample of ``data``, one batch unpacked at a time
    (a large split never sits in memory as floats)."""
    device = torch.device(device or "cpu")
    parts, labels = [], []
    for x, y in batches(data, batch_size):
        parts.append(emulate(net, x, batch_size=batch_size, device=device))
        labels.append(torch.as_tensor(y))
    if not parts:
        raise ValueError(f"{net.path}: no samples to emulate")
    return _concat(parts, False), torch.cat(labels)


def _concat(parts: list[EmulationResult], record: bool) -> EmulationResult:
    layer_spikes = None
    if record:
        layer_spikes = [torch.cat([p.layer_spikes[k] for p in parts])
                        for k in range(len(parts[0].layer_spikes))]
    return EmulationResult(torch.cat([p.output_counts for p in parts]),
                           torch.cat([p.synops for p in parts]), layer_spikes)


#: time steps whose first-layer synaptic input is computed in one batched matmul / conv
TIME_BLOCK = 16


def _emulate_batch(net: IntNetwork, spikes: torch.Tensor, shape: tuple[int, ...],
                   record: bool, device: torch.device) -> EmulationResult:
    n, steps = spikes.shape[0], spikes.shape[-1]
    states = [_LayerState(layer, n, in_shape, device)
              for layer, in_shape in zip(net.layers, layer_input_shapes(net))]
    first = states[0]
    spike_sums = [torch.zeros(n, *st.layer.shape, dtype=torch.int64, device=device)
                  for st in states]
    traces: list[list[torch.Tensor]] = [[] for _ in states]
    for t0 in range(0, steps, TIME_BLOCK):
        # the first layer's input does not depend on state: one matmul for a block of steps
        x = spikes[..., t0:t0 + TIME_BLOCK]
        block = x.shape[-1]
        a0 = first.synaptic_input(x.movedim(-1, 1).reshape(n * block, *x.shape[1:-1]))
        a0 = a0.reshape(n, block, *a0.shape[1:])
        for j in range(block):
            s = first.step(a0[:, j])
            for k, st in enumerate(states):
                if k:
                    s_in = s.reshape(n, -1) if st.layer.kind == "dense" else s
                    s = st.step(st.synaptic_input(s_in))
                spike_sums[k] += s
                if record:
                    traces[k].append(s)
    # SynOps: every input spike costs its fan-out, so count spikes first, multiply once
    in_counts = [spikes.sum(-1)] + spike_sums[:-1]
    synops = torch.stack([synops_per_sample(c, st.fan_out)
                          for c, st in zip(in_counts, states)], dim=1)
    layer_spikes = [torch.stack(tr, dim=-1).cpu() for tr in traces] if record else None
    return EmulationResult(spike_sums[-1].reshape(n, -1).cpu(), synops.cpu(), layer_spikes)
