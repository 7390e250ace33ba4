"""A bias into a persistent synaptic current (the NIR paper's Braille RNNs: CubaLIF layers,
Affine biases, a recurrent Affine edge with a bias, per-layer decays, dt 1e-4) imports as
an always-on input channel: exact against Norse's run of the graph, 0 spike mismatches
against Lava, refused where it cannot be exact.  The paper's own graphs (not in
``../shared/data``) are checked by ``benchmarks/nir_braille.py``; a graph of their shape is
built here."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import lava_sast  # noqa: F401  (compat hook)

nir = pytest.importorskip("nir")
norse = pytest.importorskip("norse.torch")

from lava_sast.nir_graph import (NIRError, imported_model, model_from_graph,  # noqa: E402
                                 stepped)
from netx_export.data_input import always_on_channels, with_always_on  # noqa: E402
from netx_export.netx_model import load_int_network  # noqa: E402
from netx_export.nir import import_file  # noqa: E402
from netx_export.verify import compare, random_inputs  # noqa: E402

DT = 1e-4


def braille_like(rng: np.random.Generator, n_in: int = 6, hidden: int = 9, out: int = 3,
                 weights: float = 1.0) -> "nir.NIRGraph":
    """The Braille RNN's layout: fc1 (Affine) -> lif1 (CubaLIF) <-> w_rec (Affine), lif1
    -> fc2 (Affine) -> lif2 (CubaLIF), each layer its own decays, snnTorch's w_in and r."""
    def cuba(n, tau_syn, tau_mem, thr=1.0):
        return nir.CubaLIF(tau_syn=np.full(n, tau_syn), tau_mem=np.full(n, tau_mem),
                           r=np.full(n, tau_mem / DT), v_leak=np.zeros(n),
                           v_threshold=np.full(n, thr), v_reset=np.zeros(n),
                           w_in=np.full(n, tau_syn / DT))

    def affine(o, i, bias=0.3):
        return nir.Affine(weight=weights * rng.normal(0, 1.2, (o, i)).astype(np.float32),
                          bias=rng.uniform(-bias, bias, o).astype(np.float32))

    nodes = {"input": nir.Input(input_type=np.array([n_in])), "fc1": affine(hidden, n_in),
             "lif1": cuba(hidden, 2.5e-4, 1e-3), "w_rec": affine(hidden, hidden, 0.2),
             "fc2": affine(out, hidden), "lif2": cuba(out, 2e-4, 4e-4),
             "output": nir.Output(output_type=np.array([out]))}
    edges = [("input", "fc1"), ("fc1", "lif1"), ("lif1", "w_rec"), ("w_rec", "lif1"),
             ("lif1", "fc2"), ("fc2", "lif2"), ("lif2", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": DT})


def norse_spikes(graph, x: torch.Tensor) -> torch.Tensor:
    return stepped(norse.from_nir(graph, dt=DT), x)


def own_spikes(graph, x: torch.Tensor) -> torch.Tensor:
    model, carriers = imported_model(graph, always_on=True)
    assert carriers >= 0
    xin = torch.cat([x, torch.ones(len(x), 1, x.shape[-1])], 1)
    with torch.no_grad():  # one sample at a time: in a batch, hard mode carries Lava's
        return torch.cat([model(xin[i:i + 1].reshape(1, -1, 1, 1, x.shape[-1]))  # recurrent
                          .reshape(1, -1, x.shape[-1]) for i in range(len(x))])  # buffer


@pytest.mark.parametrize("bias_node", ["fc1", "w_rec", "fc2"])
def test_each_bias_matches_norse_step_for_step(bias_node):
    """One bias at a time drives the net (no input spikes; fc2 passes lif1's spikes on):
    our model's output spikes equal Norse's at every step.  The always-on channel carries
    fc1's and fc2's bias from the first step, the always-on neuron's recurrent column
    w_rec's from the second (as nirtorch runs the edge); a bias a step early or late
    shifts these trains."""
    graph = braille_like(np.random.default_rng(3))
    for name in ("fc1", "w_rec", "fc2"):
        graph.nodes[name].weight = np.zeros_like(graph.nodes[name].weight)
        graph.nodes[name].bias = np.zeros_like(graph.nodes[name].bias)
    if bias_node != "fc2":
        graph.nodes["fc2"].weight[:] = 1.5  # lif1's spikes show at the output
    graph.nodes["fc1"].weight[0, 0] = 1.0  # gives the import a weight scale
    graph.nodes[bias_node].bias = np.linspace(0.2, 0.9, len(graph.nodes[bias_node].bias),
                                              dtype=np.float32)
    x = torch.zeros(1, 6, 40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = norse_spikes(graph, x)
        # fc1's bias needs the channel only; fc2's and w_rec's also lif1's always-on neuron
        assert imported_model(graph, always_on=True)[1] == (0 if bias_node == "fc1" else 1)
        own = own_spikes(graph, x)
    assert ref.sum() > 0 and not bool(ref.all())
    assert torch.equal(own, ref)


def test_braille_like_graph_agrees_with_norse():
    """With random weights and every bias, the float model (Loihi's integer state and
    12-bit decays) agrees with Norse on most output spikes per step and on the classes."""
    graph = braille_like(np.random.default_rng(0))
    x = (torch.rand(16, 6, 80, generator=torch.Generator().manual_seed(1)) < 0.1).float()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = norse_spikes(graph, x)
        own = own_spikes(graph, x)
    assert ref.sum() > 0
    assert float((own == ref).float().mean()) >= 0.95
    assert float((own.sum(-1).argmax(1) == ref.sum(-1).argmax(1)).float().mean()) >= 0.8


def test_braille_like_graph_deploys_and_verifies_against_lava(tmp_path):
    """The import writes the always-on channel into the deploy file; ``verify``'s random
    input appends it; the emulator equals Lava spike for spike; the float model agrees
    with Norse on most output spikes and classes (the rest: Loihi's integer state)."""
    rng = np.random.default_rng(0)
    graph = braille_like(rng)
    nir.write(str(tmp_path / "b.nir"), graph)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        done = import_file(tmp_path / "b.nir", tmp_path / "imp")
    net = load_int_network(done["network"])
    assert always_on_channels(net) == 1 and net.input_size == 7
    inputs = random_inputs(net, 3, 40, 0.2, seed=1)
    assert inputs.shape == (3, 7, 40) and bool(inputs[:, -1].all())
    result = compare(done["network"], inputs, timeout_s=300, show_progress=False)
    assert result["spike_mismatches"] == [0, 0]
    assert result["spikes_per_layer"][1] > 0


def test_init_from_and_convolutions_refuse_a_current_bias_in_one_line(tmp_path):
    rng = np.random.default_rng(0)
    graph = braille_like(rng)
    with pytest.raises(NIRError, match="always-on input channel.*not supported"):
        model_from_graph(graph)  # what train --init-from uses
    conv = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([1, 6, 6])),
               "c": nir.Conv2d(input_shape=(6, 6), weight=np.ones((2, 1, 3, 3), np.float32),
                               stride=1, padding=0, dilation=1, groups=1,
                               bias=np.full(2, 0.2, np.float32)),
               "lif": nir.CubaLIF(tau_syn=np.full((2, 4, 4), 2e-4),
                                  tau_mem=np.full((2, 4, 4), 1e-3),
                                  r=np.full((2, 4, 4), 10.0), v_leak=np.zeros((2, 4, 4)),
                                  v_threshold=np.ones((2, 4, 4)), v_reset=np.zeros((2, 4, 4)),
                                  w_in=np.full((2, 4, 4), 2.0)),
               "output": nir.Output(output_type=np.array([2, 4, 4]))},
        edges=[("input", "c"), ("c", "lif"), ("lif", "output")])
    with pytest.raises(NIRError, match="dense layers only") as err:
        model_from_graph(conv)
    assert "\n" not in str(err.value)


def test_with_always_on_appends_ones_only_where_recorded(tmp_path):
    rng = np.random.default_rng(0)
    nir.write(str(tmp_path / "b.nir"), braille_like(rng))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        done = import_file(tmp_path / "b.nir", tmp_path / "imp")
    net = load_int_network(done["network"])
    x = torch.zeros(2, 6, 5)
    assert torch.equal(with_always_on(net, x)[:, -1], torch.ones(2, 5))


def test_docs_braille_table_is_the_benchmarks_own():
    """docs/nir.md's Braille table is what ``benchmarks/nir_braille.py`` last wrote."""
    import json
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    result = json.loads((root / "benchmarks" / "results" / "nir_braille.json").read_text())
    assert result["markdown"] in (root / "docs" / "nir.md").read_text()
    assert all(not any(r["lava_spike_mismatches"]) for r in result["graphs"])
    assert {r["graph"] for r in result["graphs"]} == {"braille_noDelay_bias_zero.nir",
                                                       "braille_noDelay_noBias_subtract.nir"}


def test_verify_random_input_on_the_command_line(tmp_path):
    """``verify --random-input P`` feeds any net (its always-on channel appended) and a
    probability outside [0, 1] is a one-line error."""
    import json
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    nir.write(str(tmp_path / "b.nir"), braille_like(np.random.default_rng(0)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        done = import_file(tmp_path / "b.nir", tmp_path / "imp")
    cmd = [sys.executable, "-m", "netx_export.verify", done["network"], "--quiet"]
    bad = subprocess.run(cmd + ["--random-input", "1.5"], cwd=root, capture_output=True,
                         text=True, timeout=300)
    assert bad.returncode == 2 and "--random-input" in bad.stderr and "Traceback" not in bad.stderr
    ok = subprocess.run(cmd + ["--random-input", "0.3", "--samples", "2", "--n-bins", "20",
                               "--out", str(tmp_path / "v.json")], cwd=root,
                        capture_output=True, text=True, timeout=600)
    assert ok.returncode == 0, ok.stderr
    result = json.loads((tmp_path / "v.json").read_text())
    assert result["spike_mismatches"] == [0, 0] and result["samples"] == 2


def test_run_scores_an_always_on_net_on_a_dataset_in_the_emulator_and_in_lava(tmp_path):
    """``netx_export.run`` appends the always-on channel to a dataset's spikes: the
    emulator and Lava give the same predictions."""
    from netx_export.run import evaluate_network
    graph = braille_like(np.random.default_rng(0), n_in=2 * 18 * 18, hidden=12, out=10,
                         weights=0.3)
    nir.write(str(tmp_path / "d.nir"), graph)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        done = import_file(tmp_path / "d.nir", tmp_path / "imp")
    emu = evaluate_network(done["network"], "digits", None, "test", 6, engine="emulator")
    lava = evaluate_network(done["network"], "digits", None, "test", 6, engine="lava",
                            timeout_s=300)
    assert emu["predictions"] == lava["predictions"] and emu["samples"] == 6
    assert "emulate" in emu["backend"]


def test_edge_cases_of_the_always_on_mapping_are_refused_or_warned():
    """A bias on the output layer's recurrent edge is refused; a recurrent edge's bias is
    warned about (a stream of samples gets it one step early from the second sample)."""
    graph = braille_like(np.random.default_rng(0))
    with pytest.warns(UserWarning, match="one step early"):
        imported_model(graph, always_on=True)
    out_rec = braille_like(np.random.default_rng(0))
    out_rec.nodes["w_rec2"] = nir.Affine(weight=np.zeros((3, 3), np.float32),
                                         bias=np.full(3, 0.2, np.float32))
    out_rec.edges += [("lif2", "w_rec2"), ("w_rec2", "lif2")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(NIRError, match="output layer's recurrent edge"):
            imported_model(out_rec, always_on=True)


def test_an_always_on_current_that_would_wrap_is_refused(tmp_path):
    """A hidden layer whose synaptic current barely decays would carry its always-on
    neuron's current past Lava's 24-bit limit (wrapped, it would drop spikes)."""
    graph = braille_like(np.random.default_rng(0))
    lif = graph.nodes["lif1"]
    lif.tau_syn = np.full_like(lif.tau_syn, 0.2)  # dt / tau_syn = 5e-4
    lif.w_in = lif.tau_syn / DT
    nir.write(str(tmp_path / "w.nir"), graph)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(NIRError, match="24-bit"):
            import_file(tmp_path / "w.nir", tmp_path / "imp")
    assert not (tmp_path / "imp").exists()  # nothing half-written
