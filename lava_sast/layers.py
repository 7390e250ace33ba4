"""One typed description per layer kind of an ``--arch`` layer list: the registry.

Each kind (:class:`LayerKind`) holds its JSON keys and their checks, its shape rule, the
training block it builds, the synapses that export quantises together, its SynOps, and
the NetX layer type it is written as.  The builder (:class:`lava_sast.models.SastNetwork`),
the ``--arch`` reader (:mod:`lava_sast.arch`), SynOps (:mod:`lava_sast.synops`) and the
exporter (:mod:`netx_export.export`) ask the registry; the emulator's side (one reader per
NetX type, in :mod:`netx_export.netx_model`) reads what :attr:`LayerKind.netx_type` names.
Adding a kind is a subclass here, registered with :func:`register`, and its block.

No torch at import time: the config checks layer lists without building a net.
"""
from __future__ import annotations

from typing import Any, Optional

#: Neuron keys a weighted layer may set over the run's (``"neuron": {...}``).
NEURON_KEYS = frozenset({"threshold", "current_decay", "voltage_decay"})


class LayerKind:
    """A layer kind: ``name`` (the ``"type"`` in a layer list), the keys a layer ``needs``
    and ``may`` have, whether it holds trained weights, and the NetX type it exports as."""

    name: str = ""
    needs: frozenset = frozenset()
    may: frozenset = frozenset()
    weighted: bool = False
    netx_type: Optional[str] = None
    #: keys that are whole numbers, with their least value
    counts: dict = {}

    def check(self, layer: dict[str, Any], where: str) -> None:
        """Raise ``ValueError`` (``where``: e.g. ``--arch F: layer 2``) unless ``layer`` has
        every needed key, no unknown one, and valid values."""
        keys = set(layer) - {"type"}
        if self.needs - keys:
            raise ValueError(f"{where} ({self.name}) lacks {sorted(self.needs - keys)[0]!r}")
        if keys - self.needs - self.may:
            raise ValueError(f"{where} ({self.name}) has unknown key "
                             f"{sorted(keys - self.needs - self.may)[0]!r}")
        for key, least in self.counts.items():
            if key in layer and (not isinstance(layer[key], int) or isinstance(layer[key], bool)
                                 or layer[key] < least):
                raise ValueError(f"{where} ({self.name}) {key} must be a whole number >= "
                                 f"{least}, got {layer[key]!r}")
        if "bias" in layer and not isinstance(layer["bias"], bool):
            raise ValueError(f"{where} ({self.name}) bias must be true or false, got "
                             f"{layer['bias']!r}")
        neuron = layer.get("neuron", {})
        if not isinstance(neuron, dict) or set(neuron) - NEURON_KEYS:
            raise ValueError(f"{where} neuron may set {sorted(NEURON_KEYS)}")

    def out_shape(self, layer: dict[str, Any], in_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Per-sample output shape (``(C, H, W)`` or ``(N,)``) for input ``in_shape``."""
        raise NotImplementedError

    def build(self, layer: dict[str, Any], in_shape: tuple[int, ...],
              neuron: dict[str, Any], weight_scale: float) -> Any:
        """The training block (a ``torch.nn.Module``) for input ``in_shape``."""
        raise NotImplementedError

    def synapses(self, block: Any) -> list[Any]:
        """The synapses export quantises onto one grid (one NetX exponent)."""
        return [block.synapse] if self.weighted else []

    def fan_out(self, block: Any) -> tuple:
        """How each input neuron fans out, for :func:`lava_sast.synops.fan_out`:
        ``("dense", outputs)`` or ``("conv", kernel, stride, padding, dilation,
        outputs per group)``."""
        raise NotImplementedError

    def own_spikes(self, block: Any) -> Optional[tuple[Any, int]]:
        """Synapses fed by the block's own spikes (recurrence): ``(spike counts [N,
        neurons] of the last forward pass, fan-out of each)``; ``None`` when it has none."""
        return None


class Conv(LayerKind):
    name, netx_type, weighted = "conv", "conv", True
    needs = frozenset({"out", "kernel"})
    may = frozenset({"stride", "padding", "neuron", "bias"})
    counts = {"out": 1, "kernel": 1, "stride": 1, "padding": 0}

    def out_shape(self, layer, in_shape):
        c, h, w = in_shape
        k, s, p = layer["kernel"], layer.get("stride", 1), layer.get("padding", 0)
        return (layer["out"], (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)

    def build(self, layer, in_shape, neuron, weight_scale):
        from . import block
        return block.Conv(neuron, in_shape[0], layer["out"], layer["kernel"],
                          stride=layer.get("stride", 1), padding=layer.get("padding", 0),
                          weight_scale=weight_scale, bias=layer.get("bias", False))

    def fan_out(self, block):
        syn = block.synapse
        return ("conv", tuple(syn.weight.shape[2:4]), syn.stride[:2], syn.padding[:2],
                syn.dilation[:2], syn.out_channels // syn.groups)


class Dense(LayerKind):
    name, netx_type, weighted = "dense", "dense", True
    needs = frozenset({"out"})
    may = frozenset({"neuron", "bias"})
    counts = {"out": 1}

    def out_shape(self, layer, in_shape):
        return (layer["out"],)

    def build(self, layer, in_shape, neuron, weight_scale):
        from . import block
        # in_shape[0]: a flattened input's size (a dense layer reads NCT)
        return block.Dense(neuron, in_shape[0], layer["out"], weight_scale=weight_scale,
                           bias=layer.get("bias", False))

    def fan_out(self, block):
        return ("dense", block.synapse.out_channels)


class Pool(LayerKind):
    """Sum pooling, stride = kernel; folded into the next weight layer at export."""

    name = "pool"
    needs = frozenset({"kernel"})
    counts = {"kernel": 1}

    def out_shape(self, layer, in_shape):
        c, h, w = in_shape
        k = layer["kernel"]
        if h % k or w % k:
            raise ValueError(f"kernel {k} does not divide its {h}x{w} input (export folds "
                             f"pooling into the next layer, which needs whole windows)")
        return (c, h // k, w // k)

    def build(self, layer, in_shape, neuron, weight_scale):
        from . import block
        return block.SumPool(layer["kernel"])


class Flatten(LayerKind):
    """``(C, H, W) -> (C H W,)``; a list may start with one (a dense-first net)."""

    name, netx_type = "flatten", "flatten"

    def out_shape(self, layer, in_shape):
        return (_size(in_shape),)

    def build(self, layer, in_shape, neuron, weight_scale):
        from . import block
        return block.Flatten()


class RecurrentDense(Dense):
    """A dense layer whose spikes also feed itself, one step later (NetX ``dense_rec``)."""

    name, netx_type = "dense_rec", "dense_rec"

    def build(self, layer, in_shape, neuron, weight_scale):
        from . import block
        return block.RecurrentDense(neuron, in_shape[0], layer["out"],
                                    weight_scale=weight_scale, bias=layer.get("bias", False))

    def synapses(self, block):
        return [block.synapse, block.recurrent_synapse]

    def own_spikes(self, block):
        return block.last_spike_counts, block.synapse.out_channels


#: Every layer kind by name.
KINDS: dict[str, LayerKind] = {}


def register(kind: LayerKind) -> LayerKind:
    """Add ``kind`` to :data:`KINDS` (its name must be new)."""
    if kind.name in KINDS:
        raise ValueError(f"layer kind {kind.name!r} is registered twice")
    KINDS[kind.name] = kind
    return kind


for _kind in (Conv(), Pool(), Flatten(), Dense(), RecurrentDense()):
    register(_kind)


def kind_of(layer_or_block: Any) -> LayerKind:
    """The kind of a layer dict (its ``"type"``) or of a block (its ``layer_kind``)."""
    name = (layer_or_block.get("type") if isinstance(layer_or_block, dict)
            else getattr(layer_or_block, "layer_kind", None))
    if name not in KINDS:
        raise ValueError(f"unknown layer type {name!r}; choose from {sorted(KINDS)}")
    return KINDS[name]


def _size(shape: tuple[int, ...]) -> int:
    n = 1
    for v in shape:
        n *= int(v)
    return n
