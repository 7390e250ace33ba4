"""SAST networks: sequences of SAST blocks that export to NetX hdf5.

A network is described by a plain, JSON-able ``arch`` list so checkpoints can
rebuild it; :func:`default_arch` gives the default net of each dataset.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Iterator, Optional, Sequence

import h5py
import numpy as np
import torch

from . import block
from .atomic import atomic_path
from .datasets import network_family
from .neuron import SastCubaNeuron
from .quantize import QuantizedWeight

#: Loihi CUBA parameters shared by every layer (threshold in SLAYER units:
#: vThMant = 64 * threshold; decays as fractions of 4096).
DEFAULT_NEURON = {"threshold": 1.0, "current_decay": 0.25, "voltage_decay": 0.03}

#: Output channels of the two conv layers of the default conv net.
CONV_CHANNELS = (16, 32)

#: Synapse weight hooks a network can train with: ``clamp`` (full precision within
#: the 8-bit range), ``slayer8`` (SLAYER's own 8-bit hook, ``quantize_8bit``) and
#: ``qat8``/``qat4`` (the exporter's per-layer power-of-two grid, straight-through).
WEIGHT_HOOKS = ("clamp", "slayer8", "qat8", "qat4")


def check_arch_options(hidden: Optional[int],
                       conv_channels: Optional[Sequence[int]]) -> None:
    """Raise ``ValueError`` unless ``hidden >= 0`` and ``conv_channels`` is two positive counts."""
    if hidden is not None and hidden < 0:
        raise ValueError(f"hidden must be >= 0, got {hidden}")
    if conv_channels is not None and (len(conv_channels) != 2 or min(conv_channels) < 1):
        raise ValueError(f"conv_channels must be two positive counts, got {conv_channels}")


def default_arch(dataset: str, input_shape: Sequence[int], num_classes: int,
                 hidden: Optional[int] = None,
                 conv_channels: Optional[Sequence[int]] = None) -> list[dict[str, Any]]:
    """Default layer list for ``dataset`` with input ``(C, H, W)``; ``hidden`` sets the
    width of the hidden dense layer, and ``hidden=0`` leaves it out (the output layer
    then reads the last conv layer, or the input, directly); ``conv_channels`` sets the
    output channels of the two conv layers (default :data:`CONV_CHANNELS`)."""
    check_arch_options(hidden, conv_channels)
    c1, c2 = CONV_CHANNELS if conv_channels is None else conv_channels
    c, h, w = input_shape
    readout = [{"type": "dense", "out": num_classes}]
    if network_family(dataset) == "conv":  # from the dataset's description
        hidden_layer = [] if hidden == 0 else [{"type": "dense", "out": hidden or 128}]
        return [
            {"type": "conv", "out": c1, "kernel": 5, "stride": 2, "padding": 2},
            {"type": "conv", "out": c2, "kernel": 3, "stride": 2, "padding": 1},
            {"type": "flatten"},
        ] + hidden_layer + readout
    if hidden == 0:
        return readout
    return [{"type": "dense", "out": hidden or (128 if c * h * w < 1000 else 256)}] + readout


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
        features = c if self.conv_input else c * h * w
        for layer in arch:
            kind = layer["type"]
            if kind == "conv":
                self.blocks.append(block.Conv(
                    self.neuron_params, features, layer["out"], layer["kernel"],
                    stride=layer.get("stride", 1), padding=layer.get("padding", 0),
                    weight_scale=weight_scale))
                features = layer["out"]
            elif kind == "flatten":
                self.blocks.append(block.Flatten())
                features = None  # known after the first forward pass
            elif kind == "dense":
                if features is None:
                    features = self._flat_features()
                self.blocks.append(block.Dense(self.neuron_params, features, layer["out"],
                                               weight_scale=weight_scale))
                features = layer["out"]
            else:
                raise ValueError(f"unknown layer type {kind!r} in arch")
        self.set_weight_hook(weight_hook)
        self(torch.zeros(1, *self.input_shape, 2))  # fixes neuron shapes for export

    def set_weight_hook(self, kind: str) -> None:
        """Train and evaluate every synapse through weight hook ``kind`` (:data:`WEIGHT_HOOKS`)."""
        if kind not in WEIGHT_HOOKS:
            raise ValueError(f"weight hook must be one of {WEIGHT_HOOKS}, got {kind!r}")
        self.weight_hook = kind
        for b in self.weighted_blocks():
            n = b.neuron
            b.synapse.pre_hook_fx = {"clamp": n.weight_hook, "slayer8": n.quantize_8bit}.get(
                kind) or QuantizedWeight(int(kind[3:]))

    def _flat_features(self) -> int:
        x = torch.zeros(1, *self.input_shape, 1)
        with torch.no_grad():
            for b in self.blocks:
                x = b(x)
        return int(np.prod(x.shape[1:-1]))

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

    def neurons(self) -> list[SastCubaNeuron]:
        """Spiking neurons, one per weighted block, input to output."""
        return [b.neuron for b in self.blocks if hasattr(b, "neuron")]

    def weighted_blocks(self) -> list[torch.nn.Module]:
        return [b for b in self.blocks if hasattr(b, "synapse")]

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

    def export_hdf5(self, filename: str | os.PathLike) -> None:
        """Write the NetX hdf5 (weights through each synapse's hook) atomically."""
        with atomic_path(filename) as tmp, h5py.File(tmp, "w") as h:
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
