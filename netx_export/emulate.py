"""Vectorised, bit-exact emulator of Lava's fixed-point NetX networks.

Computes, for a batch of samples at once, exactly what Lava's ``fixed_pt``
``Dense``/``Conv`` + ``LIFReset`` process models compute for a NetX network
built with ``reset_interval = T`` and ``reset_offset = 1`` (see
:mod:`netx_export.lava_runner`): per layer, integer synaptic sums with the
weight exponent applied by arithmetic shift, current/voltage decay by
sign-magnitude 12-bit shifts, 24-bit wrap of ``u``, the bias ``bias_mant << 6`` added
to ``v``, clip of ``v``, spike when ``v > vThMant << 6``, reset to zero.  With that
reset schedule every layer starts each sample from zero state and sees its input at
the same step index, so feed-forward samples are independent and can be batched.
A ``dense_rec`` layer's recurrent synapse delivers its spikes one step later, and at a
sample's first step that is the previous sample's last step (Lava resets the neuron
state, not the synapse's buffer): the emulator carries it over, in the order the
samples are given (:func:`_emulate_chained`).
``python -m netx_export.verify`` checks this spike for spike against Lava.
"""
from __future__ import annotations

import math
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


def _decay_factor(decay: int) -> float:
    """Lava's 12-bit decay as a multiplier: ``x (4096 - decay) >> 12`` in sign-magnitude is
    ``trunc(x * (4096 - decay) / 4096)``; exact in float64 (|x| < 2**24, so the product
    has at most 36 significant bits)."""
    return (4096 - decay) / 4096


def _decay_(x: torch.Tensor, factor: float) -> torch.Tensor:
    """``x`` decayed in place by :func:`_decay_factor` ``factor``."""
    if factor == 0.0:  # a full decay (an IF/LIF current)
        return x.zero_()
    if factor != 1.0:  # 1: no decay (an IF membrane)
        # truncation toward zero by a cast (|x| < 2**24 fits int32): twice as fast here as
        # torch.trunc, which this CPU build does not vectorise
        x.copy_(x.mul_(factor).to(torch.int32))
    return x


class _LayerState:
    """One layer's state in float64 holding exact integers (faster than int64 on CPUs and
    GPUs alike: a decay is one multiply and a trunc).  Lava's 24-bit wraps are applied only
    where a layer's weights can reach them (:meth:`_bounds`)."""

    def __init__(self, layer: IntLayer, batch: int, in_shape: tuple[int, ...],
                 device: torch.device) -> None:
        self.layer = layer
        self.u = torch.zeros(batch, *layer.shape, dtype=torch.float64, device=device)
        self.v = torch.zeros_like(self.u)
        self.vth = float(layer.vth << 6)
        # Lava's LIF adds bias_mant << 6 (NetX's bias_exp 6) to the voltage every step
        self.bias = (torch.as_tensor(layer.bias, dtype=torch.float64, device=device) * 64
                     if layer.bias is not None else None)
        # float32 sums of integers are exact below 2**24 on the CPU; otherwise, and on GPUs
        # (whose float32 convolutions may run in TF32), float64
        bound = float(np.abs(layer.weight).reshape(layer.weight.shape[0], -1).sum(1).max())
        if layer.recurrent:
            bound += float(np.abs(layer.weight_rec).sum(1).max())
        exact32 = bound < 2 ** 24 and device.type == "cpu"
        self.dtype = torch.float32 if exact32 else torch.float64
        self.weight = torch.as_tensor(layer.weight, dtype=self.dtype, device=device)
        # dense_rec: a second Lava Dense from the layer's own spikes, one step later
        self.weight_rec = (torch.as_tensor(layer.weight_rec, dtype=self.dtype, device=device)
                           if layer.recurrent else None)
        self.prev = (torch.zeros(batch, layer.num_neurons, dtype=self.dtype, device=device)
                     if layer.recurrent else None)
        self.scale = 2.0 ** layer.weight_exp
        self.i_factor = _decay_factor(layer.i_decay)
        self.v_factor = _decay_factor(layer.v_decay)
        self.wrap_acc, self.wrap_u = self._bounds(bound)
        self.fan_out = fan_out(layer, in_shape).to(device)

    def _bounds(self, wsum: float) -> tuple[bool, bool]:
        """Whether the conv sum and the current can reach Lava's 24-bit wrap: the sum is at
        most ``wsum`` (binary inputs); the current at most ``64 a / (1 - factor)``."""
        lay = self.layer
        wrap_acc = lay.kind == "conv" and wsum >= UV_MAX
        a_max = wsum * self.scale * 64
        u_max = a_max / (1 - self.i_factor) if self.i_factor < 1 else math.inf
        return wrap_acc, u_max >= UV_MAX

    def synaptic_input(self, s: torch.Tensor) -> torch.Tensor:
        """The input current ``a << 6`` of binary spikes ``s``: exact integers, in the sum's
        own dtype (scaling by powers of two is exact in float32 too)."""
        lay = self.layer
        if lay.kind == "dense":
            acc = s.reshape(s.shape[0], -1).to(self.dtype) @ self.weight.T
        else:
            acc = F.conv2d(s.to(self.dtype), self.weight, stride=lay.stride, padding=lay.padding,
                           dilation=lay.dilation, groups=lay.groups)
        if self.wrap_acc:  # Lava's Conv wraps its output to signed 24 bit
            acc = torch.remainder(acc.double() + UV_MAX, 2 * UV_MAX) - UV_MAX
        return self._exp(acc) * 64

    def _exp(self, acc: torch.Tensor) -> torch.Tensor:
        """A Lava Dense's weight exponent: ``acc << exp``, or ``acc >> -exp`` (flooring)."""
        if self.layer.weight_exp < 0:  # an arithmetic shift right floors
            return torch.floor(acc * self.scale)
        if self.layer.weight_exp > 0:
            return acc * self.scale
        return acc

    def step(self, a: torch.Tensor) -> torch.Tensor:
        """One time step on input current ``a``; returns the spikes (bool).  The state is
        updated in place."""
        if self.weight_rec is not None:  # the recurrent Dense's output, shifted on its own
            a = a + self._exp(self.prev @ self.weight_rec.T) * 64
        u = _decay_(self.u, self.i_factor).add_(a)
        if self.wrap_u:
            u = torch.where(u > UV_MAX, u - 2 * UV_MAX, u)
            u = torch.where(u <= -UV_MAX, u + 2 * UV_MAX, u)
        v = _decay_(self.v, self.v_factor).add_(u)
        if self.bias is not None:
            v.add_(self.bias)
        v.clamp_(-UV_MAX + 1, UV_MAX - 1)
        spike = v > self.vth
        self.u, self.v = u, v.masked_fill_(spike, 0.0)
        if self.prev is not None:
            self.prev = spike.reshape(spike.shape[0], -1).to(self.dtype)
        return spike


def fan_out(layer: IntLayer, in_shape: tuple[int, ...]) -> torch.Tensor:
    """Synapses leaving each input neuron of ``layer`` (input shape ``in_shape``)."""
    if layer.kind == "conv":
        return conv_fan_out(in_shape, tuple(layer.weight.shape[2:4]), layer.stride,
                            layer.padding, layer.dilation,
                            layer.weight.shape[0] // layer.groups)
    return dense_fan_out(in_shape, layer.weight.shape[0])


def layer_synops(layer: IntLayer, fan: torch.Tensor, in_counts: torch.Tensor,
                 out_counts: torch.Tensor) -> torch.Tensor:
    """SynOps per sample of ``layer``: its input spike counts ``[N, ...]`` times their
    fan-out ``fan`` (:func:`fan_out`) and, for a ``dense_rec`` layer, its own spike counts
    ``[N, ...]`` times the recurrent fan-out (every neuron of the layer)."""
    ops = synops_per_sample(in_counts, fan)
    if layer.recurrent:
        ops = ops + synops_per_sample(out_counts, dense_fan_out(
            (layer.num_neurons,), layer.num_neurons).to(out_counts.device))
    return ops


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
    parts, carry = [], None
    for start in range(0, spikes.shape[0], batch_size):
        part, carry = _emulate_chained(net, spikes[start:start + batch_size].to(device),
                                       shape, record_layers, device, carry)
        parts.append(part)
    return _concat(parts, record_layers)


@torch.no_grad()
def emulate_dataset(net: IntNetwork, data: Dataset, batch_size: int = 256,
                    device: Optional[torch.device | str] = None
                    ) -> tuple[EmulationResult, torch.Tensor]:
    """``(emulation, labels)`` of every sample of ``data``, one batch unpacked at a time
    (a large split never sits in memory as floats)."""
    device = torch.device(device or "cpu")
    parts, labels, carry = [], [], None
    shape = input_shape_of(net)
    for x, y in batches(data, batch_size):
        x = torch.as_tensor(x)
        if int(np.prod(x.shape[1:-1])) != int(np.prod(shape)):
            raise ValueError(f"{net.path}: input of shape {tuple(x.shape)} does not match "
                             f"the network input {shape}")
        part, carry = _emulate_chained(net, x.reshape(x.shape[0], *shape, x.shape[-1])
                                       .to(device), shape, False, device, carry)
        parts.append(part)
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


Carry = Optional[list[Optional[torch.Tensor]]]


def _emulate_chained(net: IntNetwork, spikes: torch.Tensor, shape: tuple[int, ...],
                     record: bool, device: torch.device, carry: Carry
                     ) -> tuple[EmulationResult, Carry]:
    """``spikes`` streamed in order, as Lava runs them: each sample's recurrent layers
    receive, at its first step, their own spikes of the previous sample's last step
    (``carry``: those of the sample before this batch; ``None``: zero).  Samples are
    emulated as a batch and the carries iterated to their fixed point, which is the
    sequential result (after ``k`` rounds the first ``k`` samples are exact; it usually
    takes two).  Returns the result and the carry for the next batch."""
    rec = [layer.recurrent for layer in net.layers]
    if not any(rec):
        return _emulate_batch(net, spikes, shape, record, device)[0], None
    n = spikes.shape[0]
    if carry is None:
        carry = _preroll(net, spikes.shape[-1], device)
    first = [None if not r else (torch.zeros(1, layer.num_neurons, device=device)
                                 if carry is None or carry[k] is None
                                 else carry[k].to(device).reshape(1, -1))
             for k, (layer, r) in enumerate(zip(net.layers, rec))]
    now = [None if f is None else torch.cat([f, torch.zeros(n - 1, f.shape[1],
                                                            device=device)])
           for f in first]
    for _ in range(n + 1):
        result, last = _emulate_batch(net, spikes, shape, record, device, now)
        after = [None if f is None else torch.cat([f, l[:-1].to(f.dtype)])
                 for f, l in zip(first, last)]
        if all(a is None or torch.equal(a, b) for a, b in zip(after, now)):
            return result, [None if l is None else l[-1:].clone() for l in last]
        now = after
    raise AssertionError("recurrent carries did not settle")  # cannot happen: see above


def _preroll(net: IntNetwork, steps: int, device: torch.device) -> Carry:
    """Each recurrent layer's spikes at the step before its first sample, as Lava runs
    the stream: NetX's layer ``k`` (0-based) first resets at Lava step ``k + 2`` (reset
    offset 1, one more per layer) and runs from step 1 before that, on its bias and the
    previous layer's spikes of the step before, resetting whenever the step is ``k + 2``
    modulo ``steps``.  Those spikes are wiped from every state but the recurrent synapse's
    buffer, which delivers them at the first step of sample 0."""
    states = [_LayerState(layer, 1, in_shape, device)
              for layer, in_shape in zip(net.layers, layer_input_shapes(net))]
    shapes = [(1, *in_shape) for in_shape in layer_input_shapes(net)]
    previous: list[torch.Tensor] = [torch.zeros(1, *st.layer.shape, device=device)
                                    for st in states]  # each layer's spikes at t - 1
    for t in range(1, len(states) + 1):
        now = []
        for k, st in enumerate(states):
            if t > k + 1:  # this layer's pre-roll is over
                now.append(previous[k])
                continue
            if t % steps == (k + 2) % steps:
                st.u.zero_()
                st.v.zero_()
            x = (previous[k - 1].reshape(shapes[k]) if k else torch.zeros(shapes[0], device=device))
            now.append(st.step(st.synaptic_input(x)).to(torch.float32))
        previous = now
    return [None if st.prev is None else st.prev.float() for st in states]


def _emulate_batch(net: IntNetwork, spikes: torch.Tensor, shape: tuple[int, ...],
                   record: bool, device: torch.device, carry: Carry = None
                   ) -> tuple[EmulationResult, list[Optional[torch.Tensor]]]:
    n, steps = spikes.shape[0], spikes.shape[-1]
    states = [_LayerState(layer, n, in_shape, device)
              for layer, in_shape in zip(net.layers, layer_input_shapes(net))]
    for k, st in enumerate(states):
        if st.prev is not None and carry is not None and carry[k] is not None:
            st.prev = carry[k].to(st.dtype)
    first = states[0]
    # counts in float32 (exact below 2**24 steps): the spikes are converted once, for the
    # next layer's sum and the count alike
    spike_sums = [torch.zeros(n, *st.layer.shape, dtype=torch.float32, device=device)
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
                s = s.to(torch.float32)
                spike_sums[k] += s
                if record:
                    traces[k].append(s.bool())
    # SynOps: every input spike costs its fan-out, so count spikes first, multiply once
    spike_sums = [c.to(torch.int64) for c in spike_sums]
    in_counts = [spikes.sum(-1)] + spike_sums[:-1]
    synops = torch.stack([layer_synops(st.layer, st.fan_out, c, o)
                          for c, o, st in zip(in_counts, spike_sums, states)], dim=1)
    layer_spikes = [torch.stack(tr, dim=-1).cpu() for tr in traces] if record else None
    last = [None if st.prev is None else st.prev.float() for st in states]
    return (EmulationResult(spike_sums[-1].reshape(n, -1).cpu(), synops.cpu(), layer_spikes),
            last)
