"""Network architectures as plain, JSON-able layer lists (checkpoints rebuild nets from
them), and the default net of each dataset.  No torch or lava-dl here: the config checks
architecture options without building a net."""
from __future__ import annotations

from typing import Any, Optional, Sequence

from .datasets import network_family

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
