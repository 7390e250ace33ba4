"""Integer view of a NetX hdf5 network, as Lava's fixed-point models see it.

Weights go through the same calls NetX and Lava make
(``netx.utils.optimize_weight_bits``, then Lava's ``clip_weights`` and
``truncate_weights`` with the sign mode each Lava ``Dense`` derives from its own
weights), so the emulator uses exactly the integers Lava runs.  Every field NetX reads
is read here or refused in one line that names it (docs/design.md lists the Lava details
mirrored).  What each layer type reads, and how its weights become Lava's, is its layer
kind's (:meth:`lava_sast.layers.LayerKind.read_netx`, ``lava_weights``); this module opens
the file, checks fields (:class:`LayerReader`) and holds NetX's and Lava's weight grid
(:class:`LavaGrid`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import h5py
import numpy as np

import lava_sast  # noqa: F401  (compat hook before lava imports)
from lava_sast.layers import LayerKind, array_owners, netx_kind
from lava_sast.models import input_binning
from lava.lib.dl.netx.utils import NetDict, optimize_weight_bits
from lava.utils.weightutils import (clip_weights, determine_sign_mode,
                                    truncate_weights)


class NetworkFileError(ValueError):
    """An hdf5 network file that NetX cannot read; the message names the file."""


class _Arrays:
    """A layer's weight arrays: ``weight`` and, by NetX name, those its kind stores beside
    it (``extra``, in :attr:`~lava_sast.layers.LayerKind.netx_arrays` order), each also an
    attribute (``None`` where this layer's kind has no such array)."""

    weight: Optional[np.ndarray]
    extra: dict[str, np.ndarray]

    def arrays(self) -> list[np.ndarray]:
        """``weight``, then the kind's further arrays."""
        return [self.weight, *self.extra.values()]

    @property
    def layer_kind(self) -> LayerKind:
        """The registered kind of the stored NetX type."""
        return netx_kind(self.netx_type)

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("_") and name in array_owners():
            return self.__dict__.get("extra", {}).get(name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


@dataclass
class IntLayer(_Arrays):
    """One weighted NetX layer in Lava's integer units."""

    kind: str                       # the synapse: 'dense' or 'conv' (``netx_type``: the
    #                                 layer type as stored)
    weight: np.ndarray              # dense: [out, in]; conv: [out, in, kh, kw] (SLAYER order)
    weight_exp: int
    num_weight_bits: int
    vth: int                        # vThMant (Lava shifts it left by 6)
    i_decay: int                    # effective current decay (du + 1 in Lava)
    v_decay: int
    shape: tuple[int, ...]          # SLAYER neuron shape (C, H, W) or (N,)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    bias: Optional[np.ndarray] = None  # Lava's bias_mant (int), in ``shape`` (SLAYER order)
    netx_type: str = ""             # the stored NetX type (its layer kind's); '' = ``kind``
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # the kind's further
    #                                 synapses' integers, by NetX name

    def __post_init__(self) -> None:
        self.netx_type = self.netx_type or self.kind

    @property
    def num_neurons(self) -> int:
        return int(np.prod(self.shape))


@dataclass
class IntNetwork:
    """Weighted layers of a NetX network, input to output."""

    path: str
    layers: list[IntLayer] = field(default_factory=list)
    input_shape: Optional[tuple[int, ...]] = None   # (C, H, W) for conv-first nets
    flatten_before: list[int] = field(default_factory=list)
    binning: dict = field(default_factory=dict)  # the input binning the file records

    @property
    def input_size(self) -> int:
        first = self.layers[0]
        if first.kind == "dense":
            return first.weight.shape[1]
        return int(np.prod(self.input_shape))


def _check_weights(path: str, i: int, key: str = "weight") -> None:
    """Refuse weights NetX cannot deploy, naming the layer: non-finite or out-of-range
    values (NetX casts them to integers silently), or all zero (NetX's
    ``optimize_weight_bits`` divides by the largest weight; a silent layer also makes
    every later layer silent).  Reads the stored values as they are, with h5py."""
    with h5py.File(path, "r") as f:
        if f"layer/{i}/{key}" not in f:
            raise NetworkFileError(f"{path}: layer {i} has no {key}")
        try:
            weight = np.asarray(f[f"layer/{i}/{key}"][()], dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise NetworkFileError(f"{path}: layer {i} {key} is not numeric ({exc})") from exc
    if weight.size == 0:
        raise NetworkFileError(f"{path}: layer {i} {key} is empty")
    if not np.all(np.isfinite(weight)):
        raise NetworkFileError(f"{path}: layer {i} has non-finite (NaN or inf) {key} values")
    if weight.min() < -256 or weight.max() > 254 or np.any(weight != np.round(weight)):
        raise NetworkFileError(f"{path}: layer {i} has {key} values that are not integers "
                               f"in Loihi's 8-bit range [-256, 254]")
    if key == "weight" and not np.any(weight):
        raise NetworkFileError(
            f"{path}: layer {i} has only zero weights (a dead layer: every later layer "
            f"stays silent, and NetX cannot build it); retrain, or export with more "
            f"weight bits")


def _lava_synapse(w: np.ndarray, bits: int) -> np.ndarray:
    """What one Lava ``Dense`` (fixed_pt) does with NetX's optimised weights: it is given
    no sign mode, so it derives its own from its weights (``determine_sign_mode``: a
    matrix with no positive weight is inhibitory even when NetX's optimiser called it
    mixed, and -128 then acts as -127), clips them to 8 bits and truncates them to
    ``bits``."""
    mode = determine_sign_mode(w)
    w = clip_weights(w, mode, num_bits=8)
    w = truncate_weights(w, mode, bits)
    return np.asarray(w, dtype=np.int64)


class LavaGrid:
    """The integer grids stored weights reach Lava on (a layer kind's ``lava_weights``
    picks one): each returns the arrays' integers, the weight exponent and bit count."""

    @staticmethod
    def shared(arrays: Sequence[np.ndarray]) -> tuple[list[np.ndarray], int, int]:
        """NetX's ``create_dense``: the dense arrays (same rows) optimised together by
        ``optimize_weight_bits`` side by side (one exponent, one bit count), then split
        back into one Lava ``Dense`` each (:func:`_lava_synapse`: its own sign mode)."""
        both, bits, exp, _ = optimize_weight_bits(np.hstack(tuple(arrays)))
        both = np.asarray(both)
        cuts = np.cumsum([a.shape[1] for a in arrays])[:-1]
        return ([_lava_synapse(part, bits) for part in np.split(both, cuts, axis=1)],
                int(exp), int(bits))

    @staticmethod
    def as_stored(arrays: Sequence[np.ndarray]) -> tuple[list[np.ndarray], int, int]:
        """The stored integers themselves (exponent 0, 8 bits), as NetX gives a ``Conv``."""
        return [np.asarray(a).astype(np.int64) for a in arrays], 0, 8


@dataclass
class NetxLayer(_Arrays):
    """One layer as a NetX hdf5 file stores it (what ``netx.hdf5.Network`` reads): the
    weight as stored (integers, 64 per unit of SLAYER weight), the CUBA neuron's integer
    parameters and, for convolutions, their geometry."""

    kind: str                                  # 'input', 'flatten', 'dense' or 'conv'
    #                                            (the synapse; ``netx_type``: as stored)
    shape: tuple[int, ...] = ()
    weight: Optional[np.ndarray] = None
    vth: int = 0
    i_decay: int = 0
    v_decay: int = 0
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    bias: Optional[np.ndarray] = None          # as stored
    netx_type: str = ""                        # the stored type; '' = ``kind``
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # the kind's further
    #                                            arrays as stored, by NetX name

    def __post_init__(self) -> None:
        self.netx_type = self.netx_type or self.kind


def _neuron(cfg: NetDict, path: str, i: int) -> tuple[int, int, int]:
    """The fields NetX's ``get_neuron_params`` reads for a CUBA neuron (``type``,
    ``messageBits``, ``vThMant``, ``iDecay``, ``vDecay``); NetX ignores the others
    (``refDelay``, ``gradedSpike``), and so does this."""
    try:
        n = cfg["neuron"]
        kind = n["type"]
    except KeyError as exc:
        raise NetworkFileError(f"{path}: layer {i} has no neuron description") from exc
    if kind not in ("CUBA", "LOIHI"):
        raise NetworkFileError(f"{path}: layer {i} neuron type {kind!r} is not CUBA")
    if "messageBits" in n.keys() and np.any(n.f["messageBits"][()]):
        raise NetworkFileError(f"{path}: layer {i} neuron messageBits "
                               f"{np.asarray(n.f['messageBits'][()]).tolist()} (graded "
                               f"spikes) is not supported")
    values = []
    for key, low, high in (("vThMant", 0, 2 ** 17 - 1), ("iDecay", 0, 4096),
                           ("vDecay", 0, 4096)):
        if key not in n.keys():
            raise NetworkFileError(f"{path}: layer {i} neuron has no {key}")
        value = np.asarray(n[key])
        if value.size != 1 or not np.isfinite(value).all() or value != np.round(value) \
                or not low <= value <= high:
            raise NetworkFileError(f"{path}: layer {i} neuron {key} must be one integer in "
                                   f"{low}..{high}, got {value.tolist()}")
        values.append(int(value))
    return tuple(values)


def _bias(cfg: NetDict, path: str, i: int, shape: tuple[int, ...],
          conv: bool) -> Optional[np.ndarray]:
    """A layer's ``bias`` as stored, checked against what NetX's block accepts: one value
    per neuron (dense: ``N`` or one scalar; conv: ``[W, H, C]`` as Lava orders it) or one
    per channel (conv: ``C``)."""
    if "bias" not in cfg.keys():
        return None
    try:  # as stored (NetDict's ``cfg["bias"]`` is already cast to int, hiding NaNs)
        b = np.asarray(cfg.f["bias"][()], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise NetworkFileError(f"{path}: layer {i} bias is not numeric ({exc})") from exc
    if not np.all(np.isfinite(b)):
        raise NetworkFileError(f"{path}: layer {i} bias has non-finite values")
    if conv:
        c, h, w = shape
        ok = b.shape in ((c,), (w, h, c))
        want = f"[{c}] (per channel) or [{w}, {h}, {c}] (per neuron, W H C)"
    else:
        ok = b.size == 1 or b.shape == (int(np.prod(shape)),)
        want = f"[{int(np.prod(shape))}] or one value"
    if not ok:
        raise NetworkFileError(f"{path}: layer {i} bias has shape {list(b.shape)}; NetX "
                               f"takes {want}")
    return b


def lava_bias(bias: Optional[np.ndarray], shape: tuple[int, ...]) -> Optional[np.ndarray]:
    """The ``bias_mant`` Lava's LIF holds for a stored ``bias``, in SLAYER order ``shape``:
    NetX's ``NetDict`` reads it with ``astype(int)`` (truncation toward zero), its block
    casts it to int32 and the fixed-point LIF stores it as int16 (each cast wrapping).
    Lava adds ``bias_mant << 6`` (NetX's ``bias_exp`` 6) to the voltage every step."""
    if bias is None:
        return None
    b = np.trunc(bias).astype(np.int64).astype(np.int16).astype(np.int64)
    if len(shape) == 3:
        c, h, w = shape
        b = b.reshape(c, 1, 1) if b.shape == (c,) else b.transpose(2, 1, 0)
        return np.array(np.broadcast_to(b, shape))
    return np.array(np.broadcast_to(b.reshape(-1), shape))


def _pair(value) -> tuple[int, int]:
    return tuple(int(v) for v in np.broadcast_to(value, 2))


@dataclass
class LayerReader:
    """Layer ``index`` of the NetX file ``path`` (its group ``cfg``), as a layer kind reads
    it (:meth:`lava_sast.layers.LayerKind.read_netx`): checked field readers, and errors
    that name the file and layer."""

    cfg: NetDict
    path: str
    index: int

    @property
    def type(self) -> str:
        return self.cfg["type"]

    def error(self, message: str) -> NetworkFileError:
        """``path: layer i message``, to raise."""
        return NetworkFileError(f"{self.path}: layer {self.index} {message}")

    def has(self, key: str) -> bool:
        return key in self.cfg.keys()

    def is_group(self, key: str) -> bool:
        """Whether ``key`` is an hdf5 group (e.g. complex ``weight/real``, ``weight/imag``)."""
        return self.has(key) and isinstance(self.cfg.f[key], h5py.Group)

    def value(self, key: str) -> Any:
        """``key`` as NetX's ``NetDict`` reads it."""
        return self.cfg[key]

    def shape(self) -> tuple[int, ...]:
        return tuple(int(v) for v in np.atleast_1d(self.cfg["shape"]))

    def pair(self, key: str) -> tuple[int, int]:
        return _pair(self.cfg[key])

    def neuron(self) -> tuple[int, int, int]:
        """The CUBA neuron's ``(vThMant, iDecay, vDecay)`` (:func:`_neuron`)."""
        if not self.has("neuron"):
            raise self.error("has no neuron description")
        return _neuron(self.cfg, self.path, self.index)

    def weight(self, key: str) -> np.ndarray:
        """Array ``key`` (float64), checked as NetX can deploy it (:func:`_check_weights`)."""
        _check_weights(self.path, self.index, key)
        return np.asarray(self.cfg[key], dtype=np.float64)

    def dense_weight(self, key: str, n: int) -> np.ndarray:
        """Array ``key`` as a dense ``[n, inputs]`` matrix."""
        w = self.weight(key)
        if w.ndim == 1:
            w = w.reshape(n, -1)
        if w.ndim != 2 or w.shape[0] != n:
            raise self.error(f"{key} has shape {list(w.shape)}; expected [{n}, inputs]")
        return w

    def bias(self, shape: tuple[int, ...], conv: bool) -> Optional[np.ndarray]:
        """The ``bias`` as stored (:func:`_bias`)."""
        return _bias(self.cfg, self.path, self.index, shape, conv)

    def layer(self, kind: str, **fields: Any) -> NetxLayer:
        """The :class:`NetxLayer` read, of synapse ``kind``, stored as this type."""
        return NetxLayer(kind, netx_type=self.type, **fields)

    def refuse_foreign_arrays(self, kind: LayerKind) -> None:
        """Refuse an array that NetX reads only in another layer type."""
        for key, types in array_owners().items():
            if key not in kind.netx_arrays and self.has(key):
                raise self.error(f"is {self.type!r} but has {key} (NetX reads it only in "
                                 f"a {' or '.join(map(repr, types))} layer)")


def read_input(cfg: NetDict, path: str, i: int) -> NetxLayer:
    """The file's ``input`` layer (its shape; no neurons)."""
    if "neuron" in cfg.keys():
        raise NetworkFileError(f"{path}: input layers with neurons are not supported")
    return NetxLayer("input", tuple(int(v) for v in cfg["shape"]))


def read_layer(cfg: NetDict, path: str, i: int) -> NetxLayer:
    """Layer ``i`` (group ``cfg``) as stored: the input layer, or as its kind reads it."""
    kind_name = cfg["type"]
    if kind_name == "input":
        return read_input(cfg, path, i)
    try:
        kind = netx_kind(kind_name)
    except KeyError:
        raise NetworkFileError(f"{path}: layer {i} type {kind_name!r} cannot be "
                               f"deployed") from None
    reader = LayerReader(cfg, path, i)
    layer = kind.read_netx(reader)
    reader.refuse_foreign_arrays(kind)
    return layer


def read_layers(path: str | os.PathLike) -> list[NetxLayer]:
    """Every layer of the NetX hdf5 file at ``path``, as stored; :class:`NetworkFileError`
    names the file and layer that cannot be read or deployed."""
    path = str(path)
    if not Path(path).is_file():
        raise NetworkFileError(f"network file {path} does not exist")
    try:
        cfg = NetDict(path)
        layers_cfg = cfg["layer"]
        n_layers = len(layers_cfg)
    except Exception as exc:
        raise NetworkFileError(f"{path}: not an hdf5 network NetX can read ({exc})") from exc
    layers = []
    for i in range(n_layers):
        try:
            layer = layers_cfg[i]
            layer["type"]
        except Exception as exc:
            raise NetworkFileError(f"{path}: layer {i} is unreadable ({exc})") from exc
        layers.append(read_layer(layer, path, i))
    return layers


def load_int_network(path: str | os.PathLike) -> IntNetwork:
    """Read ``path`` (NetX hdf5) into an :class:`IntNetwork`: the weights as Lava's
    fixed-point models hold them."""
    path = str(path)
    layers = read_layers(path)
    net = IntNetwork(path=path, binning=input_binning(path))
    for layer in layers:
        if layer.kind == "input":
            net.input_shape = layer.shape
        elif layer.kind == "flatten":
            net.flatten_before.append(len(net.layers))
        else:
            kind = layer.layer_kind
            weights, exp, bits = kind.lava_weights(layer, LavaGrid)
            net.layers.append(IntLayer(
                layer.kind, weights[0], exp, bits, layer.vth, layer.i_decay, layer.v_decay,
                layer.shape, stride=layer.stride, padding=layer.padding,
                dilation=layer.dilation, groups=layer.groups,
                bias=lava_bias(layer.bias, layer.shape), netx_type=layer.netx_type,
                extra=dict(zip(kind.netx_arrays[1:], weights[1:]))))
    if not net.layers:
        raise NetworkFileError(f"{path}: no weighted layers")
    if net.layers[0].kind == "conv" and net.input_shape is None:
        raise NetworkFileError(f"{path}: conv-first network without an input layer shape")
    return net
