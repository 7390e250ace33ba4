"""Integer view of a NetX hdf5 network, as Lava's fixed-point models see it.

Weights go through the same calls NetX and Lava make
(``netx.utils.optimize_weight_bits``, then Lava's ``clip_weights`` and
``truncate_weights``), so the emulator uses exactly the integers Lava runs.
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
from lava.utils.weightutils import SignMode, clip_weights, truncate_weights


class NetworkFileError(ValueError):
    """An hdf5 network file that NetX cannot read; the message names the file."""


@dataclass
class IntLayer:
    """One weighted NetX layer in Lava's integer units."""

    kind: str                       # 'dense' or 'conv'
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
    bias: Optional[np.ndarray] = None

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


def _check_weights(path: str, i: int) -> None:
    """Refuse weights NetX cannot deploy, naming the layer: non-finite or out-of-range
    values (NetX casts them to integers silently), or all zero (NetX's
    ``optimize_weight_bits`` divides by the largest weight; a silent layer also makes
    every later layer silent).  Reads the stored values as they are, with h5py."""
    with h5py.File(path, "r") as f:
        if f"layer/{i}/weight" not in f:
            raise NetworkFileError(f"{path}: layer {i} has no weight")
        try:
            weight = np.asarray(f[f"layer/{i}/weight"][()], dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise NetworkFileError(f"{path}: layer {i} weight is not numeric ({exc})") from exc
    if not np.all(np.isfinite(weight)):
        raise NetworkFileError(f"{path}: layer {i} has non-finite (NaN or inf) weights")
    if weight.min() < -256 or weight.max() > 254 or np.any(weight != np.round(weight)):
        raise NetworkFileError(f"{path}: layer {i} has weights that are not integers in "
                               f"Loihi's 8-bit range [-256, 254]")
    if not np.any(weight):
        raise NetworkFileError(
            f"{path}: layer {i} has only zero weights (a dead layer: every later layer "
            f"stays silent, and NetX cannot build it); retrain, or export with more "
            f"weight bits")


def _lava_weights(weight: np.ndarray) -> tuple[np.ndarray, int, int]:
    w, bits, exp, sign = optimize_weight_bits(weight)
    mode = SignMode(int(sign))
    w = clip_weights(w, mode, num_bits=8)
    w = truncate_weights(w, mode, bits)
    return np.asarray(w, dtype=np.int64), int(exp), int(bits)


@dataclass
class NetxLayer:
    """One layer as a NetX hdf5 file stores it (what ``netx.hdf5.Network`` reads): the
    weight as stored (integers, 64 per unit of SLAYER weight), the CUBA neuron's integer
    parameters and, for convolutions, their geometry."""

    kind: str                                  # 'input', 'flatten', 'dense' or 'conv'
    shape: tuple[int, ...] = ()
    weight: Optional[np.ndarray] = None
    vth: int = 0
    i_decay: int = 0
    v_decay: int = 0
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    bias: Optional[np.ndarray] = None


def _neuron(cfg: NetDict, path: str, i: int) -> tuple[int, int, int]:
    try:
        n = cfg["neuron"]
        kind = n["type"]
    except KeyError as exc:
        raise NetworkFileError(f"{path}: layer {i} has no neuron description") from exc
    if kind not in ("CUBA", "LOIHI"):
        raise NetworkFileError(f"{path}: layer {i} neuron type {kind!r} is not CUBA")
    return int(n["vThMant"]), int(n["iDecay"]), int(n["vDecay"])


def _pair(value) -> tuple[int, int]:
    return tuple(int(v) for v in np.broadcast_to(value, 2))


def read_input(cfg: NetDict, path: str, i: int) -> NetxLayer:
    if "neuron" in cfg.keys():
        raise NetworkFileError(f"{path}: input layers with neurons are not supported")
    return NetxLayer("input", tuple(int(v) for v in cfg["shape"]))


def read_flatten(cfg: NetDict, path: str, i: int) -> NetxLayer:
    return NetxLayer("flatten")


def read_dense(cfg: NetDict, path: str, i: int) -> NetxLayer:
    """A ``dense`` layer (NetX's ``create_dense`` reads the same fields)."""
    if "delay" in cfg.keys():
        raise NetworkFileError(f"{path}: layer {i} has axonal delays (not supported)")
    vth, i_decay, v_decay = _neuron(cfg, path, i)
    _check_weights(path, i)
    shape = tuple(int(v) for v in np.atleast_1d(cfg["shape"]))
    w = cfg["weight"]
    if w.ndim == 1:
        w = w.reshape(int(np.prod(shape)), -1)
    return NetxLayer("dense", shape, w, vth, i_decay, v_decay,
                     bias=cfg["bias"] if "bias" in cfg.keys() else None)


def read_conv(cfg: NetDict, path: str, i: int) -> NetxLayer:
    """A ``conv`` layer (NetX's ``create_conv`` reads the same fields)."""
    vth, i_decay, v_decay = _neuron(cfg, path, i)
    _check_weights(path, i)
    w = np.asarray(cfg["weight"], dtype=np.float64)
    return NetxLayer("conv", tuple(int(v) for v in cfg["shape"]), w.reshape(w.shape[:4]),
                     vth, i_decay, v_decay, stride=_pair(cfg["stride"]),
                     padding=_pair(cfg["padding"]), dilation=_pair(cfg["dilation"]),
                     groups=int(cfg["groups"]))


#: One reader per NetX layer type.
READERS = {"input": read_input, "flatten": read_flatten, "dense": read_dense,
           "conv": read_conv}


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
            w, exp, bits = _lava_weights(layer.weight)
            net.layers.append(IntLayer("dense", w, exp, bits, layer.vth, layer.i_decay,
                                       layer.v_decay, layer.shape, bias=layer.bias))
        else:
            net.layers.append(IntLayer(
                "conv", layer.weight.astype(np.int64), 0, 8, layer.vth, layer.i_decay,
                layer.v_decay, layer.shape, stride=layer.stride, padding=layer.padding,
                dilation=layer.dilation, groups=layer.groups))
    if not net.layers:
        raise NetworkFileError(f"{path}: no weighted layers")
    if net.layers[0].kind == "conv" and net.input_shape is None:
        raise NetworkFileError(f"{path}: conv-first network without an input layer shape")
    return net
