"""Graphs other frameworks write, imported as they are: the NIR paper's N-MNIST CNN
(Sinabs: IF neurons, SumPool2d), and graphs with the features a Loihi layer has or lacks:
IF neurons, sum and average pooling folded into the next weight layer, trained biases,
per-layer decays (imported, checked spike for spike against Lava ``fixed_pt``), a bias into
a persisting synaptic current (an always-on input channel: ``tests/test_nir_bias.py``) and
recurrence other than a neuron's own edge (refused in one line naming what is missing)."""
from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

nir = pytest.importorskip("nir")

import lava_sast  # noqa: E402,F401
from lava_sast.datasets import load_dataset  # noqa: E402
from lava_sast.nir_graph import NIRError, model_from_graph  # noqa: E402
from netx_export.data_input import load_inputs  # noqa: E402
from netx_export.emulate import emulate_dataset  # noqa: E402
from netx_export.netx_model import load_int_network  # noqa: E402
from netx_export.nir import export_file, import_file  # noqa: E402
from netx_export.verify import compare  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CNN = ROOT.parent / "shared" / "data" / "nir-graphs" / "cnn_sinabs.nir"


@pytest.fixture(scope="module")
def cnn(tmp_path_factory, nmnist_dir):
    """The NIR paper's CNN imported as it is, with the 1 ms frames it was trained on."""
    if not CNN.is_file():
        pytest.skip(f"{CNN} not found (see ../shared/data/nir-graphs/README.md)")
    out = tmp_path_factory.mktemp("cnn")
    r = subprocess.run([sys.executable, "-m", "netx_export.nir", "import", str(CNN),
                        "--out", str(out), "--bin-us", "1000"], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "warning" not in r.stderr  # no "close to dead" layer, no implausible decay
    return out


def test_the_nir_papers_cnn_scores_in_the_emulator_and_matches_lava(cnn, nmnist_dir):
    net = load_int_network(cnn / "network_int8.net")
    assert net.binning == {"bin_us": 1000, "frames": "binary"}
    data = load_dataset("nmnist", nmnist_dir, "test", 1000)  # 300 frames of 1 ms
    emu, labels = emulate_dataset(net, data)
    assert float((emu.predictions == labels).float().mean()) >= 0.96  # published: 0.98
    inputs, _, _ = load_inputs(net, "nmnist", str(nmnist_dir), "test", 2, n_bins=60)
    result = compare(str(cnn / "network_int8.net"), inputs, timeout_s=600,
                     show_progress=False)
    assert result["spike_mismatches"] == [0] * 5 and sum(result["spikes_per_layer"]) > 0


def test_the_cnn_agrees_with_norses_own_import(cnn, nmnist_dir):
    norse = pytest.importorskip("norse.torch")
    graph = nir.read(str(CNN), type_check=False)
    batched = copy.deepcopy(graph)
    for node in batched.nodes.values():  # Sinabs flattens one sample: keep the batch axis
        if isinstance(node, nir.Flatten):
            node.start_dim = 1
    net = norse.from_nir(batched)
    data = load_dataset("nmnist", nmnist_dir, "test", 1000, max_samples=30)
    x, _ = data[list(range(len(data)))]
    state, counts = None, 0
    with torch.no_grad():
        for t in range(x.shape[-1]):
            out, state = net(x[..., t], state)
            counts = counts + out
    theirs = counts.argmax(1)
    emu, _ = emulate_dataset(load_int_network(cnn / "network_int8.net"), data)
    assert float((emu.predictions == theirs).float().mean()) >= 0.97


def test_import_export_import_is_identical(cnn, tmp_path):
    graph_file = tmp_path / "again.nir"
    export_file(cnn / "network_int8.net", graph_file)
    again = import_file(graph_file, tmp_path / "again")
    assert again["binning"] == {"bin_us": 1000, "frames": "binary"}  # travels in the graph
    assert (tmp_path / "again" / "network_int8.net").read_bytes() == \
        (cnn / "network_int8.net").read_bytes()


def _if(n, thr=1.0):
    shape = (n,) if isinstance(n, int) else n
    return nir.IF(r=np.ones(shape), v_threshold=np.full(shape, thr), v_reset=np.zeros(shape))


def _cuba(n, tau_syn, tau_mem, thr=1.0):
    full = lambda v: np.full(n, v)  # noqa: E731
    return nir.CubaLIF(tau_syn=full(tau_syn), tau_mem=full(tau_mem), r=full(1.0),
                       v_leak=full(0.0), v_threshold=full(thr), v_reset=full(0.0),
                       w_in=full(1.0))


def _graph(nodes, chain, extra_edges=()):
    edges = list(zip(chain, chain[1:])) + list(extra_edges)
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={})


def _digits_cnn(pool):
    """Input (2, 18, 18) -> Conv2d 4 (3x3, pad 1) -> IF -> pool 2x2 -> Conv2d 6 (3x3, pad 1)
    -> IF -> pool 3x3 -> Flatten -> Affine (trained bias) -> IF -> Linear -> IF (10)."""
    rng = np.random.default_rng(0)
    pool_node = nir.SumPool2d if pool == "sum" else nir.AvgPool2d
    k = lambda *s: rng.normal(0, 1, s).astype(np.float32)  # noqa: E731
    nodes = {
        "input": nir.Input(input_type={"input": np.array([2, 18, 18])}),
        "c1": nir.Conv2d(input_shape=np.array([18, 18]), weight=k(4, 2, 3, 3) * 0.5,
                         stride=np.array([1, 1]), padding=np.array([1, 1]),
                         dilation=np.array([1, 1]), groups=1, bias=np.zeros(4, np.float32)),
        "n1": _if((4, 18, 18)),
        "p1": pool_node(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                        padding=np.array([0, 0])),
        "c2": nir.Conv2d(input_shape=np.array([9, 9]), weight=k(6, 4, 3, 3) * 0.4,
                         stride=np.array([1, 1]), padding=np.array([1, 1]),
                         dilation=np.array([1, 1]), groups=1, bias=np.zeros(6, np.float32)),
        "n2": _if((6, 9, 9)),
        "p2": pool_node(kernel_size=np.array([3, 3]), stride=np.array([3, 3]),
                        padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([6, 3, 3])}, start_dim=0),
        "fc1": nir.Affine(weight=k(24, 54) * 0.5, bias=np.linspace(-0.05, 0.05, 24)),
        "n3": _if(24),
        "fc2": nir.Linear(weight=k(10, 24) * 0.4),
        "n4": _if(10),
        "output": nir.Output(output_type={"output": np.array([10])}),
    }
    chain = ["input", "c1", "n1", "p1", "c2", "n2", "p2", "flat", "fc1", "n3", "fc2", "n4",
             "output"]
    return _graph(nodes, chain)


def _reference(graph, x):
    """The graph computed directly in float (IF: v += r I, spike when v > thr, reset 0):
    output spike counts ``[N, 10]`` for binary input ``x`` ``[N, 2, 18, 18, T]``."""
    n = graph.nodes
    pool = {"SumPool2d": lambda a, k: torch.nn.functional.avg_pool2d(a, k) * k * k,
            "AvgPool2d": lambda a, k: torch.nn.functional.avg_pool2d(a, k)}
    v = {}

    def fire(name, current):
        v[name] = v.get(name, 0) + current
        s = (v[name] > torch.as_tensor(n[name].v_threshold, dtype=torch.float64)).double()
        v[name] = v[name] * (1 - s)
        return s

    def conv(name, a):
        c = n[name]
        return torch.nn.functional.conv2d(a, torch.as_tensor(c.weight, dtype=torch.float64),
                                          padding=int(c.padding[0]))
    counts = 0
    for t in range(x.shape[-1]):
        a = x[..., t].double()
        s1 = fire("n1", conv("c1", a))
        s1 = pool[type(n["p1"]).__name__](s1, 2)
        s2 = fire("n2", conv("c2", s1))
        s2 = pool[type(n["p2"]).__name__](s2, 3).flatten(1)
        w = torch.as_tensor(n["fc1"].weight, dtype=torch.float64)
        s3 = fire("n3", s2 @ w.T + torch.as_tensor(n["fc1"].bias, dtype=torch.float64))
        s4 = fire("n4", s3 @ torch.as_tensor(n["fc2"].weight, dtype=torch.float64).T)
        counts = counts + s4
    return counts


@pytest.mark.parametrize("pool", ["sum", "avg"])
def test_if_pooling_and_biases_import_exactly_and_verify_against_lava(pool, tmp_path):
    graph = _digits_cnn(pool)
    path = tmp_path / "g.nir"
    nir.write(str(path), graph)
    done = import_file(path, tmp_path / "imp")
    assert not done["warnings"]
    model = model_from_graph(graph)
    assert model.arch[1]["kernel"] == 6 and model.arch[1]["stride"] == 2  # pool folded
    assert model.arch[3].get("bias") and model.weighted_blocks()[2].bias.abs().sum() > 0
    data = load_dataset("digits", split="test", max_samples=40)
    x, _ = data[list(range(len(data)))]
    ref = _reference(graph, x.double()).numpy()
    net = load_int_network(tmp_path / "imp" / "network_int8.net")
    emu, _ = emulate_dataset(net, data)
    ours = emu.output_counts.numpy()  # INT8 weights: close to the float graph, not equal
    assert ref.std() > 1 and np.corrcoef(ours.ravel(), ref.ravel())[0, 1] > 0.9
    inputs, _, _ = load_inputs(net, "digits", None, "test", 4)
    result = compare(str(tmp_path / "imp" / "network_int8.net"), inputs, timeout_s=600,
                     show_progress=False)
    assert result["spike_mismatches"] == [0] * 4 and result["spikes_per_layer"][-1] > 0


def test_per_layer_decays_import_and_verify_against_lava(tmp_path):
    rng = np.random.default_rng(1)
    nodes = {"input": nir.Input(input_type={"input": np.array([648])}),
             "fc1": nir.Linear(weight=rng.normal(0, 0.15, (32, 648)).astype(np.float32)),
             "n1": _cuba(32, tau_syn=4e-4, tau_mem=2e-3),
             "fc2": nir.Linear(weight=rng.normal(0, 0.5, (10, 32)).astype(np.float32)),
             "n2": _cuba(10, tau_syn=2e-4, tau_mem=5e-4),
             "output": nir.Output(output_type={"output": np.array([10])})}
    path = tmp_path / "g.nir"
    nir.write(str(path), _graph(nodes, list(nodes)))
    import_file(path, tmp_path / "imp", dt=1e-4)
    net = load_int_network(tmp_path / "imp" / "network_int8.net")
    assert [(l.i_decay, l.v_decay) for l in net.layers] == [(1024, 205), (2048, 819)]
    inputs, _, _ = load_inputs(net, "digits", None, "test", 4)
    result = compare(str(tmp_path / "imp" / "network_int8.net"), inputs, timeout_s=600,
                     show_progress=False)
    assert result["spike_mismatches"] == [0, 0] and result["spikes_per_layer"][0] > 0


@pytest.mark.parametrize("kind", ["SumPool2d", "AvgPool2d"])
def test_pooling_folds_exactly_into_the_next_conv_and_dense_layer(kind):
    from lava_sast.nir_graph import _pool_of
    from lava_sast.pooling import fold_pool as _fold_pool
    rng = np.random.default_rng(2)
    s = torch.as_tensor(rng.random((5, 3, 12, 12)) < 0.3, dtype=torch.float64)
    node = getattr(nir, kind)(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                              padding=np.array([0, 0]))
    pool = _pool_of("p", node, (3, 12, 12))
    pooled = torch.nn.functional.avg_pool2d(s, 2) * (4 if kind == "SumPool2d" else 1)
    w = rng.normal(size=(4, 3, 3, 3))
    conv = {"kind": "conv", "weight": w, "stride": [1, 1], "padding": [1, 1],
            "dilation": [1, 1], "groups": 1, "source": "c"}
    folded = _fold_pool(pool, conv)
    want = torch.nn.functional.conv2d(pooled, torch.as_tensor(w), padding=1)
    got = torch.nn.functional.conv2d(s, torch.as_tensor(folded["weight"]),
                                     stride=folded["stride"], padding=folded["padding"])
    assert torch.allclose(got, want)
    dense = {"kind": "dense", "weight": rng.normal(size=(7, 3 * 6 * 6)), "source": "d"}
    folded = _fold_pool(pool, dense)
    want = pooled.flatten(1) @ torch.as_tensor(dense["weight"]).T
    assert torch.allclose(s.flatten(1) @ torch.as_tensor(folded["weight"]).T, want)


def _error(graph, tmp_path) -> str:
    path = tmp_path / "bad.nir"
    nir.write(str(path), graph)
    r = subprocess.run([sys.executable, "-m", "netx_export.nir", "import", str(path),
                        "--out", str(tmp_path / "out")], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    lines = [l for l in r.stderr.splitlines() if l.startswith("error:")]
    assert len(lines) == 1 and not (tmp_path / "out").exists()
    return lines[0]


def test_other_recurrence_is_named_and_a_bias_into_a_persisting_current_imports(
        tmp_path):
    w = np.ones((4, 4), np.float32) * 0.1
    nodes = {"input": nir.Input(input_type={"input": np.array([4])}),
             "fc": nir.Linear(weight=w), "lif": _cuba(4, 4e-4, 2e-3),
             "rec": nir.Linear(weight=w),
             "output": nir.Output(output_type={"output": np.array([4])})}
    recurrent = _graph(nodes, ["input", "fc", "lif", "output"], [("lif", "rec"), ("rec", "fc")])
    line = _error(recurrent, tmp_path)
    assert "recurrent (fc -> lif -> rec -> fc)" in line
    biased = _graph({**{k: v for k, v in nodes.items() if k != "rec"},
                     "fc": nir.Affine(weight=w, bias=np.full(4, 0.2, np.float32))},
                    ["input", "fc", "lif", "output"])
    path = tmp_path / "biased.nir"
    nir.write(str(path), biased)  # a bias into a persisting current: an always-on channel
    r = subprocess.run([sys.executable, "-m", "netx_export.nir", "import", str(path), "--out",
                        str(tmp_path / "biased")], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0 and "always-on last input channel" in r.stdout, r.stderr


def test_a_time_step_that_makes_decays_implausible_is_warned_about(tmp_path):
    lif = ROOT.parent / "shared" / "data" / "nir-graphs" / "lif_norse.nir"
    if not lif.is_file():
        pytest.skip(f"{lif} not found")
    quiet = import_file(lif, tmp_path / "a")  # tau 2.5 ms at dt 1e-4: a decay of 0.04
    assert not quiet["warnings"]
    loud = import_file(lif, tmp_path / "b", dt=2e-3)  # 0.8 of the membrane lost each step
    assert any("loses more than half" in w and "--dt" in w for w in loud["warnings"])
    r = subprocess.run([sys.executable, "-m", "netx_export.nir", "import", str(lif), "--out",
                        str(tmp_path / "c"), "--dt", "2e-3"], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0 and r.stderr.startswith("warning: node '1': voltage decay")
