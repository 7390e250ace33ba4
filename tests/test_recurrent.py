"""Recurrent dense layers (``dense_rec``) end to end: the layer kind in ``--arch`` lists,
training with every method (SLAYER's recurrent block in hard mode, the smooth forward with
the recurrent input one step later in surrogate mode), export as NetX ``dense_rec``,
Lava ``fixed_pt`` equal to the emulator, SynOps of the recurrent synapses."""
import json
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch

from lava_sast.arch import read_arch_file
from lava_sast.dynamics import surrogate_cuba_reference
from lava_sast.layers import KINDS
from lava_sast.models import SastNetwork
from lava_sast.synops import layer_synops
from netx_export.netx_model import load_int_network
from netx_export.verify import compare

ARCH = [{"type": "flatten"}, {"type": "dense_rec", "out": 24, "bias": True},
        {"type": "dense", "out": 10}]


def test_dense_rec_is_a_registered_kind_an_arch_file_may_use(tmp_path):
    assert KINDS["dense_rec"].netx_type == "dense_rec"
    f = tmp_path / "a.json"
    f.write_text(json.dumps(ARCH))
    assert read_arch_file(f)[1]["type"] == "dense_rec"
    f.write_text(json.dumps([{"type": "dense_rec", "out": 4, "recurrent": 1},
                             {"type": "dense", "out": 2}]))
    with pytest.raises(ValueError, match="layer 0 \\(dense_rec\\) has unknown key 'recurrent'"):
        read_arch_file(f)


def _net(seed=0):
    torch.manual_seed(seed)
    net = SastNetwork(ARCH, (1, 4, 5), weight_scale=4.0)
    with torch.no_grad():
        net.blocks[1].recurrent_synapse.weight.mul_(3)
    return net


def test_smooth_forward_takes_the_recurrent_input_one_step_later():
    """Surrogate mode equals the feed-forward smooth dynamics fed, at step t, with the
    layer's own smooth spikes of step t-1 through the recurrent matrix."""
    net = _net()
    b = net.blocks[1]
    x = (torch.rand(2, 20, 9) < 0.4).float()
    out = b(x)
    z = b.synapse(x) + b.bias.reshape(1, -1, 1)
    r = b._recurrent_matrix()
    keep_u, keep_v = b.neuron.decay_factors()
    s_prev = torch.zeros(2, 24)
    drive = torch.zeros_like(z)
    for t in range(9):  # unrolled: each step's recurrent input from the step before
        drive[..., t] = z[..., t] + s_prev @ r.T
        s, _ = surrogate_cuba_reference(drive[..., :t + 1], keep_u, keep_v,
                                        b.neuron.threshold, b.neuron.beta)
        s_prev = s[..., t]
    assert torch.allclose(out, s, atol=1e-6)
    assert not torch.allclose(out, surrogate_cuba_reference(
        z, keep_u, keep_v, b.neuron.threshold, b.neuron.beta)[0], atol=1e-3)
    out.sum().backward()
    assert b.recurrent_synapse.weight.grad.abs().sum() > 0


def test_hard_mode_carries_the_last_spikes_of_the_sample_before_as_lava_does():
    """NetX resets the neurons between samples but not the recurrent synapse's buffer, so
    Lava's ``RecurrentDense`` delivers the previous sample's last-step spikes at a sample's
    first step (the emulator mirrors it spike for spike).  Hard mode, what deploys, trains
    with that carry: the batch is the stream (sample 0 takes the last one's), each
    sample's last step from a pass without the carry; no state is kept between passes."""
    torch.manual_seed(3)
    net = _net()
    net.set_spike_mode("hard")
    b = net.blocks[1]
    x = (torch.rand(3, 1, 4, 5, 12) < 0.5).float()
    with torch.no_grad():
        h = net.blocks[0](x)
        out = b(h)
        alone = torch.cat([b(h[i:i + 1]) for i in range(3)])  # one sample: nothing carried
        z = b.synapse(h) + b.bias.reshape(1, -1, 1)
        z[..., 0] += torch.roll(alone[..., -1], 1, 0) @ b._recurrent_matrix().T
        want = torch.cat([b._run(z[i:i + 1]) for i in range(3)])
    assert alone[..., -1].sum() > 0 and not torch.equal(out, alone)
    assert torch.equal(out, want)
    assert torch.equal(net(x), net(x))


def test_synops_count_the_recurrent_synapses():
    net = _net()
    net.set_spike_mode("hard")
    x = (torch.rand(2, 1, 4, 5, 10) < 0.5).float()
    _, ins = net(x, return_layers=True)
    b = net.blocks[1]
    ops = layer_synops(b, ins[0])
    own = b.last_spike_counts.sum(1) * 24
    assert own.sum() > 0
    assert torch.allclose(ops, (ins[0].sum((1, 2)) * 24 + own).double())


@pytest.mark.parametrize("bits", [8, 4])
def test_export_writes_dense_rec_on_one_grid_and_lava_equals_the_emulator(tmp_path, bits):
    from netx_export.export import export_network
    net = _net(1)
    info = export_network(net, tmp_path / "r.net", weight_bits=bits)
    with h5py.File(tmp_path / "r.net") as f:
        assert f["layer/1/type"][0] == b"dense_rec"
        both = np.concatenate([f["layer/1/weight"][()].ravel(),
                               f["layer/1/weight_rec"][()].ravel()])
        assert f["layer/1/weight_rec"].shape == (24, 24)
        assert len(np.unique(both)) <= 2 ** bits - 1  # one grid for both synapses
        assert "bias" in f["layer/1"]
    assert len(info) == 2
    layer = load_int_network(tmp_path / "r.net").layers[0]
    assert layer.netx_type == "dense_rec" and layer.weight_rec.shape == (24, 24)
    x = (torch.rand(6, 20, 15) < 0.3).float()
    res = compare(str(tmp_path / "r.net"), x, timeout_s=120, show_progress=False)
    assert res["spike_mismatches"] == [0, 0] and res["spikes_per_layer"][0] > 0


@pytest.mark.parametrize("method", ["slayer", "slayer-sam", "surrogate", "sast"])
def test_every_method_trains_a_recurrent_net_that_verifies_in_lava(tmp_path, method):
    arch = tmp_path / "rec.json"
    arch.write_text(json.dumps([{"type": "dense_rec", "out": 32, "bias": True},
                                {"type": "dense", "out": 10}]))
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "lava_sast.train", "--arch", str(arch),
                        "--method", method, "--epochs", "1", "--train-samples", "120",
                        "--test-samples", "20", "--out", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    with h5py.File(out / "network_int8.net") as f:
        assert f["layer/0/type"][0] == b"dense_rec"
    v = subprocess.run([sys.executable, "-m", "netx_export.verify",
                        str(out / "network_int8.net"), "--samples", "5", "--timeout", "120"],
                       capture_output=True, text=True, timeout=300)
    assert v.returncode == 0, v.stdout[-1000:] + v.stderr[-1000:]
    assert json.loads(v.stdout)["spike_mismatches"] == [0, 0]


def test_nir_export_writes_the_recurrent_edge_and_import_reads_it(tmp_path):
    import nir

    from lava_sast.nir_graph import graph_from_model, model_from_graph
    from netx_export.nir import graph_from_netx, import_file
    net = _net(2)
    net.set_spike_mode("hard")
    graph = graph_from_model(net)
    assert ("lif1", "rec1") in graph.edges and ("rec1", "lif1") in graph.edges
    back = model_from_graph(graph)
    assert [l["type"] for l in back.arch] == ["flatten", "dense_rec", "dense"]
    x = (torch.rand(4, 1, 4, 5, 12) < 0.4).float()
    assert torch.equal(back(x), net(x)) and net(x).sum() > 0
    nir.write(tmp_path / "g.nir", graph)
    import_file(tmp_path / "g.nir", tmp_path / "imp")
    deployed = tmp_path / "imp" / "network_int8.net"
    assert load_int_network(deployed).layers[0].netx_type == "dense_rec"
    assert any(e[0].startswith("rec") for e in graph_from_netx(deployed).edges)
    res = compare(str(deployed), x.reshape(4, 20, 12), timeout_s=120, show_progress=False)
    assert not any(res["spike_mismatches"])
