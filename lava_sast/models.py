"""SAST networks: sequences of SAST blocks that export to NetX hdf5.

A network is described by a plain, JSON-able ``arch`` list (:mod:`lava_sast.arch`) so
checkpoints can rebuild it.
"""
from __future__ import annotations

import copy
import json
import os
from contextlib import contextmanager
from typing import Any, Iterator, Optional, Sequence

import h5py
import numpy as np
import torch

from . import block
from .atomic import atomic_path
from .layers import kind_of
from .neuron import SastCubaNeuron
from .quantize import QuantizedWeight

#: Loihi CUBA parameters shared by every layer (threshold in SLAYER units:
#: vThMant = 64 * threshold; decays as fractions of 4096).
DEFAULT_NEURON = {"threshold": 1.0, "current_decay": 0.25, "voltage_decay": 0.03}

#: Synapse weight hooks a network can train with: ``clamp`` (full precision within
#: the 8-bit range), ``slayer8`` (SLAYER's own 8-bit hook, ``quantize_8bit``) and
#: ``qat8``/``qat4`` (the exporter's per-layer power-of-two grid, straight-through).
WEIGHT_HOOKS = ("clamp", "slayer8", "qat8", "qat4")


#: The hdf5 attribute that holds a net's input binning (JSON).
BINNING_ATTR = "lava_sast_input_binning"


def input_binning(filename: str | os.PathLike) -> dict[str, Any]:
    """The input binning a NetX file was written with (``bin_us``, ``n_bins``, ``frames``),
    or ``{}`` when it records none."""
    try:
        with h5py.File(filename, "r") as h:
            text = h.attrs.get(BINNING_ATTR)
    except OSError:
        return {}
    return json.loads(text) if text else {}


def binning_of(spec: Any) -> dict[str, Any]:
    """The binning record of a dataset's :class:`BinningSpec` (binary frames)."""
    return {"bin_us": int(spec.bin_us), "n_bins": int(spec.n_bins), "frames": "binary"}


class SastNetwork(torch.nn.Module):
    """Feed-forward SAST network on input ``[N, C, H, W, T]``.

    Dense-first networks see the input flattened in ``(C, H, W)`` order; the
    exported NetX network expects the same order.
    """

    def __init__(self, arch: list[dict[str, Any]], input_shape: Sequence[int],
                 neuron: Optional[dict[str, float]] = None, beta: float = 5.0,
                 weight_scale: float = 2.0, weight_hook: str = "clamp") -> None:
        super().__init__()
        self.arch = [dict(layer) for layer in arch]
        self.input_shape = tuple(int(v) for v in input_shape)
        self.neuron_params = {**DEFAULT_NEURON, **(neuron or {}), "beta": float(beta)}
        self.weight_scale = weight_scale
        self.blocks = torch.nn.ModuleList()
        self.conv_input = arch[0]["type"] == "conv"
        c, h, w = self.input_shape
        shape = self.input_shape if self.conv_input else (c * h * w,)
        for layer in arch:  # each kind from the registry (lava_sast.layers)
            kind = kind_of(layer)
            params = {**self.neuron_params, **layer.get("neuron", {})}  # a layer's own
            try:
                out = kind.out_shape(layer, shape)
            except ValueError as exc:
                raise ValueError(f"{kind.name} layer {len(self.blocks)}: {exc}") from None
            b = kind.build(layer, shape, params, weight_scale)
            b.layer_kind = kind.name
            self.blocks.append(b)
            shape = out
        self.set_weight_hook(weight_hook)
        self(torch.zeros(1, *self.input_shape, 2))  # fixes neuron shapes for export

    def set_weight_hook(self, kind: str) -> None:
        """Train and evaluate every synapse through weight hook ``kind`` (:data:`WEIGHT_HOOKS`)."""
        if kind not in WEIGHT_HOOKS:
            raise ValueError(f"weight hook must be one of {WEIGHT_HOOKS}, got {kind!r}")
        self.weight_hook = kind
        for b in self.weighted_blocks():
            n = b.neuron
            synapses = kind_of(b).synapses(b)  # a recurrent layer's two: one hook, one grid
            hook = {"clamp": n.weight_hook, "slayer8": n.quantize_8bit}.get(kind) \
                or QuantizedWeight(int(kind[3:]), synapses)
            for s in synapses:
                s.pre_hook_fx = hook

    def _shapes(self) -> list[tuple[int, ...]]:
        """Per-sample input shape of every block built so far, then their output shape
        (without time)."""
        x = torch.zeros(1, *self.input_shape, 1)
        if not self.conv_input:
            x = x.reshape(1, -1, 1)
        shapes = []
        with torch.no_grad():
            for b in self.blocks:
                shapes.append(tuple(x.shape[1:-1]))
                x = b(x)
        return shapes + [tuple(x.shape[1:-1])]

    def _flat_features(self) -> int:
        return int(np.prod(self._shapes()[-1]))

    def folded(self) -> "SastNetwork":
        """The same net without ``pool`` layers: each folded exactly into the weight layer
        that reads it (:func:`lava_sast.pooling.fold_pool`), neurons, hooks and biases
        copied.  What NetX and Lava run; ``self`` when there is no pool."""
        if not any(layer["type"] == "pool" for layer in self.arch):
            return self
        from .pooling import fold_pool
        shapes = self._shapes()
        arch, weights, pool = [], [], None
        for i, (layer, b) in enumerate(zip(self.arch, self.blocks)):
            if layer["type"] == "pool":
                k, (c, h, w) = layer["kernel"], shapes[i]
                pool = {"name": f"layer {i} (pool)", "kernel": [k, k], "stride": [k, k],
                        "scale": 1.0, "in_shape": (c, h, w), "shape": (c, h // k, w // k)}
                continue
            layer = dict(layer)
            if kind_of(layer).weighted:
                wt = b.synapse.weight.detach().cpu().double().numpy()
                conv = layer["type"] == "conv"
                if pool is not None:
                    rec = fold_pool(pool, {
                        "kind": "conv" if conv else "dense", "source": f"layer {i}",
                        "weight": wt[..., 0] if conv else wt.reshape(wt.shape[0], -1),
                        "stride": [layer.get("stride", 1)] * 2,
                        "padding": [layer.get("padding", 0)] * 2,
                        "dilation": [1, 1], "groups": 1})
                    wt = rec["weight"].reshape(wt.shape[0], -1, *rec["weight"].shape[2:], 1)
                    if conv:
                        layer.update(kernel=int(rec["weight"].shape[-1]),
                                     stride=int(rec["stride"][0]),
                                     padding=int(rec["padding"][0]))
                    else:
                        wt = rec["weight"][:, :, None, None, None]
                    pool = None
                weights.append((b, wt))
            arch.append(layer)
        neuron = {k: v for k, v in self.neuron_params.items() if k != "beta"}
        net = SastNetwork(arch, self.input_shape, neuron, self.neuron_params["beta"],
                          self.weight_scale, self.weight_hook)
        with torch.no_grad():
            for new, (old, wt) in zip(net.weighted_blocks(), weights):
                new.synapse.weight.copy_(torch.as_tensor(wt, dtype=new.synapse.weight.dtype))
                new.synapse.pre_hook_fx = old.synapse.pre_hook_fx
                for syn_new, syn_old in zip(kind_of(new).synapses(new)[1:],
                                            kind_of(old).synapses(old)[1:]):
                    syn_new.weight.copy_(syn_old.weight)  # synapses pooling does not feed
                    syn_new.pre_hook_fx = syn_old.pre_hook_fx
                hook = old.synapse.pre_hook_fx
                if isinstance(hook, QuantizedWeight) and hook.group:  # one grid: the new ones'
                    shared = QuantizedWeight(hook.bits, kind_of(new).synapses(new))
                    for syn in kind_of(new).synapses(new):
                        syn.pre_hook_fx = shared
                new.neuron = copy.deepcopy(old.neuron)
                if old.bias is not None:
                    new.bias.copy_(old.bias)
        return net.train(self.training)

    @property
    def config(self) -> dict[str, Any]:
        """Everything needed to rebuild the network (saved in checkpoints)."""
        return {"arch": self.arch, "input_shape": list(self.input_shape),
                "neuron": {k: v for k, v in self.neuron_params.items() if k != "beta"},
                "beta": self.neuron_params["beta"], "weight_scale": self.weight_scale,
                "weight_hook": self.weight_hook}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "SastNetwork":
        return cls(config["arch"], config["input_shape"], config["neuron"],
                   config["beta"], config["weight_scale"],
                   config.get("weight_hook", "clamp"))

    def set_beta(self, beta: float) -> None:
        """Set the surrogate slope of every neuron (``anneal`` raises it during training)."""
        self.neuron_params["beta"] = float(beta)
        for n in self.neurons():
            n.beta = float(beta)

    def set_reset_grad(self, mode: str) -> None:
        """Set every neuron's soft-reset gradient (:data:`lava_sast.neuron.RESET_GRADS`)."""
        for n in self.neurons():  # each neuron checks the mode
            n.reset_grad = mode
        self.neuron_params["reset_grad"] = mode

    def neurons(self) -> list[SastCubaNeuron]:
        """Spiking neurons, one per weighted block, input to output."""
        return [b.neuron for b in self.blocks if hasattr(b, "neuron")]

    def weighted_blocks(self) -> list[torch.nn.Module]:
        return [b for b in self.blocks if hasattr(b, "synapse")]

    def parameters_of(self, kind: str) -> list[torch.nn.Parameter]:
        """Parameters of the ``kind`` blocks only (``'dense'`` or ``'conv'``)."""
        kinds = {"dense": block.Dense, "conv": block.Conv}
        if kind not in kinds:
            raise ValueError(f"layer kind must be 'dense' or 'conv', got {kind!r}")
        return [p for b in self.weighted_blocks() if isinstance(b, kinds[kind])
                for p in b.parameters()]

    def set_spike_mode(self, mode: str) -> None:
        block.set_spike_mode(self, mode)

    def forward(self, x: torch.Tensor, return_layers: bool = False):
        """Output spikes ``[N, classes, T]``; with ``return_layers`` also the
        input of every weighted block (for SynOps)."""
        flat_ok = (not self.conv_input and x.dim() == 5
                   and int(np.prod(x.shape[1:4])) == int(np.prod(self.input_shape)))
        if not flat_ok and (x.dim() != 5 or tuple(x.shape[1:4]) != self.input_shape):
            raise ValueError(f"expected input [N, {', '.join(map(str, self.input_shape))}, T], "
                             f"got {tuple(x.shape)}")
        if not self.conv_input:
            x = x.reshape(x.shape[0], -1, x.shape[-1])
        layer_inputs = []
        for b in self.blocks:
            if hasattr(b, "synapse"):
                layer_inputs.append(x)
            x = b(x)
        return (x, layer_inputs) if return_layers else x

    def export_hdf5(self, filename: str | os.PathLike,
                    binning: Optional[dict[str, Any]] = None) -> None:
        """Write the NetX hdf5 (weights through each synapse's hook) atomically; ``binning``
        (the input's ``bin_us``, ``n_bins``, ``frames``) goes into the file's attributes,
        which NetX does not read (:func:`input_binning`)."""
        net = self.folded()
        if net is not self:  # NetX has no pool layer: fold pools first
            return net.export_hdf5(filename, binning)
        with atomic_path(filename) as tmp, h5py.File(tmp, "w") as h:
            if binning:
                h.attrs[BINNING_ATTR] = json.dumps(binning, sort_keys=True)
            layers = h.create_group("layer")
            offset = 0
            if self.conv_input:
                inp = layers.create_group("0")
                inp.create_dataset("type", (1,), "S10", [b"input"])
                inp.create_dataset("shape", data=np.array(self.input_shape))
                offset = 1
            for i, b in enumerate(self.blocks):
                b.export_hdf5(layers.create_group(f"{i + offset}"))


@contextmanager
def spike_modes(model: "SastNetwork", modes: Sequence[str]) -> Iterator[None]:
    """Run ``model`` in eval mode with neuron ``i`` in spike mode ``modes[i]``; restores
    the previous modes, voltage recording and train/eval state afterwards."""
    neurons = model.neurons()
    previous = [n.spike_mode for n in neurons]
    was_training = model.training
    model.eval()
    try:
        for n, m in zip(neurons, modes):
            n.spike_mode = m
        yield
    finally:
        for n, m in zip(neurons, previous):
            n.spike_mode = m
            n.record_voltage = False
            n.last_voltage = None
        model.train(was_training)
