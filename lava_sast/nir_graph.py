"""Networks to and from NIR (the Neuromorphic Intermediate Representation, ``nir``).

**Convention.**  NIR's ``CubaLIF`` is continuous; NIR stores no time step.  A lava-sast
layer steps (``a = 1 - current_decay``, ``b = 1 - voltage_decay``, decays on Loihi's
12-bit grid)::

    u[t] = a u[t-1] + W s[t];   v[t] = b v[t-1] + u[t];   spike when v >= theta, then v = 0

which is NIR's ``CubaLIF`` under forward Euler with step ``dt`` when ``tau_syn = dt /
current_decay``, ``tau_mem = dt / voltage_decay``, ``w_in = tau_syn / dt``, ``r = tau_mem /
dt``, ``v_leak = 0``, ``v_reset = 0``.  We write ``dt = 1e-4``, snnTorch's: its importer then
builds ``Synaptic(alpha=a, beta=b, reset_mechanism="zero")`` with our threshold and weights
unscaled, the same update in the same order (current, then membrane, then reset to zero).
Weights are in SLAYER's float units (a NetX hdf5 integer is ``64 x`` the weight).  The
graph's metadata records ``dt``, the reset, the threshold comparison and the weight scale.

**Import** takes ``Input``, ``Affine``/``Linear``, ``Conv2d``, ``SumPool2d``/``AvgPool2d``,
``Flatten``, ``CubaLIF``/``LIF``/``IF`` and ``Output`` nodes in a chain, each weight node
followed by a neuron node.  Pooling is folded exactly into the next weight layer (Loihi and
NetX have no pool layer); ``IF`` is CUBA with a one-step current and no leak; biases go to
Loihi's membrane bias where that is exact (a current that lasts one step); each layer keeps
its own decays.  ``w_in``, ``r`` and per-neuron thresholds are folded into the weights
(exact: the dynamics are linear up to the threshold and reset to zero); layers then share
one threshold, chosen so that the largest weight fits Loihi's 8-bit range.  ``dt``: the
``--dt`` given, else the graph's metadata, else 1e-4 (snnTorch's; the NIR paper's Norse
graphs are written for it too).  Recurrence and anything else that Lava cannot run from a
NetX file is a :class:`NIRError` naming the node.
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from .layers import KINDS, kind_of, kind_with, loop_arrays
from .pooling import fold_pool
from .models import DEFAULT_NEURON, SastNetwork

#: Time step written into exported graphs (snnTorch's).
DT = 1e-4
#: The discretisation convention, written into every exported graph's metadata.
CONVENTION = {"dt": DT, "reset": "zero (v_reset = 0, synaptic current kept)",
              "threshold": "spike when v >= v_threshold (Lava fixed_pt: integers)",
              "weight_scale": "NetX hdf5 weight = 64 x NIR weight", "source": "lava-sast"}
#: Largest weight a layer may hold (Loihi's 8-bit mantissa range over SLAYER's scale 64).
MAX_WEIGHT = 254 / 64


class NIRError(ValueError):
    """A NIR graph this package cannot run; the message names the node."""


def _nir() -> Any:
    try:
        import nir
    except ImportError:
        raise NIRError("NIR interchange needs the nir package: pip install nir") from None
    return nir


def cuba_node(shape: tuple[int, ...], threshold: float, current_decay: float,
              voltage_decay: float, dt: float = DT) -> Any:
    """The NIR neuron of a layer of ``shape`` with the given (fractional) decays: ``IF``
    when nothing decays but the current (which lasts one step), ``LIF`` when the current
    lasts one step, else ``CubaLIF``; each with a unit input gain."""
    nir = _nir()
    full = lambda v: np.full(shape, v, dtype=np.float64)  # noqa: E731
    if current_decay == 1 and voltage_decay == 0:
        return nir.IF(r=full(1.0), v_threshold=full(threshold), v_reset=full(0.0))
    if voltage_decay == 0:
        raise NIRError("a layer whose synaptic current persists but whose membrane does not "
                       "leak has no NIR neuron (CubaLIF needs a finite tau_mem)")
    tau_mem = dt / voltage_decay
    if current_decay == 1:
        return nir.LIF(tau=full(tau_mem), r=full(tau_mem / dt), v_leak=full(0.0),
                       v_threshold=full(threshold), v_reset=full(0.0))
    tau_syn = dt / current_decay
    return nir.CubaLIF(tau_syn=full(tau_syn), tau_mem=full(tau_mem), r=full(tau_mem / dt),
                       v_leak=full(0.0), v_threshold=full(threshold), v_reset=full(0.0),
                       w_in=full(tau_syn / dt))


def graph_from_layers(layers: list[dict[str, Any]], input_shape: tuple[int, ...],
                      conv_input: bool, dt: float = DT) -> Any:
    """A NIR chain from plain layer records (``kind`` 'dense'/'conv' (the synapse) or
    'flatten'; weighted ones with ``weight`` in SLAYER float units, optional ``bias`` (same
    units), optional ``loops`` (``{array: [out, out]}``: a recurrent kind's arrays, each a
    ``Linear`` node from the neuron back to it, :attr:`LayerKind.nir_loops`),
    ``threshold``, ``current_decay`` and ``voltage_decay`` as fractions; conv ones with
    ``stride``, ``padding``, ``dilation``, ``groups``)."""
    nir = _nir()
    shape = tuple(input_shape) if conv_input else (int(np.prod(input_shape)),)
    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array(shape)})}
    order = ["input"]
    loops: list[tuple[str, str]] = []
    for i, layer in enumerate(layers):
        if layer["kind"] == "flatten":
            nodes[f"flatten{i}"] = nir.Flatten(input_type={"input": np.array(shape)},
                                               start_dim=0, end_dim=-1)
            order.append(f"flatten{i}")
            shape = (int(np.prod(shape)),)
            continue
        w = np.asarray(layer["weight"], dtype=np.float32)
        bias = layer.get("bias")
        if layer["kind"] == "dense":
            w = w.reshape(w.shape[0], -1)
            nodes[f"linear{i}"] = (nir.Linear(weight=w) if bias is None else
                                   nir.Affine(weight=w, bias=np.asarray(bias, np.float32)))
            order.append(f"linear{i}")
            shape = (w.shape[0],)
        else:
            w = w.reshape(w.shape[:4])
            conv = nir.Conv2d(input_shape=np.array(shape[1:]), weight=w,
                              stride=np.array(layer["stride"]),
                              padding=np.array(layer["padding"]),
                              dilation=np.array(layer["dilation"]), groups=layer["groups"],
                              bias=(np.zeros(w.shape[0], dtype=np.float32) if bias is None
                                    else np.asarray(bias, np.float32)))
            nodes[f"conv{i}"] = conv
            order.append(f"conv{i}")
            shape = tuple(int(v) for v in conv.output_type["output"])
        nodes[f"lif{i}"] = cuba_node(shape, layer["threshold"], layer["current_decay"],
                                     layer["voltage_decay"], dt)
        order.append(f"lif{i}")
        own = layer.get("loops") or {}
        for key, prefix in kind_with(layer["kind"], own).nir_loops.items():  # 1 step later
            nodes[f"{prefix}{i}"] = nir.Linear(weight=np.asarray(own[key], np.float32))
            loops += [(f"lif{i}", f"{prefix}{i}"), (f"{prefix}{i}", f"lif{i}")]
    nodes["output"] = nir.Output(output_type={"output": np.array(shape)})
    order.append("output")
    return nir.NIRGraph(nodes=nodes, edges=list(zip(order, order[1:])) + loops,
                        metadata={**CONVENTION, "dt": dt})


def graph_from_model(model: SastNetwork, dt: float = DT) -> Any:
    """The NIR graph of ``model`` as its hard-spike forward pass computes it (weights
    through each synapse's hook, decays on the 12-bit grid)."""
    layers = []
    for b in model.blocks:
        if not hasattr(b, "synapse"):
            layers.append({"kind": "flatten"})
            continue
        keep_u, keep_v = b.neuron.decay_factors()
        kind = kind_of(b)
        arrays = kind.nir_arrays(b)
        layer = {"kind": kind.synapse, "weight": arrays["weight"],
                 "threshold": float(b.neuron.threshold),
                 "current_decay": float(1 - keep_u.detach().reshape(-1)[0]),
                 "voltage_decay": float(1 - keep_v.detach().reshape(-1)[0])}
        if getattr(b, "bias", None) is not None:
            layer["bias"] = b.bias.detach().cpu().numpy().astype(np.float32)
        if kind.nir_loops:  # the layer's own spikes, one step later
            layer["loops"] = {key: arrays[key] for key in kind.nir_loops}
        if layer["kind"] == "conv":
            s = b.synapse
            layer.update(stride=list(s.stride[:2]), padding=list(s.padding[:2]),
                         dilation=list(s.dilation[:2]), groups=int(s.groups))
        layers.append(layer)
    return graph_from_layers(layers, model.input_shape, model.conv_input, dt)


# ---------------------------------------------------------------------------------- import

#: Nodes the import reads.
SUPPORTED = ("Input", "Affine", "Linear", "Conv2d", "SumPool2d", "AvgPool2d", "Flatten",
             "CubaLIF", "LIF", "IF", "Output")


def _param(name: str, node: Any, key: str) -> np.ndarray:
    value = getattr(node, key, None)
    if value is None:
        raise NIRError(f"node {name!r} ({type(node).__name__}) has no {key}")
    value = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(value)):
        raise NIRError(f"node {name!r} ({type(node).__name__}) has a non-finite (NaN or "
                       f"inf) {key}")
    return value


def _uniform(name: str, node: Any, key: str, values: np.ndarray) -> float:
    if not np.allclose(values, values.reshape(-1)[0], rtol=1e-6, atol=0):
        raise NIRError(f"node {name!r}: {key} differs between neurons; a Loihi layer shares "
                       f"one value")
    return float(values.reshape(-1)[0])


def recurrent_synapses() -> list[str]:
    """The synapses (``dense``, ``conv``) some registered kind adds a NIR loop to."""
    return sorted({k.synapse for k in KINDS.values() if k.nir_loops})


def _recurrent_loops(graph: Any) -> dict[str, str]:
    """Recurrent edges a recurrent layer kind runs (:attr:`LayerKind.nir_loops`; NetX's
    ``dense_rec``, Lava's ``RecurrentDense``): a neuron node feeding a
    ``Linear`` (or ``Affine``: its bias runs through an always-on neuron,
    :func:`_always_on`) node that feeds only that neuron back; ``{neuron: weight node}``.  Its input arrives one step later, as in snnTorch's and Norse's
    recurrent layers and in Lava."""
    nir = _nir()
    ins: dict[str, list[str]] = {}
    outs: dict[str, list[str]] = {}
    for a, b in graph.edges:
        outs.setdefault(a, []).append(b)
        ins.setdefault(b, []).append(a)
    loops = {}
    for name, node in graph.nodes.items():
        if isinstance(node, (nir.Linear, nir.Affine)) and ins.get(name) == outs.get(name) \
                and len(ins.get(name, [])) == 1 \
                and isinstance(graph.nodes[ins[name][0]], (nir.CubaLIF, nir.LIF, nir.IF)):
            if ins[name][0] in loops:
                raise NIRError(f"node {ins[name][0]!r} has two recurrent edges")
            loops[ins[name][0]] = name
    return loops


def _chain(graph: Any) -> list[str]:
    """Node names from the Input to the Output (without a recurrent dense layer's own
    edge, :func:`_recurrent_loops`), refusing other recurrence (named as such) and
    anything else that is not one chain."""
    nir = _nir()
    inputs = [k for k, n in graph.nodes.items() if isinstance(n, nir.Input)]
    if len(inputs) != 1:
        raise NIRError(f"the graph needs exactly one Input node, it has {len(inputs)}")
    loops = _recurrent_loops(graph)
    own = {(n, r) for n, r in loops.items()} | {(r, n) for n, r in loops.items()}
    succ: dict[str, list[str]] = {}
    for a, b in graph.edges:
        if (a, b) not in own:
            succ.setdefault(a, []).append(b)
    loop = _find_loop(succ, inputs[0])
    if loop:
        raise NIRError(f"the graph is recurrent ({' -> '.join(loop)}): the recurrence "
                       f"Loihi runs (NetX's dense_rec) is a Linear node from a neuron "
                       f"back into that neuron; this loop is not one")
    order = [inputs[0]]
    while order[-1] in succ:
        if len(succ[order[-1]]) > 1:
            raise NIRError(f"node {order[-1]!r} feeds several nodes "
                           f"({', '.join(map(repr, succ[order[-1]]))}); only chains are "
                           f"supported")
        order.append(succ[order[-1]][0])
    if not isinstance(graph.nodes[order[-1]], nir.Output):
        raise NIRError(f"the chain from the Input ends at {order[-1]!r}, not at an Output")
    stray = set(graph.nodes) - set(order) - set(loops.values())
    if stray:
        raise NIRError(f"node {sorted(stray)[0]!r} is not on the Input-to-Output chain")
    return order


def _find_loop(succ: dict[str, list[str]], start: str) -> Optional[list[str]]:
    """A cycle reachable from ``start`` as a list of node names (first repeated), or None."""
    path: list[str] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str) -> Optional[list[str]]:
        state[node] = 1
        path.append(node)
        for nxt in succ.get(node, []):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    return visit(start)


def _neuron_of(name: str, node: Any, dt: float) -> dict[str, Any]:
    """Decays, per-neuron input gain and threshold of a CubaLIF / LIF / IF node."""
    nir = _nir()
    thr = _param(name, node, "v_threshold")
    for key in ("v_leak", "v_reset"):
        if getattr(node, key, None) is not None and np.any(_param(name, node, key) != 0):
            raise NIRError(f"node {name!r}: {key} must be 0 (Loihi's CUBA neuron resets to "
                           f"0 and has no leak potential)")
    if isinstance(node, nir.CubaLIF):
        tau_syn = _param(name, node, "tau_syn")
        tau_mem = _param(name, node, "tau_mem")
        gain = _param(name, node, "w_in") * dt / tau_syn * _param(name, node, "r") * dt / tau_mem
        current = dt / _uniform(name, node, "tau_syn", tau_syn)
        voltage = dt / _uniform(name, node, "tau_mem", tau_mem)
    elif isinstance(node, nir.LIF):  # no synaptic current state: it decays fully every step
        tau_mem = _param(name, node, "tau")
        gain = _param(name, node, "r") * dt / tau_mem
        current, voltage = 1.0, dt / _uniform(name, node, "tau", tau_mem)
    else:  # IF: no leak, v[t] = v[t-1] + r I[t] (no time constant: dt plays no part)
        gain = _param(name, node, "r")
        current, voltage = 1.0, 0.0
    for key, value in (("current decay dt/tau_syn", current), ("voltage decay dt/tau_mem",
                                                              voltage)):
        if not 0 <= value <= 1 or (key.startswith("current") and value == 0):
            raise NIRError(f"node {name!r}: {key} = {value:g} is outside (0, 1] at dt "
                           f"{dt:g}; pass the graph's time step with --dt")
    if np.any(thr <= 0):
        raise NIRError(f"node {name!r}: v_threshold must be positive")
    if not isinstance(node, nir.IF):
        _check_plausible(name, dt, current, voltage, isinstance(node, nir.CubaLIF))
    return {"current_decay": current, "voltage_decay": voltage, "gain": gain, "threshold": thr,
            "shape": tuple(int(v) for v in thr.shape)}


#: A state that loses more than this share per step suggests a graph written for a smaller dt.
MAX_PLAUSIBLE_DECAY = 0.5


def _check_plausible(name: str, dt: float, current: float, voltage: float,
                     synaptic: bool) -> None:
    """Warn when ``dt`` makes a decay implausible: over half the state lost every step,
    or a decay that Loihi's 12-bit grid rounds to zero."""
    decays = {"voltage decay dt/tau_mem": voltage}
    if synaptic:
        decays["current decay dt/tau_syn"] = current
    for key, value in decays.items():
        if value > MAX_PLAUSIBLE_DECAY:
            warnings.warn(f"node {name!r}: {key} = {value:.3g} at dt {dt:g} loses more than "
                          f"half the state every step; if the graph was written for a "
                          f"smaller time step, pass it with --dt", UserWarning, stacklevel=3)
        elif 0 < value < 0.5 / 4096:
            warnings.warn(f"node {name!r}: {key} = {value:.3g} at dt {dt:g} rounds to 0 on "
                          f"Loihi's 12-bit grid (no decay at all); if the graph was written "
                          f"for a larger time step, pass it with --dt", UserWarning,
                          stacklevel=3)


def _weight_of(name: str, node: Any) -> dict[str, Any]:
    nir = _nir()
    w = _param(name, node, "weight")
    bias = getattr(node, "bias", None)
    bias = None if bias is None or not np.any(np.asarray(bias) != 0) else \
        _param(name, node, "bias").reshape(-1)
    if isinstance(node, nir.Conv2d):
        return {"kind": "conv", "weight": w, "bias": bias, "source": name,
                "stride": [int(v) for v in np.broadcast_to(node.stride, 2)],
                "padding": [int(v) for v in np.broadcast_to(node.padding, 2)],
                "dilation": [int(v) for v in np.broadcast_to(node.dilation, 2)],
                "groups": int(node.groups)}
    if w.ndim != 2:
        raise NIRError(f"node {name!r}: a {w.ndim}-d dense weight (expected [out, in])")
    return {"kind": "dense", "weight": w, "bias": bias, "source": name}


def _pool_of(name: str, node: Any, shape: tuple[int, ...]) -> dict[str, Any]:
    """A SumPool2d / AvgPool2d on a ``(C, H, W)`` map: kernel, stride, scale (1 for a sum,
    one over the window for an average) and the pooled shape."""
    nir = _nir()
    if len(shape) != 3:
        raise NIRError(f"node {name!r}: pooling needs a (C, H, W) input, got {shape}")
    k = [int(v) for v in np.broadcast_to(node.kernel_size, 2)]
    st = [int(v) for v in np.broadcast_to(node.stride if node.stride is not None
                                          else node.kernel_size, 2)]
    if np.any(np.broadcast_to(node.padding, 2) != 0):
        raise NIRError(f"node {name!r}: padded pooling is not supported (Loihi has no pool "
                       f"layer; pooling is folded into the next weight layer)")
    c, h, w = shape
    if h < k[0] or w < k[1]:
        raise NIRError(f"node {name!r}: kernel {k} is larger than its input {shape}")
    scale = 1.0 / (k[0] * k[1]) if isinstance(node, nir.AvgPool2d) else 1.0
    out = (c, (h - k[0]) // st[0] + 1, (w - k[1]) // st[1] + 1)
    return {"name": name, "kernel": k, "stride": st, "scale": scale, "in_shape": shape,
            "shape": out}


def _conv_out(layer: dict[str, Any], shape: tuple[int, ...]) -> tuple[int, ...]:
    nir = _nir()
    conv = nir.Conv2d(input_shape=np.array(shape[1:]), weight=layer["weight"],
                      stride=np.array(layer["stride"]), padding=np.array(layer["padding"]),
                      dilation=np.array(layer["dilation"]), groups=layer["groups"],
                      bias=np.zeros(layer["weight"].shape[0]))
    return tuple(int(v) for v in conv.output_type["output"])


def graph_dt(graph: Any) -> Optional[float]:
    """The time step a graph states (its metadata's ``dt``), if any."""
    meta = getattr(graph, "metadata", None) or {}
    return float(meta["dt"]) if "dt" in meta else None


def layers_from_graph(graph: Any, dt: Optional[float] = None
                      ) -> tuple[list[dict[str, Any]], tuple[int, ...], bool, float, int]:
    """``(layers, input shape (C, H, W), conv input, dt, always-on carriers)`` of a NIR
    chain: pooling folded into the next weight layer, gains and per-neuron thresholds
    folded into the weights (and biases), one threshold for every layer, each layer with
    its own decays; biases into persistent currents as an always-on input channel (the
    input shape counts it; carriers: :func:`_always_on`, -1 without one)."""
    nir = _nir()
    meta = getattr(graph, "metadata", None) or {}
    dt = float(dt if dt is not None else graph_dt(graph) or DT)
    if not (math.isfinite(dt) and dt > 0):
        raise NIRError(f"dt must be a positive time step, got {dt}")
    order = _chain(graph)
    loops = _recurrent_loops(graph)
    shape = tuple(int(v) for v in graph.nodes[order[0]].output_type["output"])
    conv_input = len(shape) == 3
    if len(shape) not in (1, 3):
        raise NIRError(f"Input node {order[0]!r}: shape {shape} is neither flat (N,) nor "
                       f"(C, H, W)")
    input_shape = shape if conv_input else (shape[0], 1, 1)
    layers: list[dict[str, Any]] = []
    pending: Optional[tuple[str, dict[str, Any]]] = None
    pool: Optional[dict[str, Any]] = None
    for name in order[1:-1]:
        node = graph.nodes[name]
        if isinstance(node, nir.Flatten):
            if pending:
                raise NIRError(f"node {name!r}: Flatten between {pending[0]!r} and its neuron")
            layers.append({"kind": "flatten"})
            shape = (int(np.prod(shape)),)
        elif isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
            if pending:
                raise NIRError(f"node {name!r}: pooling between {pending[0]!r} and its neuron")
            if pool:
                raise NIRError(f"node {name!r}: two poolings in a row are not supported")
            pool = _pool_of(name, node, shape)
            shape = pool["shape"]
        elif isinstance(node, (nir.Affine, nir.Linear, nir.Conv2d)):
            if pending:
                raise NIRError(f"node {name!r} follows {pending[0]!r} without a neuron "
                               f"between them")
            layer = _weight_of(name, node)
            want = shape[0] if layer["kind"] == "dense" else shape[0] * layer["groups"]
            have = layer["weight"].shape[1] * (layer["groups"] if layer["kind"] == "conv"
                                               else 1)
            if (layer["kind"] == "dense" and len(shape) != 1) or want != have:
                raise NIRError(f"node {name!r}: weight {tuple(layer['weight'].shape)} does "
                               f"not fit its input of shape {shape}")
            out_shape = ((layer["weight"].shape[0],) if layer["kind"] == "dense"
                         else _conv_out(layer, shape))
            if pool:
                try:
                    layer = fold_pool(pool, layer)
                except ValueError as exc:
                    raise NIRError(str(exc)) from None
                if layer["kind"] == "dense":  # the flatten before it now sees the full map
                    shape = (int(np.prod(pool["in_shape"])),)
                else:
                    shape = pool["in_shape"]
                    if _conv_out(layer, shape) != out_shape:
                        raise NIRError(f"node {pool['name']!r}: cannot be folded into "
                                       f"{name!r} exactly")
                pool = None
            layer["shape"] = out_shape
            pending = (name, layer)
        elif isinstance(node, (nir.CubaLIF, nir.LIF, nir.IF)):
            if pending is None:
                raise NIRError(f"node {name!r}: a neuron without a weight node before it")
            wname, layer = pending
            out_shape = layer.pop("shape")
            neuron = _neuron_of(name, node, dt)
            if int(np.prod(neuron["shape"])) != int(np.prod(out_shape)):
                raise NIRError(f"node {name!r}: {int(np.prod(neuron['shape']))} neurons, but "
                               f"{wname!r} gives {int(np.prod(out_shape))} outputs")
            gain = neuron["gain"].reshape(out_shape if layer["kind"] == "conv" else (-1,))
            thr = neuron["threshold"].reshape(gain.shape)
            if layer["kind"] == "conv":  # one value per output channel
                if not (np.allclose(gain, gain[:, :1, :1]) and np.allclose(thr, thr[:, :1, :1])):
                    raise NIRError(f"node {name!r}: thresholds or gains differ within a "
                                   f"channel of a convolution")
                gain, thr = gain[:, 0, 0], thr[:, 0, 0]
            if name in loops:
                n = int(np.prod(out_shape))
                rec = _weight_of(loops[name], graph.nodes[loops[name]])
                keys = loop_arrays(layer["kind"])
                if len(keys) != 1 or rec["weight"].shape != (n, n):
                    raise NIRError(f"node {loops[name]!r}: a recurrent edge needs a layer "
                                   f"kind with one (on a "
                                   f"{' or '.join(recurrent_synapses()) or 'no'} synapse) and "
                                   f"an [{n}, {n}] weight, got {layer['kind']} and "
                                   f"{list(rec['weight'].shape)}")
                layer["loops"] = {keys[0]: rec["weight"]}
                if rec["bias"] is not None:  # from the second step on, as the edge's output
                    layer["loop_bias"] = {keys[0]: rec["bias"]}
                    warnings.warn(f"node {loops[name]!r}: its bias runs through an always-on "
                                  f"neuron's recurrent synapse, exactly for one sample; Lava "
                                  f"carries a recurrent layer's last spikes into the next "
                                  f"sample's first step, so in a stream of samples this bias "
                                  f"arrives one step early from the second sample on",
                                  UserWarning, stacklevel=2)
            if layer["bias"] is not None and neuron["current_decay"] != 1:
                # Loihi's bias enters the membrane; a bias into a current that persists
                # runs exactly as an always-on input (:func:`_always_on`)
                if layer["kind"] != "dense":
                    raise NIRError(
                        f"node {wname!r}: its bias feeds {name!r}, whose synaptic current "
                        f"persists (tau_syn); Loihi adds a bias to the membrane, and the exact "
                        f"mapping (an always-on input channel) is built for dense layers only")
                layer["current_bias"], layer["bias"] = layer["bias"], None
            layer.update(gain=gain, own_threshold=thr, current_decay=neuron["current_decay"],
                         voltage_decay=neuron["voltage_decay"], shape=out_shape)
            layers.append(layer)
            pending, shape = None, out_shape
        else:
            raise NIRError(f"node {name!r}: {type(node).__name__} is not supported (supported: "
                           f"{', '.join(SUPPORTED)})")
    if pending is not None:
        raise NIRError(f"node {pending[0]!r} is not followed by a neuron")
    if pool is not None:
        raise NIRError(f"node {pool['name']!r}: pooling must be followed by a weight layer "
                       f"(it is folded into it)")
    weighted = [l for l in layers if l["kind"] != "flatten"]
    if not weighted:
        raise NIRError("the graph has no weight and neuron nodes")
    carriers = _always_on(layers, input_shape)
    if carriers >= 0:
        input_shape = (input_shape[0] + 1, 1, 1)
    _common_threshold(weighted, keep=meta.get("source") == CONVENTION["source"])
    return layers, input_shape, conv_input, dt, carriers


#: An always-on neuron's drive, in its thresholds: it fires at every step it is driven
#: (checked on the integers at import: :func:`netx_export.nir.check_always_on`).
ALWAYS_ON_DRIVE = 1.25


def _always_on(layers: list[dict[str, Any]], input_shape: tuple[int, ...]) -> int:
    """Map every bias into a persistent current exactly.  Loihi's own bias enters the
    membrane, so instead the input gains one last channel that spikes at every step
    (:data:`ALWAYS_ON_INPUT` in the deploy file; ``run`` and ``verify`` feed it), and each
    of the first ``carriers`` layers one last neuron driven by the channel before it at
    :data:`ALWAYS_ON_DRIVE` thresholds, which therefore spikes at every step from the step
    its layer is first driven (its current ``u >= drive`` each step, the membrane reset to 0
    after each spike), in step with the real spikes beside it.  A bias on a weight node
    (``current_bias``) is the weight column of the always-on channel or neuron before its
    layer; a bias on a recurrent edge (``loop_bias``) is the recurrent column of the layer's
    own always-on neuron, so that it arrives from the second step on, as the edge's output
    does in NIR's executors (nirtorch, Norse, snnTorch).  An always-on neuron's own
    incoming recurrent row is zero.  Returns ``-1`` when no layer has such a bias, else
    ``carriers`` (the first that many weighted layers end with an always-on neuron)."""
    weighted = [l for l in layers if l["kind"] != "flatten"]
    carriers = max([i for i, l in enumerate(weighted) if "current_bias" in l]
                   + [i + 1 for i, l in enumerate(weighted) if "loop_bias" in l], default=-1)
    if carriers < 0:
        return -1
    if carriers >= len(weighted):
        raise NIRError(f"node {weighted[-1]['source']!r}: a bias on the output layer's "
                       f"recurrent edge would need an always-on output neuron; not supported")
    last = weighted[carriers]
    upto = next(i for i, l in enumerate(layers) if l is last)
    if input_shape[1:] != (1, 1) or any(l["kind"] != "dense" for l in layers[:upto + 1]):
        raise NIRError(f"node {last['source']!r}: a bias into a persistent synaptic current "
                       f"(or on a recurrent edge) runs exactly as an always-on input channel "
                       f"through dense layers from a flat input only")
    for j, l in enumerate(weighted[:carriers + 1]):
        w = l["weight"]
        n_out, n_in = w.shape
        col = l.pop("current_bias", np.zeros(n_out))
        w = np.hstack([w, np.asarray(col, np.float64).reshape(-1, 1)])
        if j < carriers:
            thr0 = float(l["own_threshold"].reshape(-1)[0])
            row = np.zeros((1, n_in + 1))
            row[0, -1] = ALWAYS_ON_DRIVE * thr0
            w = np.vstack([w, row])
            l["gain"] = np.append(l["gain"].reshape(-1), 1.0)
            l["own_threshold"] = np.append(l["own_threshold"].reshape(-1), thr0)
            biases = l.pop("loop_bias", {})
            for key, loop in (l.get("loops") or {}).items():
                loop = np.pad(loop, ((0, 1), (0, 1)))
                loop[:-1, -1] = biases.get(key, 0.0)
                l["loops"][key] = loop
            if l["bias"] is not None:
                l["bias"] = np.append(l["bias"], 0.0)
            l["shape"] = (n_out + 1,)
        l["weight"] = w
    return carriers


def _common_threshold(weighted: list[dict[str, Any]], keep: bool) -> None:
    """Give every layer one threshold: fold each neuron's input gain and threshold into its
    incoming weights and bias (row ``i`` times ``gain_i * T / threshold_i``), with ``T``
    on SLAYER's 1/64 grid and as large as the weights allow (the largest fills the 8-bit
    range, so the integer grid resolves the weights as finely as it can).  With ``keep`` (a
    lava-sast export), a graph whose layers share a threshold, with unit gains and weights
    in range, keeps its weights and threshold exactly."""
    thresholds = np.concatenate([l["own_threshold"].reshape(-1) for l in weighted])
    gains = np.concatenate([l["gain"].reshape(-1) for l in weighted])
    biggest = max(float(np.abs(w).max()) for l in weighted
                  for w in [l["weight"], *(l.get("loops") or {}).values()])
    t0 = float(thresholds[0])
    if keep and np.all(thresholds == t0) and np.allclose(gains, 1.0, rtol=1e-6) \
            and biggest <= MAX_WEIGHT:
        for l in weighted:
            l["threshold"] = t0
        return
    factors = [(l["gain"] / l["own_threshold"]).reshape(-1) for l in weighted]
    folded = [l["weight"] * f.reshape(-1, *[1] * (l["weight"].ndim - 1))
              for l, f in zip(weighted, factors)]
    # a recurrent edge enters the same neurons: its rows take the same factors
    folded_loops = [{k: a * f.reshape(-1, 1) for k, a in (l.get("loops") or {}).items()}
                    for l, f in zip(weighted, factors)]
    top = max(float(np.abs(w).max()) for w in folded + [a for fl in folded_loops
                                                        for a in fl.values()])
    t = min(math.floor(64 * MAX_WEIGHT / max(top, 1e-30)), 2 ** 17) / 64
    if t < 1 / 64:
        raise NIRError(f"weights up to {top:g} times the threshold do not fit Loihi's "
                       f"8-bit weights")
    for l, w, fl, f in zip(weighted, folded, folded_loops, factors):
        l["weight"], l["threshold"] = w * t, t
        if fl:
            l["loops"] = {k: a * t for k, a in fl.items()}
        if l["bias"] is not None:
            l["bias"] = l["bias"] * f * t


#: The deploy file's input record key: how many always-on channels end the input.
ALWAYS_ON_INPUT = "always_on"


def model_from_graph(graph: Any, dt: Optional[float] = None,
                     always_on: bool = False) -> SastNetwork:
    """A :class:`SastNetwork` (hard spikes, full-precision weights) computing ``graph``.
    A graph with a bias into a persistent synaptic current needs an always-on input
    channel (:func:`_always_on`): allowed with ``always_on`` (the deploy path, which
    records it for ``run`` and ``verify``; :func:`imported_model`), else refused."""
    return imported_model(graph, dt, always_on)[0]


def imported_model(graph: Any, dt: Optional[float] = None, always_on: bool = True
                   ) -> tuple[SastNetwork, int]:
    """``(model, carriers)``: :func:`model_from_graph` and how many weighted layers end
    with an always-on neuron (-1: no always-on input channel at all)."""
    layers, input_shape, conv_input, _, carriers = layers_from_graph(graph, dt)
    if carriers >= 0 and not always_on:
        raise NIRError("a bias into a persistent synaptic current (CubaLIF) runs on Loihi "
                       "as an always-on input channel, which `netx_export.nir import` "
                       "builds for deployment; training from it here (--init-from) would "
                       "need a dataset with that channel: not supported")
    weighted = [l for l in layers if l["kind"] != "flatten"]
    first = weighted[0]
    shared = {"current_decay": first["current_decay"], "voltage_decay": first["voltage_decay"]}
    arch = []
    for l in layers:
        if l["kind"] == "flatten":
            arch.append({"type": "flatten"})
            continue
        if l["kind"] == "dense":
            entry = {"type": kind_with("dense", l.get("loops") or {}).name,
                     "out": int(l["weight"].shape[0])}
        else:
            if l["dilation"] != [1, 1] or l["groups"] != 1 or l["stride"][0] != l["stride"][1] \
                    or l["padding"][0] != l["padding"][1] \
                    or l["weight"].shape[2] != l["weight"].shape[3]:
                raise NIRError(f"node {l['source']!r}: a Conv2d with dilation, groups or "
                               f"unequal stride, padding or kernel sides is not supported")
            entry = {"type": "conv", "out": int(l["weight"].shape[0]),
                     "kernel": int(l["weight"].shape[2]), "stride": l["stride"][0],
                     "padding": l["padding"][0]}
        own = {k: l[k] for k in shared if l[k] != shared[k]}
        if own:
            entry["neuron"] = own
        if l["bias"] is not None:
            entry["bias"] = True
        arch.append(entry)
    neuron = {**DEFAULT_NEURON, "threshold": first["threshold"], **shared}
    model = SastNetwork(arch, input_shape, neuron=neuron)
    model.set_spike_mode("hard")
    with torch.no_grad():
        for b, l in zip(model.weighted_blocks(), weighted):
            kind_of(b).set_arrays(b, {"weight": l["weight"], **(l.get("loops") or {})})
            if l["bias"] is not None:
                b.bias.copy_(torch.as_tensor(l["bias"], dtype=torch.float32))
    return model, carriers


def stepped(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Outputs ``[N, out, T]`` of a stateful module another framework built from a NIR
    graph (Norse's ``from_nir``, snnTorch's ``import_from_nir``, nirtorch's interpreter),
    called as ``out, state = module(x[..., t], state)`` step by step over ``x`` ``[N, in,
    T]`` without gradients: the reference a lava-sast import is compared with."""
    state, outs = None, []
    with torch.no_grad():
        for t in range(x.shape[-1]):
            out, state = module(x[..., t], state)
            outs.append(out)
    return torch.stack(outs, -1)


def read_graph(path: str | Path) -> Any:
    """``nir.read`` with one-line errors naming the file.  nir's own type inference is
    left off (it rejects some valid graphs, e.g. snnTorch's issue #410); the import checks
    every node's shapes itself and names the node that does not fit."""
    nir = _nir()
    if not Path(path).is_file():
        raise NIRError(f"NIR file {path} does not exist")
    try:
        return nir.read(str(path), type_check=False)  # the import checks shapes per node
    except Exception as exc:  # a foreign or broken file
        raise NIRError(f"{path}: not a NIR graph nir can read ({type(exc).__name__}: "
                       f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''})"
                       ) from None


def graph_and_model(path: str | Path, dt: Optional[float] = None, always_on: bool = False
                    ) -> tuple[Any, SastNetwork, int]:
    """The NIR graph at ``path`` (read once), its model and always-on carriers
    (:func:`imported_model`); an error names the file and the node."""
    graph = read_graph(path)
    try:
        return (graph, *imported_model(graph, dt, always_on))
    except NIRError as exc:
        raise NIRError(f"{path}: {exc}") from None


def model_from_file(path: str | Path, dt: Optional[float] = None) -> SastNetwork:
    """:func:`model_from_graph` of the NIR file at ``path``."""
    return graph_and_model(path, dt)[1]
