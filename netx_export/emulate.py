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
What is per layer kind (the synaptic sum, what a kind adds to the step, what it carries
from one step to the next beyond the neuron) is the kind's
(:class:`lava_sast.layers.LayerKind`, its ``emu_*`` methods, on a :class:`LayerState`).
A carry outlives Lava's reset, which clears the neuron state, not a synapse's buffer: at
a sample's first step it holds the previous sample's last step, and the emulator chains
it across samples, in the order they are given (:func:`_emulate_chained`).
``python -m netx_export.verify`` checks this spike for spike against Lava.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from torch.utils.data import Dataset

from lava_sast.datasets import batches
from lava_sast.synops import dense_fan_out, fan_out_of, synops_per_sample

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


class LayerState:
    """One layer's state in float64 holding exact integers (faster than int64 on CPUs and
    GPUs alike: a decay is one multiply and a trunc), and the generic CUBA neuron; the
    layer's kind (``kind``) computes its synaptic sum and step on it.  Lava's 24-bit wraps
    are applied only where a layer's weights can reach them (:meth:`_bounds`)."""

    def __init__(self, layer: IntLayer, batch: int, in_shape: tuple[int, ...],
                 device: torch.device) -> None:
        self.layer, self.kind, self.device = layer, layer.layer_kind, device
        self.u = torch.zeros(batch, *layer.shape, dtype=torch.float64, device=device)
        self.v = torch.zeros_like(self.u)
        self.vth = float(layer.vth << 6)
        # Lava's LIF adds bias_mant << 6 (NetX's bias_exp 6) to the voltage every step
        self.bias = (torch.as_tensor(layer.bias, dtype=torch.float64, device=device) * 64
                     if layer.bias is not None else None)
        # float32 sums of integers are exact below 2**24 on the CPU; otherwise, and on GPUs
        # (whose float32 convolutions may run in TF32), float64.  Every synapse of the
        # layer (its kind's arrays) feeds the same neurons: their largest sums add up
        bound = sum(float(np.abs(w).reshape(w.shape[0], -1).sum(1).max())
                    for w in layer.arrays())
        exact32 = bound < 2 ** 24 and device.type == "cpu"
        self.dtype = torch.float32 if exact32 else torch.float64
        self.scale = 2.0 ** layer.weight_exp
        self.i_factor = _decay_factor(layer.i_decay)
        self.v_factor = _decay_factor(layer.v_decay)
        self.sum_reaches_wrap, self.wrap_u = self._bounds(bound)
        # ``acc << exp`` times 64 folded into the weight where that is exact: no shift right
        # (which floors), no wrap of the sum, and the scaled sums still exact integers
        self.prescaled = (layer.weight_exp >= 0 and not self.sum_reaches_wrap
                          and (self.dtype == torch.float64
                               or bound * self.scale * 64 < 2 ** 24))
        self.weight = self.tensor(layer.weight * (self.scale * 64 if self.prescaled else 1))
        # the membrane cannot reach Lava's 24-bit clamp: skip it
        v_max = (bound * self.scale * 64 / max(1 - self.i_factor, 1e-30)
                 + (float(np.abs(layer.bias).max()) * 64 if layer.bias is not None else 0.0))
        self.clamp_v = (self.wrap_u or self.v_factor == 1.0
                        or v_max / (1 - self.v_factor) >= UV_MAX - 1)
        carry = self.kind.emu_carry_shape(layer)
        #: what the kind carries from one step to the next (and across samples)
        self.carry = (torch.zeros(batch, *carry, dtype=self.dtype, device=device)
                      if carry is not None else None)
        self.kind.emu_init(self)
        self.fan_out = fan_out(layer, in_shape).to(device)

    def tensor(self, array: np.ndarray) -> torch.Tensor:
        """``array`` (integers) in the sums' dtype, on the state's device."""
        return torch.as_tensor(array, dtype=self.dtype, device=self.device)

    def _bounds(self, wsum: float) -> tuple[bool, bool]:
        """Whether the synaptic sum and the current can reach Lava's 24-bit wrap: the sum
        is at most ``wsum`` (binary inputs); the current at most ``64 a / (1 - factor)``."""
        a_max = wsum * self.scale * 64
        u_max = a_max / (1 - self.i_factor) if self.i_factor < 1 else math.inf
        return wsum >= UV_MAX, u_max >= UV_MAX

    @staticmethod
    def wrap24(acc: torch.Tensor) -> torch.Tensor:
        """``acc`` wrapped to signed 24 bits (float64)."""
        return torch.remainder(acc.double() + UV_MAX, 2 * UV_MAX) - UV_MAX

    def synaptic_input(self, s: torch.Tensor) -> torch.Tensor:
        """The input current ``a << 6`` of binary spikes ``s``: exact integers, in the sum's
        own dtype (scaling by powers of two is exact in float32 too)."""
        if self.prescaled:
            return self.kind.emu_sum(self, s)
        return self.exp(self.kind.emu_sum(self, s)) * 64

    def exp(self, acc: torch.Tensor) -> torch.Tensor:
        """A Lava Dense's weight exponent: ``acc << exp``, or ``acc >> -exp`` (flooring)."""
        if self.layer.weight_exp < 0:  # an arithmetic shift right floors
            return torch.floor(acc * self.scale)
        if self.layer.weight_exp > 0:
            return acc * self.scale
        return acc

    def step(self, a: torch.Tensor) -> torch.Tensor:
        """One time step on input current ``a``, as the layer's kind takes it; returns the
        spikes (bool).  The state is updated in place."""
        return self.kind.emu_step(self, a)

    def neuron_step(self, a: torch.Tensor) -> torch.Tensor:
        """Lava's fixed-point CUBA neuron, one step on input current ``a``: the spikes
        (bool); ``u`` and ``v`` are updated in place."""
        u = _decay_(self.u, self.i_factor).add_(a)
        if self.wrap_u:
            u = torch.where(u > UV_MAX, u - 2 * UV_MAX, u)
            u = torch.where(u <= -UV_MAX, u + 2 * UV_MAX, u)
        v = _decay_(self.v, self.v_factor).add_(u)
        if self.bias is not None:
            v.add_(self.bias)
        if self.clamp_v:
            v.clamp_(-UV_MAX + 1, UV_MAX - 1)
        spike = v > self.vth
        self.u, self.v = u, v.masked_fill_(spike, 0.0)
        return spike


def fan_out(layer: IntLayer, in_shape: tuple[int, ...]) -> torch.Tensor:
    """Synapses leaving each input neuron of ``layer`` (input shape ``in_shape``)."""
    return fan_out_of(layer.layer_kind.netx_fan_out(layer), in_shape)


def layer_synops(layer: IntLayer, fan: torch.Tensor, in_counts: torch.Tensor,
                 out_counts: torch.Tensor) -> torch.Tensor:
    """SynOps per sample of ``layer``: its input spike counts ``[N, ...]`` times their
    fan-out ``fan`` (:func:`fan_out`) and, where its kind feeds its own spikes to synapses
    (``netx_own_fan_out``), its spike counts ``[N, ...]`` times that fan-out."""
    ops = synops_per_sample(in_counts, fan)
    own = layer.layer_kind.netx_own_fan_out(layer)
    if own:
        ops = ops + synops_per_sample(out_counts, dense_fan_out(
            (layer.num_neurons,), own).to(out_counts.device))
    return ops


def layer_input_shapes(net: IntNetwork) -> list[tuple[int, ...]]:
    """Per-sample input shape of every weighted layer (dense inputs flattened)."""
    shapes, shape = [], input_shape_of(net)
    for layer in net.layers:
        shape = layer.layer_kind.netx_input_shape(shape)
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
    """``spikes`` streamed in order, as Lava runs them: each sample's layers with a carry
    (their kind's ``emu_carry_shape``) start from the carry of the previous sample's last
    step (``carry``: that of the sample before this batch; ``None``: zero).  Samples are
    emulated as a batch and the carries iterated to their fixed point, which is the
    sequential result (after ``k`` rounds the first ``k`` samples are exact; it usually
    takes two).  Returns the result and the carry for the next batch."""
    carried = [layer.layer_kind.emu_carry_shape(layer) for layer in net.layers]
    if all(c is None for c in carried):
        return _emulate_batch(net, spikes, shape, record, device)[0], None
    n = spikes.shape[0]
    if carry is None:
        carry = _preroll(net, spikes.shape[-1], device)
    first = [None if c is None else (torch.zeros(1, *c, device=device)
                                     if carry is None or carry[k] is None
                                     else carry[k].to(device).reshape(1, *c))
             for k, c in enumerate(carried)]
    now = [None if f is None else torch.cat([f, f.new_zeros(n - 1, *f.shape[1:])])
           for f in first]
    for _ in range(n + 1):
        result, last = _emulate_batch(net, spikes, shape, record, device, now)
        after = [None if f is None else torch.cat([f, l[:-1].to(f.dtype)])
                 for f, l in zip(first, last)]
        if all(a is None or torch.equal(a, b) for a, b in zip(after, now)):
            return result, [None if l is None else l[-1:].clone() for l in last]
        now = after
    raise AssertionError("carries did not settle")  # cannot happen: see above


def _preroll(net: IntNetwork, steps: int, device: torch.device) -> Carry:
    """Each carry at the step before the first sample, as Lava runs the stream: NetX's
    layer ``k`` (0-based) first resets at Lava step ``k + 2`` (reset offset 1, one more per
    layer) and runs from step 1 before that, on its bias and the previous layer's spikes
    of the step before, resetting whenever the step is ``k + 2`` modulo ``steps``.  The
    reset wipes every state but the carry, which reaches the first step of sample 0."""
    states = [LayerState(layer, 1, in_shape, device)
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
    return [None if st.carry is None else st.carry.float() for st in states]


def _emulate_batch(net: IntNetwork, spikes: torch.Tensor, shape: tuple[int, ...],
                   record: bool, device: torch.device, carry: Carry = None
                   ) -> tuple[EmulationResult, list[Optional[torch.Tensor]]]:
    n, steps = spikes.shape[0], spikes.shape[-1]
    states = [LayerState(layer, n, in_shape, device)
              for layer, in_shape in zip(net.layers, layer_input_shapes(net))]
    for k, st in enumerate(states):
        if st.carry is not None and carry is not None and carry[k] is not None:
            st.carry = carry[k].to(st.dtype).reshape(st.carry.shape)
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
                    s = st.step(st.synaptic_input(s))
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
    last = [None if st.carry is None else st.carry.float() for st in states]
    return (EmulationResult(spike_sums[-1].reshape(n, -1).cpu(), synops.cpu(), layer_spikes),
            last)
