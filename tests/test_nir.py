"""NIR in and out (issue 19), against the real ``nir`` and snnTorch packages: round trips,
snnTorch's importer on our exports, an snnTorch-trained net deployed to Lava, and one-line
errors naming the node."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

nir = pytest.importorskip("nir")
snn = pytest.importorskip("snntorch")

from lava_sast.config import TrainConfig  # noqa: E402
from lava_sast.datasets import load_dataset  # noqa: E402
from lava_sast.models import spike_modes  # noqa: E402
from lava_sast.nir_graph import (DT, NIRError, graph_from_model, model_from_file,  # noqa: E402
                                 model_from_graph, stepped)

from netx_export.hardware_eval import train_and_deploy
from netx_export.netx_model import load_int_network  # noqa: E402
from netx_export.nir import export_file, import_file  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("nir") / "run"
    train_and_deploy(TrainConfig(method="slayer", epochs=3, out=str(out), quiet=True))
    return out


def _framework_run(graph, x: torch.Tensor, framework: str) -> torch.Tensor:
    """Output spikes [N, classes, T] of snnTorch's ``import_from_nir`` of ``graph`` (the
    benchmark's runner), or of Norse's ``from_nir`` at the graph's dt."""
    if framework == "snntorch":
        return _benchmark().snntorch_run(graph, x)
    norse = pytest.importorskip("norse.torch")
    return stepped(norse.from_nir(graph, dt=graph.metadata["dt"]), x)


def test_export_import_export_round_trip(trained_run, tmp_path):
    """checkpoint -> NIR (type-checked) -> lava-sast -> NetX is the run's own INT8 file,
    byte for byte; and the graph survives NIR -> here -> NIR unchanged."""
    path = tmp_path / "net.nir"
    export_file(trained_run / "checkpoint.pt", path)
    graph = nir.read(str(path), type_check=True)
    assert graph.metadata["dt"] == DT and "zero" in graph.metadata["reset"]
    import_file(path, tmp_path / "imported")
    assert (tmp_path / "imported" / "network_int8.net").read_bytes() == \
        (trained_run / "network_int8.net").read_bytes()
    again = graph_from_model(model_from_graph(graph))
    assert set(again.nodes) == set(graph.nodes) and again.edges == graph.edges
    for name, node in graph.nodes.items():
        for key, value in node.to_dict().items():
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(again.nodes[name].to_dict()[key], value)
    export_file(trained_run / "network_int8.net", tmp_path / "from_net.nir")
    import_file(tmp_path / "from_net.nir", tmp_path / "from_net")
    assert (tmp_path / "from_net" / "network_int8.net").read_bytes() == \
        (trained_run / "network_int8.net").read_bytes()


@pytest.mark.parametrize("framework", ["snntorch", "norse"])
def test_frameworks_reproduce_our_exported_net(trained_run, tmp_path, framework):
    """snnTorch's importer (and Norse's, at the dt in the graph's metadata) on our export
    gives our hard-spike float model's output spikes.  Tolerance: 99 % of output spikes
    and 95 % of predicted classes.  Our hard model keeps Loihi's fixed-point state
    (membranes on SLAYER's integer grid, 12-bit decays); the frameworks add in float32,
    so a membrane that lands next to the threshold can fall on either side."""
    export_file(trained_run / "checkpoint.pt", tmp_path / "net.nir")
    graph = nir.read(str(tmp_path / "net.nir"))
    data = load_dataset("digits", split="test", max_samples=100)
    x, _ = data[list(range(len(data)))]
    theirs = _framework_run(graph, x.reshape(len(x), -1, x.shape[-1]), framework)
    model = model_from_file(tmp_path / "net.nir")
    with torch.no_grad(), spike_modes(model, ["hard"] * 2):
        ours = model(x)
    assert float((ours == theirs).float().mean()) >= 0.99
    agree = (ours.sum(-1).argmax(1) == theirs.sum(-1).argmax(1)).float().mean()
    assert float(agree) >= 0.95


def _benchmark():
    """``benchmarks/nir_snntorch.py``: the snnTorch training and graph it measures with."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("nir_snntorch",
                                                  ROOT / "benchmarks" / "nir_snntorch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_snntorch_trained_net_deploys_to_lava(tmp_path):
    """A CubaLIF net trained in snnTorch, written with the nir API in snnTorch's
    convention, imported here, exported through NetX, run in Lava fixed_pt: spike for
    spike with the emulator, accuracy within 2 points of snnTorch's."""
    torch.manual_seed(0)
    bench = _benchmark()
    train_set = load_dataset("digits", split="train")
    test = load_dataset("digits", split="test", max_samples=60)
    graph, run = bench.train_snntorch(train_set, 64, 4, 2e-3)
    x, y = test[list(range(len(test)))]
    with torch.no_grad():
        snn_acc = float((run(x.reshape(len(x), -1, x.shape[-1])).sum(-1).argmax(1) == y)
                        .float().mean())
    nir.write(str(tmp_path / "snn.nir"), graph)
    r = subprocess.run([sys.executable, "-m", "netx_export.nir", "import", str(tmp_path / "snn.nir"),
                        "--out", str(tmp_path / "imp")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    net_file = tmp_path / "imp" / "network_int8.net"
    from netx_export.run import evaluate_network
    from netx_export.verify import compare
    from netx_export.data_input import load_inputs
    inputs, _, _ = load_inputs(load_int_network(net_file), "digits", None, "test", 60)
    result = compare(str(net_file), inputs, timeout_s=600)
    assert sum(result["spike_mismatches"]) == 0
    lava = evaluate_network(str(net_file), "digits", None, "test", 60, engine="lava",
                            timeout_s=600)
    assert snn_acc > 0.5
    assert abs(lava["accuracy"] - snn_acc) <= 0.02 + 1e-9, (lava["accuracy"], snn_acc)


def _write(graph, path) -> Path:
    nir.write(str(path), graph)
    return path


@pytest.mark.parametrize("case, words", [
    ("unsupported", ["'delay'", "Delay", "not supported"]),
    ("shapes", ["'fc2'", "does not fit"]),
    ("nan", ["'lif1'", "non-finite", "v_threshold"]),
    ("missing", ["'lif1'", "no v_threshold"]),
    ("bias", ["bias", "always-on", "--init-from"]),  # deployable: tests/test_nir_bias.py
])
def test_bad_graphs_are_one_line_naming_the_node(case, words, tmp_path):
    w1, w2 = np.ones((4, 6), np.float32), np.ones((3, 4), np.float32)
    graph = _benchmark().two_layer_graph(w1, w2)
    if case == "unsupported":
        graph.nodes["delay"] = nir.Delay(delay=np.ones(6))  # axonal delays: not in Lava nets
        graph.edges = [("input", "delay"), ("delay", "fc1")] + graph.edges[1:]
    elif case == "shapes":
        graph.nodes["fc2"] = nir.Linear(weight=np.ones((3, 5), np.float32))
    elif case == "nan":
        graph.nodes["lif1"].v_threshold = np.array([1.0, np.nan, 1.0, 1.0])
    elif case == "missing":
        graph.nodes["lif1"].v_threshold = None
    elif case == "bias":
        graph.nodes["fc1"] = nir.Affine(weight=w1, bias=np.full(4, 0.3, np.float32))
    if case in ("missing", "bias"):  # no file holds a node without it; training reads a graph
        with pytest.raises(NIRError) as info:
            model_from_graph(graph)
        message = str(info.value)
    else:
        path = _write(graph, tmp_path / "bad.nir")
        r = subprocess.run([sys.executable, "-m", "netx_export.nir", "import", str(path),
                            "--out", str(tmp_path / "out")], cwd=ROOT, capture_output=True,
                           text=True)
        assert r.returncode != 0
        lines = [l for l in r.stderr.strip().splitlines() if l.startswith("error:")]
        assert len(lines) == 1, r.stderr
        message = lines[0]
        assert not (tmp_path / "out").exists()
    for w in words:
        assert w in message, message
