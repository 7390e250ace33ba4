"""Differential fuzz of the emulator against Lava ``fixed_pt``: random NetX networks over
every layer kind and parameter the deployment path holds, each run in both.

A net comes from one of two sources:

* ``raw``: written straight to hdf5 with integer weights anywhere in Loihi's range
  (``[-256, 254]``, extremes and all-negative or all-positive layers included), on an
  8- or 4-bit grid, ``dense``, ``dense_rec``, ``conv`` and ``flatten`` layers, stored
  biases (non-integers too: NetX truncates them), per-layer thresholds and decays
  (0 and 4096 included);
* ``model``: a random :class:`lava_sast.models.SastNetwork` layer list (``pool``,
  a list starting with ``flatten``, ``dense_rec``, biases, per-layer neurons) with random
  weights,
  exported by :func:`netx_export.export.export_network` at 8 or 4 bits, as a trained
  net would be.

:func:`run_case` runs a net's random input (density 0 to 1) through Lava and the emulator
and counts differing spikes per layer.  ``tests/test_fuzz_lava.py`` runs a quick set,
``benchmarks/fuzz_lava.py`` a large one.
"""
from __future__ import annotations

import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

import h5py
import numpy as np
import torch

from .emulate import emulate
from .lava_runner import run_lava
from .netx_model import load_int_network


@dataclass
class Case:
    """One fuzz net: its file, input ``[N, *input, T]`` and what it covers."""

    seed: int
    path: str
    inputs: np.ndarray
    features: dict[str, Any] = field(default_factory=dict)


def _grid_weights(rng: np.random.Generator, shape: tuple[int, ...], bits: int,
                  sign: str) -> np.ndarray:
    """Integer weights ``q * 2**s`` (``|q| <= 2**(bits-1) - 1``, or Loihi's extremes)."""
    qmax = 2 ** (bits - 1) - 1
    s = int(rng.integers(0, 9 - bits + 1))  # the exporter's range of steps
    q = rng.integers(-qmax, qmax + 1, size=shape)
    q[rng.random(shape) < rng.uniform(0.0, 0.6)] = 0  # sparse layers too
    w = q * 2 ** s
    if rng.random() < 0.35:  # Loihi's extremes, beyond the exporter's grid
        ext = rng.choice([-256, -255, -254, -128, -127, 127, 128, 254], size=shape)
        pick = rng.random(shape) < 0.2
        w = np.where(pick, ext, w)
    if sign == "negative":
        w = -np.abs(w)
        if rng.random() < 0.5:
            w.flat[rng.integers(w.size)] = -128
    elif sign == "positive":
        w = np.abs(w)
    w = np.clip(w, -256, 254)
    if not np.any(w):
        w.flat[0] = -128 if sign == "negative" else 64
    return w.astype(np.float64)


def _neuron(rng: np.random.Generator, fan_in_weight: float) -> dict[str, int]:
    """A CUBA neuron: threshold near the typical input, decays with 0 and 4096 likely."""
    def decay() -> int:
        r = rng.random()
        return 0 if r < 0.15 else 4096 if r < 0.3 else int(rng.integers(0, 4097))
    if rng.random() < 0.2:  # a low threshold, crossed by a bias of a few units
        vth = int(rng.integers(1, 9))
    else:
        vth = int(np.clip(rng.uniform(0.05, 1.5) * max(fan_in_weight, 1.0), 1, 2 ** 17 - 1))
    return {"vThMant": vth, "iDecay": decay(), "vDecay": decay()}


def _write_neuron(g: h5py.Group, n: dict[str, int]) -> None:
    g.create_dataset("neuron/type", (1,), "S10", [b"CUBA"])
    for key in ("vThMant", "iDecay", "vDecay"):
        g.create_dataset(f"neuron/{key}", data=n[key])
    g.create_dataset("neuron/refDelay", data=1)
    g.create_dataset("neuron/gradedSpike", data=False)


def _bias(rng: np.random.Generator, shape: tuple[int, ...], vth: int) -> np.ndarray:
    """Stored biases around the threshold (in hdf5 units, x64 in the voltage), fractional
    ones included (NetX truncates them toward zero): for a low threshold, biases of a few
    units whose fractions decide when a neuron fires."""
    if vth <= 8:
        return rng.uniform(-1.0, 4.0, size=shape)
    b = rng.normal(0.0, 0.3 * vth + 1, size=shape)
    if rng.random() < 0.5:
        b = np.round(b)
    return b


def raw_case(seed: int, out_dir: str | Path) -> Case:
    """A random hdf5 net written directly (see the module text)."""
    rng = np.random.default_rng(seed)
    path = str(Path(out_dir) / f"raw_{seed}.net")
    bits = int(rng.choice([8, 4]))
    conv_first = rng.random() < 0.45
    feats: dict[str, Any] = {"source": "raw", "bits": bits, "kinds": [], "bias": [],
                             "decays": [], "signs": []}
    steps = int(rng.integers(6, 16))
    n = int(rng.integers(2, 5))
    with h5py.File(path, "w") as h:
        layers = h.create_group("layer")
        idx = 0

        def group(kind: str) -> h5py.Group:
            nonlocal idx
            g = layers.create_group(str(idx))
            g.create_dataset("type", (1,), "S10", [kind.encode()])
            idx += 1
            return g

        if conv_first:
            c, hh, ww = int(rng.integers(1, 4)), int(rng.integers(4, 10)), int(rng.integers(4, 10))
            in_shape: tuple[int, ...] = (c, hh, ww)
            group("input").create_dataset("shape", data=np.array(in_shape))
            shape = in_shape
            for _ in range(int(rng.integers(1, 3))):
                k = int(rng.integers(1, 4))
                stride, pad = int(rng.integers(1, 3)), int(rng.integers(0, 2))
                out = int(rng.integers(1, 5))
                oh = (shape[1] + 2 * pad - k) // stride + 1
                ow = (shape[2] + 2 * pad - k) // stride + 1
                if oh < 1 or ow < 1:
                    break
                sign = str(rng.choice(["mixed", "mixed", "negative", "positive"]))
                w = _grid_weights(rng, (out, shape[0], k, k), bits, sign)
                n_cfg = _neuron(rng, float(np.abs(w).sum((1, 2, 3)).mean()) * 0.5)
                g = group("conv")
                g.create_dataset("shape", data=np.array([out, oh, ow]))
                g.create_dataset("weight", data=w)
                for key, v in (("stride", stride), ("padding", pad), ("dilation", 1)):
                    g.create_dataset(key, data=np.array([v, v]))
                g.create_dataset("groups", data=1)
                _write_neuron(g, n_cfg)
                has_bias = rng.random() < 0.6
                if has_bias:
                    per_neuron = rng.random() < 0.3
                    g.create_dataset("bias", data=_bias(
                        rng, (ow, oh, out) if per_neuron else (out,), n_cfg["vThMant"]))
                feats["kinds"].append("conv")
                feats["bias"].append(has_bias)
                feats["decays"].append((n_cfg["iDecay"], n_cfg["vDecay"]))
                feats["signs"].append(sign)
                shape = (out, oh, ow)
            group("flatten").create_dataset("shape", data=np.array([int(np.prod(shape)), 1, 1]))
            fan = int(np.prod(shape))
        else:
            in_shape = (int(rng.integers(4, 40)),)
            fan = in_shape[0]
        for j in range(int(rng.integers(1, 4))):
            out = int(rng.integers(2, 24))
            rec = rng.random() < 0.45
            sign = str(rng.choice(["mixed", "mixed", "negative", "positive"]))
            w = _grid_weights(rng, (out, fan), bits, sign)
            n_cfg = _neuron(rng, float(np.abs(w).sum(1).mean()) * 0.4)
            g = group("dense_rec" if rec else "dense")
            g.create_dataset("shape", data=np.array([out]))
            g.create_dataset("weight", data=w)
            if rec:
                rsign = str(rng.choice(["mixed", "negative", "positive"]))
                wr = _grid_weights(rng, (out, out), bits, rsign)
                g.create_dataset("weight_rec", data=wr)
                feats["signs"].append(f"{sign}/{rsign}")
            else:
                feats["signs"].append(sign)
            _write_neuron(g, n_cfg)
            has_bias = rng.random() < 0.5
            if has_bias:
                g.create_dataset("bias", data=_bias(rng, (out,), n_cfg["vThMant"]))
            feats["kinds"].append("dense_rec" if rec else "dense")
            feats["bias"].append(has_bias)
            feats["decays"].append((n_cfg["iDecay"], n_cfg["vDecay"]))
            fan = out
    density = float(rng.choice([0.0, 1.0, rng.uniform(0, 1), rng.uniform(0, 1),
                                rng.uniform(0, 0.2), rng.uniform(0, 0.2)]))
    feats["density"] = density
    x = (rng.random((n, *in_shape, steps)) < density).astype(np.float32)
    return Case(seed, path, x, feats)


def model_case(seed: int, out_dir: str | Path) -> Case:
    """A random :class:`SastNetwork` (pool, flatten-first, biases, per-layer neurons) with
    random weights, exported as a trained net is."""
    from lava_sast.layers import kind_of
    from lava_sast.models import SastNetwork

    from .export import export_network

    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    path = str(Path(out_dir) / f"model_{seed}.net")
    bits = int(rng.choice([8, 4]))
    shape_kind = str(rng.choice(["conv", "conv_pool", "conv_pool", "flatten", "dense"]))

    def neuron() -> dict[str, float]:
        r = rng.random()
        d = {"threshold": float(rng.uniform(0.3, 2.0))}
        if r < 0.3:
            d["current_decay"] = float(rng.choice([0.0, 1.0]))
        if rng.random() < 0.3:
            d["voltage_decay"] = float(rng.choice([0.0, 1.0, rng.uniform(0, 1)]))
        return d

    c, hh, ww = int(rng.integers(1, 3)), 8, 8
    arch: list[dict[str, Any]] = []
    if shape_kind.startswith("conv"):
        arch.append({"type": "conv", "out": int(rng.integers(2, 5)), "kernel": 3,
                     "padding": 1, "bias": bool(rng.random() < 0.6), "neuron": neuron()})
        if shape_kind == "conv_pool":
            arch.append({"type": "pool", "kernel": 2})
            if rng.random() < 0.5:
                arch.append({"type": "conv", "out": int(rng.integers(2, 5)), "kernel": 3,
                             "padding": 1, "bias": bool(rng.random() < 0.6),
                             "neuron": neuron()})
                arch.append({"type": "pool", "kernel": 2})
        arch.append({"type": "flatten"})
    elif shape_kind == "flatten":
        arch.append({"type": "flatten"})
    for _ in range(int(rng.integers(1, 3))):
        arch.append({"type": "dense_rec" if rng.random() < 0.35 else "dense",
                     "out": int(rng.integers(3, 20)), "bias": bool(rng.random() < 0.5),
                     "neuron": neuron()})
    net = SastNetwork(arch, (c, hh, ww), weight_scale=float(rng.uniform(1, 6)))
    with torch.no_grad():
        for b in net.weighted_blocks():
            w = b.synapse.weight
            w.copy_(torch.randn_like(w) * float(rng.uniform(0.3, 3.0)))
            if rng.random() < 0.15:
                w.copy_(-w.abs())
            if getattr(b, "bias", None) is not None:
                b.bias.copy_(torch.randn_like(b.bias) * 0.5)
            for syn in kind_of(b).synapses(b)[1:]:  # the kind's further synapses
                r = syn.weight
                r.copy_(torch.randn_like(r) * float(rng.uniform(0.3, 3.0)))
    export_network(net, path, weight_bits=bits)
    density = float(rng.choice([0.0, 1.0, rng.uniform(0, 1), rng.uniform(0, 1),
                                rng.uniform(0, 0.2), rng.uniform(0, 0.2)]))
    steps, n = int(rng.integers(6, 16)), int(rng.integers(2, 5))
    in_shape = (c, hh, ww) if arch[0]["type"] == "conv" else (c * hh * ww,)
    x = (rng.random((n, *in_shape, steps)) < density).astype(np.float32)
    kinds = [l["type"] for l in arch]
    return Case(seed, path, x, {"source": "model", "bits": bits, "kinds": kinds,
                                "bias": [bool(l.get("bias")) for l in arch
                                         if kind_of(l).weighted],
                                "density": density})


def make_case(seed: int, out_dir: str | Path) -> Case:
    """Net ``seed``: even seeds ``raw``, odd ``model`` (mostly; every fourth odd is raw)."""
    return model_case(seed, out_dir) if seed % 2 and seed % 8 != 7 else raw_case(seed, out_dir)


def run_lava_case(case: Case, timeout_s: float = 300.0) -> list[np.ndarray]:
    """Every layer's spikes of ``case`` in Lava ``fixed_pt`` (``[N, *shape, T]``)."""
    with np.errstate(divide="ignore"):  # NetX's optimiser divides by a zero max weight
        net = load_int_network(case.path)
    return run_lava(case.path, case.inputs, record_layers=True, timeout_s=timeout_s,
                    conv_input=net.layers[0].kind == "conv", show_progress=False).layer_spikes


def compare_case(case: Case, lava: list[np.ndarray]) -> dict[str, Any]:
    """The emulator on ``case`` against Lava's spikes ``lava``: mismatching spikes and
    spikes per layer, with what each layer covers."""
    with np.errstate(divide="ignore"):
        net = load_int_network(case.path)
    x = torch.as_tensor(case.inputs)
    emu = emulate(net, x, record_layers=True)
    mism = [int((e.numpy() != l.reshape(e.shape)).sum())
            for e, l in zip(emu.layer_spikes, lava)]
    layers = [{"kind": l.netx_type,
               "neurons": int(l.num_neurons), "weight_bits": int(l.num_weight_bits),
               "weight_exp": int(l.weight_exp),
               "bias": l.bias is not None and bool(l.bias.any()),
               "i_decay": int(l.i_decay), "v_decay": int(l.v_decay), "vth": int(l.vth),
               "no_positive_weight": bool(l.weight.max() <= 0),
               "spikes": int(e.sum()), "mismatches": m}
              for l, e, m in zip(net.layers, emu.layer_spikes, mism)]
    return {"seed": case.seed, "features": case.features,
            "samples": int(x.shape[0]), "steps": int(x.shape[-1]),
            "mismatches": int(sum(mism)), "layers": layers}


def run_case(case: Case, timeout_s: float = 300.0) -> dict[str, Any]:
    """Lava ``fixed_pt`` and the emulator on ``case`` (:func:`compare_case`)."""
    return compare_case(case, run_lava_case(case, timeout_s))


def _netx_sign_mode(w: np.ndarray):
    """The sign mode NetX's optimiser picks (a matrix with zeros and negatives is mixed),
    not the one Lava's Dense derives: a deliberate bug for :data:`MUTANTS`."""
    from lava.utils.weightutils import SignMode
    return (SignMode.INHIBITORY if w.max() < 0 else SignMode.EXCITATORY if w.min() >= 0
            else SignMode.MIXED)


@contextmanager
def mutant(name: str) -> Iterator[None]:
    """The emulator with one deliberate departure from Lava (:data:`MUTANTS`), to show
    that the fuzz finds it."""
    from unittest import mock

    from . import emulate as emu_mod
    from . import netx_model
    real_bias = netx_model.lava_bias
    patches = {
        "conv bias ignored": (netx_model, "lava_bias",
                              lambda b, shape: None if len(shape) == 3 else real_bias(b, shape)),
        "bias rounded, not truncated": (netx_model, "lava_bias",
                               lambda b, shape: None if b is None else real_bias(
                                   np.round(b), shape)),
        "sign mode from NetX's optimiser": (netx_model, "determine_sign_mode",
                                            _netx_sign_mode),
        "recurrent carry dropped": (emu_mod, "_emulate_chained",
                                    lambda net, x, shape, rec, dev, carry: (
                                        emu_mod._emulate_batch(net, x, shape, rec, dev)[0],
                                        None)),
    }
    module, attr, fake = patches[name]
    with mock.patch.object(module, attr, fake):
        yield


#: Deliberate emulator bugs the fuzz must catch (``benchmarks/fuzz_lava.py --mutants``).
MUTANTS = ("conv bias ignored", "bias rounded, not truncated", "sign mode from NetX's optimiser",
           "recurrent carry dropped")


def fuzz(seeds: list[int], out_dir: Optional[str | Path] = None,
         timeout_s: float = 300.0) -> list[dict[str, Any]]:
    """Every seed's net built and run (in ``out_dir``, default a temporary folder)."""
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(out_dir or tmp)
        where.mkdir(parents=True, exist_ok=True)
        return [run_case(make_case(s, where), timeout_s) for s in seeds]
