"""Integer view of a NetX hdf5 network, as Lava's fixed-point models see it.

Weights go through the same calls NetX and Lava make
(``netx.utils.optimize_weight_bits``, then Lava's ``clip_weights`` and
``truncate_weights`` with the sign mode each Lava ``Dense`` derives from its own
weights), so the emulator uses exactly the integers Lava runs.  Every field NetX reads
is read here or refused in one line that names it (docs/design.md lists the Lava details
mirrored).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import h5py
import numpy as np

import lava_sast  # noqa: F401  (compat hook before lava imports)
from lava_sast.models import input_binning
from lava.lib.dl.netx.utils import NetDict, optimize_weight_bits
from lava.utils.weightutils import (clip_weights, determine_sign_mode,
                                    truncate_weights)


class NetworkFileError(ValueError):
    """An hdf5 network file that NetX cannot read; the message names the file."""


@dataclass
class IntLayer:
    """One weighted NetX layer in Lava's integer units."""

    kind: str                       # 'dense' or 'conv' (a 'dense_rec' file layer is a
    #                                 'dense' layer with ``weight_rec``)
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
    weight_rec: Optional[np.ndarray] = None  # dense_rec: [out, out], acts one step later

    @property
    def num_neurons(self) -> int:
        return int(np.prod(self.shape))

    @property
    def recurrent(self) -> bool:
        return self.weight_rec is not None


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


def _lava_weights(weight: np.ndarray) -> tuple[np.ndarray, int, int]:
    w, bits, exp, _ = optimize_weight_bits(weight)
    return _lava_synapse(w, bits), int(exp), int(bits)


def _lava_rec_weights(weight: np.ndarray, weight_rec: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, int, int]:
    """NetX's ``create_dense(rec=True)``: ``weight`` and ``weight_rec`` optimised together
    (one exponent, one bit count), then split into two Lava ``Dense`` synapses, each with
    its own sign mode."""
    both, bits, exp, _ = optimize_weight_bits(np.hstack((weight, weight_rec)))
    both = np.asarray(both)
    n_in = weight.shape[1]
    return (_lava_synapse(both[:, :n_in], bits), _lava_synapse(both[:, n_in:], bits),
            int(exp), int(bits))


@dataclass
class NetxLayer:
    """One layer as a NetX hdf5 file stores it (what ``netx.hdf5.Network`` reads): the
    weight as stored (integers, 64 per unit of SLAYER weight), the CUBA neuron's integer
    parameters and, for convolutions, their geometry."""

    kind: str                                  # 'input', 'flatten', 'dense' or 'conv'
    #                                            (a 'dense_rec' layer is 'dense' with
    #                                            ``weight_rec``)
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
    weight_rec: Optional[np.ndarray] = None    # dense_rec: [out, out] as stored


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


def read_input(cfg: NetDict, path: str, i: int) -> NetxLayer:
    if "neuron" in cfg.keys():
        raise NetworkFileError(f"{path}: input layers with neurons are not supported")
    return NetxLayer("input", tuple(int(v) for v in cfg["shape"]))


def read_flatten(cfg: NetDict, path: str, i: int) -> NetxLayer:
    return NetxLayer("flatten")


def _dense_weight(cfg: NetDict, key: str, n: int, path: str, i: int) -> np.ndarray:
    _check_weights(path, i, key)
    w = np.asarray(cfg[key], dtype=np.float64)
    if w.ndim == 1:
        w = w.reshape(n, -1)
    if w.ndim != 2 or w.shape[0] != n:
        raise NetworkFileError(f"{path}: layer {i} {key} has shape {list(w.shape)}; "
                               f"expected [{n}, inputs]")
    return w


def read_dense(cfg: NetDict, path: str, i: int) -> NetxLayer:
    """A ``dense`` or ``dense_rec`` layer (NetX's ``create_dense`` reads the same fields:
    ``shape``, ``neuron``, ``weight``, ``weight_rec``, ``delay``, ``bias``; complex
    ``weight/real``/``weight/imag`` only for ``dense_comp``)."""
    if "delay" in cfg.keys():
        # NetX would build delayed synapses, and its RecurrentDense then drops the
        # weight exponent; the emulator runs no delays
        raise NetworkFileError(f"{path}: layer {i} has a delay field (axonal delays are "
                               f"not supported)")
    if "neuron" not in cfg.keys():
        raise NetworkFileError(f"{path}: layer {i} has no neuron description")
    vth, i_decay, v_decay = _neuron(cfg, path, i)
    if "weight" in cfg.keys() and isinstance(cfg.f["weight"], h5py.Group):
        raise NetworkFileError(f"{path}: layer {i} has complex weights (weight/real, "
                               f"weight/imag), which are not supported")
    shape = tuple(int(v) for v in np.atleast_1d(cfg["shape"]))
    n = int(np.prod(shape))
    w = _dense_weight(cfg, "weight", n, path, i)
    rec = None
    if cfg["type"] == "dense_rec":
        rec = _dense_weight(cfg, "weight_rec", n, path, i)
        if rec.shape != (n, n):
            raise NetworkFileError(f"{path}: layer {i} weight_rec has shape "
                                   f"{list(rec.shape)}; expected [{n}, {n}]")
    elif "weight_rec" in cfg.keys():
        raise NetworkFileError(f"{path}: layer {i} is 'dense' but has weight_rec (NetX "
                               f"reads it only in a 'dense_rec' layer)")
    return NetxLayer("dense", (n,), w, vth, i_decay, v_decay,
                     bias=_bias(cfg, path, i, (n,), False), weight_rec=rec)


def read_conv(cfg: NetDict, path: str, i: int) -> NetxLayer:
    """A ``conv`` layer (NetX's ``create_conv`` reads the same fields)."""
    vth, i_decay, v_decay = _neuron(cfg, path, i)
    _check_weights(path, i)
    w = np.asarray(cfg["weight"], dtype=np.float64)
    shape = tuple(int(v) for v in cfg["shape"])
    if len(shape) != 3:
        raise NetworkFileError(f"{path}: layer {i} conv shape {list(shape)} is not [C, H, W]")
    return NetxLayer("conv", shape, w.reshape(w.shape[:4]),
                     vth, i_decay, v_decay, stride=_pair(cfg["stride"]),
                     padding=_pair(cfg["padding"]), dilation=_pair(cfg["dilation"]),
                     groups=int(cfg["groups"]), bias=_bias(cfg, path, i, shape, True))


#: One reader per NetX layer type.
READERS = {"input": read_input, "flatten": read_flatten, "dense": read_dense,
           "dense_rec": read_dense, "conv": read_conv}


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
            kind = layer["type"]
        except Exception as exc:
            raise NetworkFileError(f"{path}: layer {i} is unreadable ({exc})") from exc
        if kind not in READERS:
            raise NetworkFileError(f"{path}: layer {i} type {kind!r} cannot be deployed")
        layers.append(READERS[kind](layer, path, i))
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
        elif layer.kind == "dense":
            rec = None
            if layer.weight_rec is not None:
                w, rec, exp, bits = _lava_rec_weights(layer.weight, layer.weight_rec)
            else:
                w, exp, bits = _lava_weights(layer.weight)
            net.layers.append(IntLayer("dense", w, exp, bits, layer.vth, layer.i_decay,
                                       layer.v_decay, layer.shape,
                                       bias=lava_bias(layer.bias, layer.shape),
                                       weight_rec=rec))
        else:
            net.layers.append(IntLayer(
                "conv", layer.weight.astype(np.int64), 0, 8, layer.vth, layer.i_decay,
                layer.v_decay, layer.shape, stride=layer.stride, padding=layer.padding,
                dilation=layer.dilation, groups=layer.groups,
                bias=lava_bias(layer.bias, layer.shape)))
    if not net.layers:
        raise NetworkFileError(f"{path}: no weighted layers")
    if net.layers[0].kind == "conv" and net.input_shape is None:
        raise NetworkFileError(f"{path}: conv-first network without an input layer shape")
    return net
