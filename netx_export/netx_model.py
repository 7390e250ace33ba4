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


def _neuron(cfg: NetDict, path: str, i: int) -> tuple[int, int, int]:
    try:
        n = cfg["neuron"]
        kind = n["type"]
    except KeyError as exc:
        raise NetworkFileError(f"{path}: layer {i} has no neuron description") from exc
    if kind not in ("CUBA", "LOIHI"):
        raise NetworkFileError(f"{path}: layer {i} neuron type {kind!r} is not CUBA")
    return int(n["vThMant"]), int(n["iDecay"]), int(n["vDecay"])


def load_int_network(path: str | os.PathLike) -> IntNetwork:
    """Read ``path`` (NetX hdf5) into an :class:`IntNetwork`."""
    path = str(path)
    if not Path(path).is_file():
        raise NetworkFileError(f"network file {path} does not exist")
    try:
        cfg = NetDict(path)
        layers_cfg = cfg["layer"]
        n_layers = len(layers_cfg)
    except Exception as exc:
        raise NetworkFileError(f"{path}: not an hdf5 network NetX can read ({exc})") from exc
    net = IntNetwork(path=path)
    for i in range(n_layers):
        try:
            layer = layers_cfg[i]
            kind = layer["type"]
        except Exception as exc:
            raise NetworkFileError(f"{path}: layer {i} is unreadable ({exc})") from exc
        if kind == "input":
            if "neuron" in layer.keys():
                raise NetworkFileError(f"{path}: input layers with neurons are not supported")
            net.input_shape = tuple(int(v) for v in layer["shape"])
        elif kind == "flatten":
            net.flatten_before.append(len(net.layers))
        elif kind == "dense":
            if "delay" in layer.keys():
                raise NetworkFileError(f"{path}: layer {i} has axonal delays (not supported)")
            vth, i_decay, v_decay = _neuron(layer, path, i)
            _check_weights(path, i)
            w = layer["weight"]
            shape = tuple(int(v) for v in np.atleast_1d(layer["shape"]))
            if w.ndim == 1:
                w = w.reshape(int(np.prod(shape)), -1)
            w, exp, bits = _lava_weights(w)
            net.layers.append(IntLayer("dense", w, exp, bits, vth, i_decay, v_decay, shape,
                                       bias=layer["bias"] if "bias" in layer.keys() else None))
        elif kind == "conv":
            vth, i_decay, v_decay = _neuron(layer, path, i)
            _check_weights(path, i)
            w = np.asarray(layer["weight"], dtype=np.int64)
            w = w.reshape(w.shape[:4])
            net.layers.append(IntLayer(
                "conv", w, 0, 8, vth, i_decay, v_decay,
                tuple(int(v) for v in layer["shape"]),
                stride=tuple(int(v) for v in np.broadcast_to(layer["stride"], 2)),
                padding=tuple(int(v) for v in np.broadcast_to(layer["padding"], 2)),
                dilation=tuple(int(v) for v in np.broadcast_to(layer["dilation"], 2)),
                groups=int(layer["groups"])))
        else:
            raise NetworkFileError(f"{path}: layer {i} type {kind!r} cannot be deployed")
    if not net.layers:
        raise NetworkFileError(f"{path}: no weighted layers")
    if net.layers[0].kind == "conv" and net.input_shape is None:
        raise NetworkFileError(f"{path}: conv-first network without an input layer shape")
    return net
