"""One typed description per layer kind of an ``--arch`` layer list: the registry.

Each kind (:class:`LayerKind`) holds its JSON keys and their checks, its shape rule, the
training block it builds, the synapses that export quantises together, its SynOps, and,
for the deploy side, its NetX layer: the writer (:meth:`LayerKind.write_netx`), the reader
(:meth:`LayerKind.read_netx`), the integers Lava holds (:meth:`LayerKind.lava_weights`)
and the emulator's integer step (``emu_*`` methods).  The builder
(:class:`lava_sast.models.SastNetwork`), the ``--arch`` reader (:mod:`lava_sast.arch`),
SynOps (:mod:`lava_sast.synops`), the exporter (:mod:`netx_export.export`), the NetX reader
(:mod:`netx_export.netx_model`) and the emulator (:mod:`netx_export.emulate`) ask the
registry; those modules keep the generic machinery (file access, Lava's weight grid and
sign modes, the neuron, the time loop, carries across samples) and hand the kind a small
context object for the rest.  Adding a kind is a subclass here, registered with
:func:`register`, and its block.

Dependencies point one way: :mod:`netx_export` imports this module, never the reverse
(the contexts are duck-typed: :class:`netx_export.netx_model.LayerReader`,
:class:`netx_export.netx_model.LavaGrid`, :class:`netx_export.emulate.LayerState`).
No torch at import time: the config checks layer lists without building a net.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

#: Neuron keys a weighted layer may set over the run's (``"neuron": {...}``).
NEURON_KEYS = frozenset({"threshold", "current_decay", "voltage_decay"})

#: A fan-out description (:meth:`LayerKind.fan_out`, :meth:`LayerKind.netx_fan_out`):
#: ``("dense", outputs)`` or ``("conv", kernel, stride, padding, dilation, outputs per
#: group)``; :func:`lava_sast.synops.fan_out_of` makes it a tensor.
FanOut = tuple


class LayerKind:
    """A layer kind: ``name`` (the ``"type"`` in a layer list), the keys a layer ``needs``
    and ``may`` have, whether it holds trained weights, the NetX type it exports as and
    the weight arrays of its NetX group (``netx_arrays``: one per synapse of
    :meth:`synapses`, ``weight`` first)."""

    name: str = ""
    needs: frozenset = frozenset()
    may: frozenset = frozenset()
    weighted: bool = False
    netx_type: Optional[str] = None
    netx_arrays: tuple[str, ...] = ()
    #: the synapse a weighted kind builds on: ``dense`` (NIR ``Linear``/``Affine``) or
    #: ``conv`` (NIR ``Conv2d``)
    synapse: Optional[str] = None
    #: further :attr:`netx_arrays` that NIR holds as a weight node from the layer's neurons
    #: back into them (acting one step later), by array, with the node's name prefix; the
    #: NIR import reads such an edge into the array
    nir_loops: dict = {}
    #: keys that are whole numbers, with their least value
    counts: dict = {}

    # -- the layer list -------------------------------------------------------------------

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

    # -- training -------------------------------------------------------------------------

    def build(self, layer: dict[str, Any], in_shape: tuple[int, ...],
              neuron: dict[str, Any], weight_scale: float) -> Any:
        """The training block for input ``in_shape`` (:meth:`make_block`); a weighted block
        writes itself as NetX (its ``export_hdf5``, lava-dl's call) through
        :meth:`write_netx`."""
        block = self.make_block(layer, in_shape, neuron, weight_scale)
        if self.netx_arrays:
            block.netx_writer = self.write_netx
        return block

    def make_block(self, layer: dict[str, Any], in_shape: tuple[int, ...],
                   neuron: dict[str, Any], weight_scale: float) -> Any:
        """The kind's ``torch.nn.Module`` (:mod:`lava_sast.block`)."""
        raise NotImplementedError

    def synapses(self, block: Any) -> list[Any]:
        """The synapses export quantises onto one grid (one NetX exponent), in the order of
        :attr:`netx_arrays`."""
        return [block.synapse] if self.weighted else []

    def fan_out(self, block: Any) -> FanOut:
        """How each input neuron of ``block`` fans out (:data:`FanOut`)."""
        raise NotImplementedError

    def own_spikes(self, block: Any) -> Optional[tuple[Any, int]]:
        """Synapses fed by the block's own spikes (recurrence): ``(spike counts [N,
        neurons] of the last forward pass, fan-out of each)``; ``None`` when it has none."""
        return None

    # -- NIR ------------------------------------------------------------------------------

    def nir_arrays(self, block: Any) -> dict[str, np.ndarray]:
        """The block's weight arrays as its forward pass computes with them (through each
        synapse's hook), in SLAYER float units, by :attr:`netx_arrays` name (``weight`` in
        its synapse's shape up to the kernel, further arrays ``[out, in]``)."""
        out = {}
        for key, syn in zip(self.netx_arrays, self.synapses(block)):
            w = syn.pre_hook_fx(syn.weight) if syn.pre_hook_fx is not None else syn.weight
            w = w.detach().cpu().numpy().astype(np.float32)
            out[key] = w if key == "weight" else w.reshape(w.shape[0], -1)
        return out

    def set_arrays(self, block: Any, arrays: dict[str, np.ndarray]) -> None:
        """Copy ``arrays`` (by :attr:`netx_arrays` name, SLAYER float units) into the
        block's synapses."""
        import torch
        with torch.no_grad():
            for key, syn in zip(self.netx_arrays, self.synapses(block)):
                value = torch.as_tensor(np.asarray(arrays[key]), dtype=syn.weight.dtype)
                syn.weight.copy_(value.reshape(syn.weight.shape))

    # -- NetX writer ----------------------------------------------------------------------

    def write_netx(self, block: Any, handle: Any) -> None:
        """Write ``block`` into the NetX layer group ``handle`` (h5py): SLAYER's fields
        (``type``, ``shape``, ``neuron``, ``weight``; the block's ``export_slayer_hdf5``),
        the type :attr:`netx_type` where SLAYER's differs, every further synapse under its
        :attr:`netx_arrays` name and the bias, all in NetX's units (64 per unit)."""
        block.export_slayer_hdf5(handle)
        if bytes(handle["type"][0]) != self.netx_type.encode():
            del handle["type"]
            handle.create_dataset("type", (1,), "S10", [self.netx_type.encode()])
        for key, syn in zip(self.netx_arrays[1:], self.synapses(block)[1:]):
            handle.create_dataset(key, data=_stored_dense_weight(syn))
        if getattr(block, "bias", None) is not None:
            handle.create_dataset("bias", data=(block.bias.detach() * 64).round()
                                  .cpu().numpy().astype(np.int64))

    # -- NetX reader ----------------------------------------------------------------------

    def read_netx(self, reader: Any) -> Any:
        """The layer group ``reader.cfg`` as stored (a
        :class:`netx_export.netx_model.NetxLayer`, made by ``reader.layer``): every field
        NetX reads for this type read through ``reader``'s checked field readers, every
        other refused with ``reader.error``."""
        raise NotImplementedError

    def lava_weights(self, layer: Any, grid: Any) -> tuple[list[np.ndarray], int, int]:
        """The integers Lava's synapses hold for the stored ``layer``: one array per
        :attr:`netx_arrays` entry, the weight exponent and the bit count, on ``grid``
        (:class:`netx_export.netx_model.LavaGrid`: NetX's and Lava's quantisation)."""
        raise NotImplementedError

    # -- the emulator: Lava's integer step ------------------------------------------------

    def netx_input_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The per-sample input shape the layer reads, given the previous one's."""
        return shape

    def netx_fan_out(self, layer: Any) -> FanOut:
        """How each input neuron of the integer ``layer`` fans out (:data:`FanOut`)."""
        raise NotImplementedError

    def netx_own_fan_out(self, layer: Any) -> int:
        """Synapses each of the integer ``layer``'s own spikes feeds (0: none)."""
        return 0

    def emu_carry_shape(self, layer: Any) -> Optional[tuple[int, ...]]:
        """Per-sample shape of what the layer carries from one step into the next beyond
        the neuron state, which Lava does not reset between samples (a synapse buffer):
        the emulator chains it across samples; ``None``: nothing."""
        return None

    def emu_init(self, state: Any) -> None:
        """Put the kind's own tensors on the emulator's layer ``state`` (its weights are
        ``state.weight``, its carry ``state.carry``; ``state.tensor`` converts more)."""

    def emu_sum(self, state: Any, spikes: Any) -> Any:
        """The integer synaptic sum of binary ``spikes`` ``[batch, *input shape]`` (before
        the weight exponent, ``state.exp``)."""
        raise NotImplementedError

    def emu_step(self, state: Any, current: Any) -> Any:
        """One time step on input current ``current`` (``a << 6``): the spikes (bool) of
        ``state.neuron_step``, with whatever the kind adds."""
        return state.neuron_step(current)


def _stored_dense_weight(syn: Any) -> np.ndarray:
    """A dense synapse's weight as NetX stores it: ``[out, in]``, 64 per unit."""
    return syn.pre_hook_fx(syn.weight, descale=True).reshape(
        syn.weight.shape[:2]).cpu().data.numpy()


class Conv(LayerKind):
    """A 2-D convolution (NetX ``conv``)."""

    name, netx_type, weighted, synapse = "conv", "conv", True, "conv"
    netx_arrays = ("weight",)
    needs = frozenset({"out", "kernel"})
    may = frozenset({"stride", "padding", "neuron", "bias"})
    counts = {"out": 1, "kernel": 1, "stride": 1, "padding": 0}

    def out_shape(self, layer, in_shape):
        c, h, w = in_shape
        k, s, p = layer["kernel"], layer.get("stride", 1), layer.get("padding", 0)
        return (layer["out"], (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)

    def make_block(self, layer, in_shape, neuron, weight_scale):
        from . import block
        return block.Conv(neuron, in_shape[0], layer["out"], layer["kernel"],
                          stride=layer.get("stride", 1), padding=layer.get("padding", 0),
                          weight_scale=weight_scale, bias=layer.get("bias", False))

    def fan_out(self, block):
        syn = block.synapse
        return ("conv", tuple(syn.weight.shape[2:4]), syn.stride[:2], syn.padding[:2],
                syn.dilation[:2], syn.out_channels // syn.groups)

    def read_netx(self, reader):
        """NetX's ``create_conv`` fields: ``shape`` ``[C, H, W]``, ``neuron``, ``weight``,
        ``stride``, ``padding``, ``dilation``, ``groups``, ``bias``."""
        vth, i_decay, v_decay = reader.neuron()
        w = reader.weight("weight")
        shape = reader.shape()
        if len(shape) != 3:
            raise reader.error(f"conv shape {list(shape)} is not [C, H, W]")
        return reader.layer("conv", shape=shape, weight=w.reshape(w.shape[:4]), vth=vth,
                            i_decay=i_decay, v_decay=v_decay, stride=reader.pair("stride"),
                            padding=reader.pair("padding"), dilation=reader.pair("dilation"),
                            groups=int(reader.value("groups")),
                            bias=reader.bias(shape, conv=True))

    def lava_weights(self, layer, grid):
        """NetX gives a Lava ``Conv`` the stored integers (exponent 0, 8 bits)."""
        return grid.as_stored([layer.weight])

    def netx_fan_out(self, layer):
        w = layer.weight
        return ("conv", tuple(w.shape[2:4]), layer.stride, layer.padding, layer.dilation,
                w.shape[0] // layer.groups)

    def emu_sum(self, state, spikes):
        """Lava's ``Conv``, its output wrapped to signed 24 bits where it can reach them."""
        from torch.nn import functional as F
        lay = state.layer
        acc = F.conv2d(spikes.to(state.dtype), state.weight, stride=lay.stride,
                       padding=lay.padding, dilation=lay.dilation, groups=lay.groups)
        return state.wrap24(acc) if state.sum_reaches_wrap else acc


class Dense(LayerKind):
    """A fully connected layer (NetX ``dense``)."""

    name, netx_type, weighted, synapse = "dense", "dense", True, "dense"
    netx_arrays = ("weight",)
    needs = frozenset({"out"})
    may = frozenset({"neuron", "bias"})
    counts = {"out": 1}

    def out_shape(self, layer, in_shape):
        return (layer["out"],)

    def make_block(self, layer, in_shape, neuron, weight_scale):
        from . import block
        # in_shape[0]: a flattened input's size (a dense layer reads NCT)
        return block.Dense(neuron, in_shape[0], layer["out"], weight_scale=weight_scale,
                           bias=layer.get("bias", False))

    def fan_out(self, block):
        return ("dense", block.synapse.out_channels)

    def read_netx(self, reader):
        """NetX's ``create_dense`` fields: ``shape``, ``neuron``, ``weight`` ``[N, inputs]``,
        ``delay`` (refused: no axonal delays), ``bias`` (complex ``weight/real`` and
        ``weight/imag`` only for ``dense_comp``: refused)."""
        if reader.has("delay"):
            # NetX would build delayed synapses (and a recurrent layer of them would drop
            # the weight exponent); the emulator runs no delays
            raise reader.error("has a delay field (axonal delays are not supported)")
        vth, i_decay, v_decay = reader.neuron()
        if reader.is_group("weight"):
            raise reader.error("has complex weights (weight/real, weight/imag), which are "
                               "not supported")
        n = int(np.prod(reader.shape()))
        return reader.layer("dense", shape=(n,), weight=reader.dense_weight("weight", n),
                            vth=vth, i_decay=i_decay, v_decay=v_decay,
                            bias=reader.bias((n,), conv=False))

    def lava_weights(self, layer, grid):
        """NetX's ``create_dense``: all the layer's arrays on one grid (one exponent, one
        bit count; ``grid.shared``), each then a Lava ``Dense`` of its own."""
        return grid.shared(layer.arrays())

    def netx_input_shape(self, shape):
        return (int(np.prod(shape)),)

    def netx_fan_out(self, layer):
        return ("dense", layer.weight.shape[0])

    def emu_sum(self, state, spikes):
        return spikes.reshape(spikes.shape[0], -1).to(state.dtype) @ state.weight.T


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

    def make_block(self, layer, in_shape, neuron, weight_scale):
        from . import block
        return block.SumPool(layer["kernel"])


class Flatten(LayerKind):
    """``(C, H, W) -> (C H W,)``; a list may start with one (a dense-first net).  Its block
    is SLAYER's flatten, which writes the NetX ``flatten`` layer itself."""

    name, netx_type = "flatten", "flatten"

    def out_shape(self, layer, in_shape):
        return (_size(in_shape),)

    def make_block(self, layer, in_shape, neuron, weight_scale):
        from . import block
        return block.Flatten()

    def write_netx(self, block, handle):
        block.export_hdf5(handle)

    def read_netx(self, reader):
        return reader.layer("flatten")


class RecurrentDense(Dense):
    """A dense layer whose spikes also feed itself, one step later (NetX ``dense_rec``):
    a second synapse ``[out, out]`` (``recurrent_synapse``, stored as ``weight_rec``) on the
    grid of the first, which Lava runs as a second ``Dense`` whose output arrives one step
    later and is not reset between samples."""

    name, netx_type = "dense_rec", "dense_rec"
    netx_arrays = ("weight", "weight_rec")
    nir_loops = {"weight_rec": "rec"}  # NIR: lif<i> -> rec<i> -> lif<i>

    def make_block(self, layer, in_shape, neuron, weight_scale):
        from . import block
        return block.RecurrentDense(neuron, in_shape[0], layer["out"],
                                    weight_scale=weight_scale, bias=layer.get("bias", False))

    def synapses(self, block):
        return [block.synapse, block.recurrent_synapse]

    def own_spikes(self, block):
        return block.last_spike_counts, block.synapse.out_channels

    def read_netx(self, reader):
        """The dense fields and ``weight_rec`` ``[N, N]``."""
        layer = super().read_netx(reader)
        n = layer.shape[0]
        rec = reader.dense_weight("weight_rec", n)
        if rec.shape != (n, n):
            raise reader.error(f"weight_rec has shape {list(rec.shape)}; expected [{n}, {n}]")
        layer.extra["weight_rec"] = rec
        return layer

    def netx_own_fan_out(self, layer):
        return layer.num_neurons  # every spike reaches every neuron of the layer

    def emu_carry_shape(self, layer):
        """The layer's own spikes of the step before (in the recurrent ``Dense``'s buffer:
        at a sample's first step, those of the previous sample's last step)."""
        return (layer.num_neurons,)

    def emu_init(self, state):
        state.weight_rec = state.tensor(state.layer.extra["weight_rec"])

    def emu_step(self, state, current):
        """The recurrent ``Dense``'s output (the last step's spikes, shifted by the shared
        exponent on its own) joins the input current; this step's spikes are carried."""
        current = current + state.exp(state.carry @ state.weight_rec.T) * 64
        spikes = state.neuron_step(current)
        state.carry = spikes.reshape(spikes.shape[0], -1).to(state.dtype)
        return spikes


#: Every layer kind by name.
KINDS: dict[str, LayerKind] = {}

#: Every exported layer kind by NetX type.
NETX_TYPES: dict[str, LayerKind] = {}


def register(kind: LayerKind) -> LayerKind:
    """Add ``kind`` to :data:`KINDS` (its name must be new) and, when it exports, to
    :data:`NETX_TYPES` (its NetX type must be new)."""
    if kind.name in KINDS:
        raise ValueError(f"layer kind {kind.name!r} is registered twice")
    if kind.netx_type is not None and kind.netx_type in NETX_TYPES:
        raise ValueError(f"NetX type {kind.netx_type!r} is registered twice")
    KINDS[kind.name] = kind
    if kind.netx_type is not None:
        NETX_TYPES[kind.netx_type] = kind
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


def netx_kind(netx_type: str) -> LayerKind:
    """The kind written as NetX layer type ``netx_type`` (``KeyError`` when none is)."""
    return NETX_TYPES[netx_type]


def kind_with(synapse: str, loops: Any = ()) -> LayerKind:
    """The registered kind built on ``synapse`` (``dense``/``conv``) whose NIR loop arrays
    (:attr:`LayerKind.nir_loops`) are exactly ``loops``; ``ValueError`` when none is."""
    for kind in KINDS.values():
        if kind.synapse == synapse and set(kind.nir_loops) == set(loops):
            return kind
    raise ValueError(f"no layer kind on a {synapse} synapse has the recurrent arrays "
                     f"{sorted(loops)}")


def loop_arrays(synapse: str) -> list[str]:
    """Every NIR loop array a kind on ``synapse`` may hold (what a neuron's own edge in a
    NIR graph can be read into)."""
    return sorted({key for k in KINDS.values() if k.synapse == synapse for key in k.nir_loops})


def array_owners() -> dict[str, list[str]]:
    """Each NetX array name beyond ``weight`` with the NetX types that read it."""
    owners: dict[str, list[str]] = {}
    for kind in NETX_TYPES.values():
        for key in kind.netx_arrays[1:]:
            owners.setdefault(key, []).append(kind.netx_type)
    return owners


def _size(shape: Sequence[int]) -> int:
    n = 1
    for v in shape:
        n *= int(v)
    return n
