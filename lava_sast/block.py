"""SAST layer blocks: lava-dl SLAYER CUBA blocks with a :class:`SastCubaNeuron`.

Each block is the SLAYER abstract block (same synapse, same ``export_hdf5`` writing the
NetX layer with a ``CUBA`` neuron: SLAYER's fields, completed by the block's layer kind,
:meth:`lava_sast.layers.LayerKind.write_netx`); only the neuron is swapped for one with a
spike-mode switch.  Defaults differ
from SLAYER in two deliberate ways: no axonal delays (Lava runs delayed nets
~250x slower), and ``delay_shift=False`` because NetX staggers each layer's
reset by one step, which absorbs Lava's one-step synaptic latency (measured
spike-for-spike by ``netx_export.verify``).
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np
import torch
from lava.lib.dl.slayer.block import base
from lava.lib.dl.slayer.synapse import layer as synapse

from .neuron import SastCubaNeuron


def _make_neuron(params: dict[str, Any]) -> SastCubaNeuron:
    return SastCubaNeuron(**params)


class _SastBlock:
    """Mixin: neuron access for spike-mode switching and recording, and an optional
    per-neuron (dense) or per-channel (conv) bias: a constant input every step, which
    Loihi's membrane bias computes exactly when the current decays fully each step
    (``current_decay = 1``, as in IF and LIF neurons)."""

    neuron: SastCubaNeuron
    bias: Optional[torch.nn.Parameter]
    #: writes the block as a NetX layer group: its layer kind's ``write_netx``, set by
    #: :meth:`lava_sast.layers.LayerKind.build`
    netx_writer: Optional[Callable[[Any, Any], None]] = None

    def set_spike_mode(self, mode: str) -> None:
        self.neuron.spike_mode = mode

    def _add_bias(self, channels: int, bias: bool) -> None:
        self.bias = torch.nn.Parameter(torch.zeros(channels)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bias is None:
            return super().forward(x)
        z = self.synapse(x)
        return self.neuron(z + self.bias.reshape(1, -1, *[1] * (z.dim() - 2)))

    def export_hdf5(self, handle: Any) -> None:
        """lava-dl's block export: the NetX layer group ``handle``, as the block's layer
        kind writes it (:meth:`lava_sast.layers.LayerKind.write_netx`: SLAYER's fields,
        the kind's NetX type and further synapses, the bias)."""
        if self.netx_writer is None:
            raise RuntimeError(f"{type(self).__name__} was not built by its layer kind "
                               f"(lava_sast.layers): nothing writes it as NetX")
        self.netx_writer(self, handle)

    def export_slayer_hdf5(self, handle: Any) -> None:
        """SLAYER's own fields of the block's NetX layer (``type``, ``shape``, ``neuron``,
        ``weight``)."""
        super().export_hdf5(handle)


class Dense(_SastBlock, base.AbstractDense):
    """Fully connected CUBA-LIF block (NCT or NCHWT input)."""

    def __init__(self, neuron_params: dict[str, Any], in_neurons: int,
                 out_neurons: int, weight_scale: float = 1,
                 pre_hook_fx: Optional[Any] = None, delay_shift: bool = False,
                 count_log: bool = False, bias: bool = False) -> None:
        super().__init__(neuron_params, in_neurons, out_neurons,
                         weight_scale=weight_scale, pre_hook_fx=pre_hook_fx,
                         delay=False, delay_shift=delay_shift, count_log=count_log)
        self.neuron = _make_neuron(neuron_params)
        self._add_bias(out_neurons, bias)
        self.synapse = synapse.Dense(**self.synapse_params)
        self.synapse.pre_hook_fx = pre_hook_fx or self.neuron.weight_hook
        del self.neuron_params
        del self.synapse_params


class Conv(_SastBlock, base.AbstractConv):
    """2-D convolutional CUBA-LIF block (NCHWT input); use ``stride`` to downsample."""

    def __init__(self, neuron_params: dict[str, Any], in_features: int,
                 out_features: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, weight_scale: float = 1,
                 pre_hook_fx: Optional[Any] = None, delay_shift: bool = False,
                 count_log: bool = False, bias: bool = False) -> None:
        super().__init__(neuron_params, in_features, out_features, kernel_size,
                         stride=stride, padding=padding, weight_scale=weight_scale,
                         pre_hook_fx=pre_hook_fx, delay=False,
                         delay_shift=delay_shift, count_log=count_log)
        self.neuron = _make_neuron(neuron_params)
        self._add_bias(out_features, bias)
        self.synapse = synapse.Conv(**self.synapse_params)
        self.synapse.pre_hook_fx = pre_hook_fx or self.neuron.weight_hook
        del self.neuron_params
        del self.synapse_params


class RecurrentDense(Dense):
    """Dense CUBA-LIF block whose own spikes feed back through a second dense synapse
    (``recurrent_synapse``, ``[out, out]``), arriving one step later as in Lava's
    ``RecurrentDense``; exports as NetX ``dense_rec``.  ``hard`` mode is SLAYER's
    recurrent block (lava-dl's ``custom_recurrent``: the fixed-point neuron one step at a
    time, its state kept between steps and zeroed at each forward pass); ``surrogate``
    mode the smooth forward with the same one-step recurrence
    (:func:`lava_sast.dynamics.surrogate_cuba_recurrent`)."""

    def __init__(self, neuron_params: dict[str, Any], in_neurons: int,
                 out_neurons: int, weight_scale: float = 1,
                 pre_hook_fx: Optional[Any] = None, delay_shift: bool = False,
                 count_log: bool = False, bias: bool = False) -> None:
        super().__init__(neuron_params, in_neurons, out_neurons, weight_scale=weight_scale,
                         pre_hook_fx=pre_hook_fx, delay_shift=delay_shift,
                         count_log=count_log, bias=bias)
        self.recurrent_synapse = synapse.Dense(out_neurons, out_neurons,
                                               weight_scale=weight_scale)
        self.recurrent_synapse.pre_hook_fx = pre_hook_fx or self.neuron.weight_hook
        self.last_spike_counts: Optional[torch.Tensor] = None

    def _recurrent_matrix(self) -> torch.Tensor:
        syn = self.recurrent_synapse
        w = syn.weight.reshape(syn.weight.shape[:2])
        return syn.pre_hook_fx(w) if syn.pre_hook_fx is not None else w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.synapse(x)
        if self.bias is not None:
            z = z + self.bias.reshape(1, -1, 1)
        self.neuron._init_shape(z)
        if self.neuron.spike_mode == "hard" and z.shape[0] > 1:
            z = self._carried(z)  # as Lava runs it: what deploys
        out = self._run(z)
        self.last_spike_counts = out.detach().sum(-1)
        return out

    def _carried(self, z: torch.Tensor) -> torch.Tensor:
        """``z`` with what Lava's ``RecurrentDense`` delivers at a sample's first step: the
        previous sample's last-step spikes through the recurrent weights (NetX resets the
        neurons between samples, not the recurrent synapse's buffer).  The batch is taken
        as the stream (sample 0 takes the last one's), each sample's last step from a pass
        without the carry."""
        record, self.neuron.record_voltage = self.neuron.record_voltage, False
        try:
            with torch.no_grad():
                last = self._run(z)[..., -1]
        finally:
            self.neuron.record_voltage = record
        carry = torch.roll(last, 1, dims=0) @ self._recurrent_matrix().T
        return torch.cat([z[..., :1] + carry.unsqueeze(-1), z[..., 1:]], dim=-1)

    def _run(self, z: torch.Tensor) -> torch.Tensor:
        n = self.neuron
        if n.spike_mode == "hard":
            return self._hard(z)
        from .dynamics import surrogate_cuba_recurrent
        keep_u, keep_v = n.decay_factors()
        out, volts = surrogate_cuba_recurrent(z, self._recurrent_matrix(), keep_u,
                                              keep_v, n.threshold, n.beta,
                                              n.reset_grad == "detached")
        if n.record_voltage:
            n.last_voltage = volts.detach()
        return out

    def _hard(self, z: torch.Tensor) -> torch.Tensor:
        from lava.lib.dl.slayer.utils.recurrent import custom_recurrent
        n = self.neuron
        volts: list[torch.Tensor] = []

        def step(x: torch.Tensor) -> torch.Tensor:
            s = n(x)
            if n.record_voltage:
                volts.append(n.last_voltage)
            return s

        n.persistent_state = True
        n.current_state = torch.zeros(1, device=z.device)
        n.voltage_state = torch.zeros(1, device=z.device)
        try:
            out = custom_recurrent(z, step, self.recurrent_synapse)
        finally:  # every forward pass starts from zero state (NetX resets each sample)
            n.persistent_state = False
            n.current_state = torch.zeros(1, device=z.device)
            n.voltage_state = torch.zeros(1, device=z.device)
        if volts:
            n.last_voltage = torch.cat(volts, dim=-1)
        return out


class SumPool(torch.nn.Module):
    """Sum pooling of spikes over ``kernel x kernel`` windows with stride ``kernel`` (no
    neuron, no trained weight): lava-dl's own pooling synapse with its weights frozen at 1.
    NetX has no pool layer, so export folds it into the next weight layer
    (:mod:`lava_sast.pooling`)."""

    def __init__(self, kernel: int) -> None:
        super().__init__()
        self.kernel = int(kernel)
        self.pool = synapse.Pool(self.kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x)


class Flatten(base.AbstractFlatten):
    """NCHWT -> N(CHW)T; exports as a NetX ``flatten`` layer.  A layer list may start with
    one (dense-first nets see their input flattened already, NCT: it passes through)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.shape is None:
            self.shape = [int(np.prod(x.shape[1:-1])), 1, 1]
        return x.reshape(x.shape[0], -1, x.shape[-1])


def set_spike_mode(module: torch.nn.Module, mode: str) -> None:
    """Switch every :class:`SastCubaNeuron` inside ``module`` to ``mode``."""
    for m in module.modules():
        if isinstance(m, SastCubaNeuron):
            m.spike_mode = mode
