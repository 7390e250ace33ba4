"""Network architectures as plain, JSON-able layer lists (checkpoints rebuild nets from
them), and the default net of each dataset.  No torch or lava-dl here: the config checks
architecture options without building a net."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional, Sequence

from .datasets import network_family
from .layers import KINDS, NEURON_KEYS  # noqa: F401  (NEURON_KEYS: part of this API)

#: ``--arch`` values besides a JSON file: the default net of each family.
FAMILIES = ("dense", "conv")
#: Layer types an architecture file may use, with the keys each needs and may have (from
#: the layer registry, :mod:`lava_sast.layers`).
LAYER_KEYS = {name: (set(k.needs), set(k.may)) for name, k in KINDS.items()}


def read_arch_file(path: str | Path) -> list[dict[str, Any]]:
    """The layer list of an ``--arch`` JSON file (``[{"type": "conv", "out": 16, "kernel":
    5, "stride": 2, "padding": 2, "neuron": {"threshold": 1.5}}, {"type": "pool",
    "kernel": 2}, {"type": "flatten"}, {"type": "dense", "out": 10}]``), each layer
    checked; ``ValueError`` names the file and the first bad layer.  A ``pool`` layer sums
    spikes over ``kernel x kernel`` windows (stride ``kernel``); it must follow a conv layer
    and be followed by a conv, or a flatten and a dense layer, into which export folds it."""
    try:
        layers = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"--arch {path}: cannot be read as JSON ({exc})") from None
    if not isinstance(layers, list) or not layers:
        raise ValueError(f"--arch {path}: expected a non-empty list of layers")
    for i, layer in enumerate(layers):
        kind = layer.get("type") if isinstance(layer, dict) else None
        if kind not in KINDS:
            raise ValueError(f"--arch {path}: layer {i} has type {kind!r}; choose from "
                             f"{sorted(KINDS)}")
        KINDS[kind].check(layer, f"--arch {path}: layer {i}")
    if not KINDS[layers[-1]["type"]].weighted:
        raise ValueError(f"--arch {path}: the last layer must be a weighted layer (the "
                         f"outputs): {', '.join(k for k in sorted(KINDS) if KINDS[k].weighted)}")
    for i, layer in enumerate(layers[:-1]):
        if layer["type"] != "pool":
            continue
        if i == 0 or layers[i - 1]["type"] != "conv":
            raise ValueError(f"--arch {path}: layer {i} (pool) must follow a conv layer "
                             f"(it pools a conv layer's spike map)")
        after = [l["type"] for l in layers[i + 1:i + 3]]
        if not (after[0] == "conv" or (after[0] == "flatten" and len(after) == 2
                                        and KINDS[after[1]].weighted and after[1] != "conv")):
            raise ValueError(f"--arch {path}: layer {i} (pool) must be followed by a conv, or "
                             f"a flatten and a dense layer (export folds the pooling into it)")
    return layers


def arch_family(arch: Optional[str], dataset: str) -> str:
    """The network family (dense or conv) whose defaults a run takes: ``--arch``'s, or a
    file's (conv when its first layer is), or the dataset's default net's."""
    if arch is None:
        return network_family(dataset)
    if arch in FAMILIES:
        return arch
    return "conv" if read_arch_file(arch)[0]["type"] == "conv" else "dense"

#: Output channels of the two conv layers of the default conv net.
CONV_CHANNELS = (16, 32)
#: Width of the default hidden dense layer: ``HIDDEN[0]`` for inputs of ``LARGE_INPUT``
#: values or more (N-MNIST: 2,312), else ``HIDDEN[1]`` (and on conv nets).
HIDDEN = (256, 128)
LARGE_INPUT = 1000


def check_arch_options(hidden: Optional[int],
                       conv_channels: Optional[Sequence[int]]) -> None:
    """Raise ``ValueError`` unless ``hidden >= 0`` and ``conv_channels`` is two positive counts."""
    if hidden is not None and hidden < 0:
        raise ValueError(f"hidden must be >= 0, got {hidden}")
    if conv_channels is not None and (len(conv_channels) != 2 or min(conv_channels) < 1):
        raise ValueError(f"conv_channels must be two positive counts, got {conv_channels}")


def default_arch(dataset: str, input_shape: Sequence[int], num_classes: int,
                 hidden: Optional[int] = None,
                 conv_channels: Optional[Sequence[int]] = None,
                 family: Optional[str] = None) -> list[dict[str, Any]]:
    """Default layer list of the ``family`` net (default: ``dataset``'s) with input ``(C, H,
    W)``; ``hidden`` sets the width of the hidden dense layer, and ``hidden=0`` leaves it
    out (the output layer then reads the last conv layer, or the input, directly);
    ``conv_channels`` sets the output channels of the two conv layers (default
    :data:`CONV_CHANNELS`)."""
    check_arch_options(hidden, conv_channels)
    c1, c2 = CONV_CHANNELS if conv_channels is None else conv_channels
    c, h, w = input_shape
    readout = [{"type": "dense", "out": num_classes}]
    if (family or network_family(dataset)) == "conv":
        hidden_layer = [] if hidden == 0 else [{"type": "dense", "out": hidden or HIDDEN[1]}]
        return [
            {"type": "conv", "out": c1, "kernel": 5, "stride": 2, "padding": 2},
            {"type": "conv", "out": c2, "kernel": 3, "stride": 2, "padding": 1},
            {"type": "flatten"},
        ] + hidden_layer + readout
    if hidden == 0:
        return readout
    width = HIDDEN[0] if c * h * w >= LARGE_INPUT else HIDDEN[1]
    return [{"type": "dense", "out": hidden or width}] + readout
